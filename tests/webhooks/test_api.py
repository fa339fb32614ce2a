"""/api/v1/webhooks: CRUD, topics, the secret shown once and stored sealed, and the address
guard against server-side request forgery."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.config import Environment, Settings
from shopdb.db import Database
from shopdb.keys import field_cipher
from shopdb.models import Event, Webhook
from shopdb.webhooks import signing
from shopdb.webhooks.topics import TOPICS
from tests.auth.helpers import http_client, shared_app
from tests.fixtures.catalog import Headers, TokenFactory
from tests.fixtures.database import Backend
from tests.webhooks.conftest import WEBHOOKS, webhook_row

ADDRESS = "https://hooks.example.com/orders"


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(Webhook.id))) or 0)


def fields_of(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["details"]]


class TestCrud:
    async def test_creates_a_subscription_and_shows_its_secret_once(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        db_session: AsyncSession,
        backend: Backend,
    ) -> None:
        response = await client.post(
            WEBHOOKS,
            json={"topic": "orders/create", "address": ADDRESS, "fields": ["id", "name"]},
            headers=headers,
        )

        assert response.status_code == 201, response.text
        created = response.json()
        secret = created.pop("secret")
        assert len(secret) >= 40
        assert {k: v for k, v in created.items() if k not in ("id", "createdAt", "updatedAt")} == {
            "topic": "orders/create",
            "address": ADDRESS,
            "format": "json",
            "fields": ["id", "name"],
            "active": True,
            "consecutiveFailures": 0,
            "deactivatedAt": None,
        }
        read = await client.get(f"{WEBHOOKS}/{created['id']}", headers=headers)
        assert read.status_code == 200
        assert "secret" not in read.json()
        listed = await client.get(WEBHOOKS, headers=headers)
        assert [w["id"] for w in listed.json()["items"]] == [created["id"]]
        assert "secret" not in listed.json()["items"][0]
        # Stored sealed with the PII keys, never in the clear; the worker can unseal it.
        row = await webhook_row(db_session, created["id"])
        assert row.secret is not None
        assert secret not in row.secret
        assert signing.unseal(field_cipher(backend.settings), row.secret) == secret
        events = (
            await db_session.scalars(select(Event).where(Event.subject == f"Webhook {row.id}"))
        ).all()
        assert [e.topic for e in events] == ["webhooks/create"]
        assert secret not in str(events[0].body)

    async def test_updates_and_deletes(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        created = (
            await client.post(
                WEBHOOKS, json={"topic": "orders/create", "address": ADDRESS}, headers=headers
            )
        ).json()
        path = f"{WEBHOOKS}/{created['id']}"

        updated = await client.put(
            path,
            json={"topic": "orders/paid", "active": False, "fields": None},
            headers=headers,
        )

        assert updated.status_code == 200, updated.text
        assert (updated.json()["topic"], updated.json()["active"]) == ("orders/paid", False)
        deleted = await client.delete(path, headers=headers)
        assert deleted.status_code == 204
        assert (await client.get(path, headers=headers)).status_code == 404
        assert await count(db_session) == 0

    async def test_lists_by_topic_and_pages(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        for n, topic in enumerate(["orders/create", "orders/paid", "orders/create"]):
            response = await client.post(
                WEBHOOKS, json={"topic": topic, "address": f"{ADDRESS}/{n}"}, headers=headers
            )
            assert response.status_code == 201

        by_topic = await client.get(WEBHOOKS, params={"topic": "orders/create"}, headers=headers)
        first = await client.get(WEBHOOKS, params={"pageSize": 2}, headers=headers)
        rest = await client.get(
            WEBHOOKS, params={"pageSize": 2, "cursor": first.json()["nextCursor"]}, headers=headers
        )

        assert [w["address"] for w in by_topic.json()["items"]] == [f"{ADDRESS}/0", f"{ADDRESS}/2"]
        assert len(first.json()["items"]) == 2
        assert [w["address"] for w in rest.json()["items"]] == [f"{ADDRESS}/2"]

    async def test_lists_the_topics(self, client: httpx.AsyncClient, headers: Headers) -> None:
        response = await client.get(f"{WEBHOOKS}/topics", headers=headers)

        assert response.status_code == 200
        assert [t["topic"] for t in response.json()] == list(TOPICS)


class TestRefusals:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"topic": "orders/exploded", "address": ADDRESS}, "topic"),
            ({"topic": "orders/create", "address": ADDRESS, "format": "xml"}, "format"),
            ({"topic": "orders/create"}, "address"),
        ],
    )
    async def test_refuses_an_invalid_subscription(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        db_session: AsyncSession,
        body: dict[str, str],
        field: str,
    ) -> None:
        response = await client.post(WEBHOOKS, json=body, headers=headers)

        assert response.status_code == 400, response.text
        assert field in fields_of(response)
        assert await count(db_session) == 0

    async def test_refuses_the_same_address_twice_for_a_topic(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        body = {"topic": "orders/create", "address": ADDRESS}
        assert (await client.post(WEBHOOKS, json=body, headers=headers)).status_code == 201

        again = await client.post(WEBHOOKS, json=body, headers=headers)
        other_topic = await client.post(
            WEBHOOKS, json={**body, "topic": "orders/paid"}, headers=headers
        )

        assert again.status_code == 409
        assert again.json()["code"] == "WEBHOOK_EXISTS"
        assert other_topic.status_code == 201
        assert await count(db_session) == 2

    async def test_unknown_webhook_is_404(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        for response in (
            await client.get(f"{WEBHOOKS}/999999", headers=headers),
            await client.put(f"{WEBHOOKS}/999999", json={"active": False}, headers=headers),
            await client.delete(f"{WEBHOOKS}/999999", headers=headers),
            await client.get(f"{WEBHOOKS}/999999/deliveries", headers=headers),
        ):
            assert response.status_code == 404
            assert response.json()["code"] == "NOT_FOUND"

    async def test_reading_needs_webhooks_read_and_writing_webhooks_write(
        self, client: httpx.AsyncClient, token_for: TokenFactory, db_session: AsyncSession
    ) -> None:
        reader = token_for("webhooks:read")

        listed = await client.get(WEBHOOKS, headers=reader)
        created = await client.post(
            WEBHOOKS, json={"topic": "orders/create", "address": ADDRESS}, headers=reader
        )
        nobody = await client.get(WEBHOOKS, headers=token_for("orders:read"))

        assert (listed.status_code, created.status_code, nobody.status_code) == (200, 403, 403)
        assert await count(db_session) == 0


class TestAddressGuard:
    """Production's rule (no private addresses) on a test app; development allows them."""

    @pytest.fixture
    def strict(self, backend: Backend, database: Database) -> FastAPI:
        settings = backend.settings.model_copy(update={"webhook_allow_private": False})
        return shared_app(f"{backend.name}+strict-webhooks", settings, database)

    @pytest.mark.parametrize(
        "address",
        [
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://10.1.2.3/hook",
            "http://192.168.0.10/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/hook",
            "http://[fe80::1]/hook",
            "http://0.0.0.0/hook",
            "http://[::ffff:127.0.0.1]/hook",
        ],
    )
    async def test_refuses_private_loopback_and_link_local_addresses(
        self,
        strict: FastAPI,
        token_for: TokenFactory,
        db_session: AsyncSession,
        address: str,
    ) -> None:
        async with http_client(strict) as client:
            response = await client.post(
                WEBHOOKS,
                json={"topic": "orders/create", "address": address},
                headers=token_for("webhooks:write"),
            )

        assert response.status_code == 422, response.text
        assert response.json()["code"] == "WEBHOOK_ADDRESS_REFUSED"
        assert fields_of(response) == ["address"]
        assert await count(db_session) == 0

    @pytest.mark.parametrize(
        "address", ["ftp://hooks.example.com/x", "https://user:pw@hooks.example.com/x", "nohost"]
    )
    async def test_refuses_what_is_not_a_plain_http_url(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession, address: str
    ) -> None:
        response = await client.post(
            WEBHOOKS, json={"topic": "orders/create", "address": address}, headers=headers
        )

        assert response.status_code == 422, response.text
        assert response.json()["code"] == "WEBHOOK_ADDRESS_REFUSED"
        assert await count(db_session) == 0

    async def test_an_update_to_a_private_address_is_refused_too(
        self, strict: FastAPI, token_for: TokenFactory, db_session: AsyncSession
    ) -> None:
        writer = token_for("webhooks:write", "webhooks:read")
        async with http_client(strict) as client:
            created = await client.post(
                WEBHOOKS,
                json={"topic": "orders/create", "address": "http://93.184.215.14/hook"},
                headers=writer,
            )
            assert created.status_code == 201, created.text
            moved = await client.put(
                f"{WEBHOOKS}/{created.json()['id']}",
                json={"address": "http://127.0.0.1/hook"},
                headers=writer,
            )

        assert moved.status_code == 422
        row = await webhook_row(db_session, created.json()["id"])
        assert row.address == "http://93.184.215.14/hook"

    async def test_development_allows_a_local_receiver(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        response = await client.post(
            WEBHOOKS,
            json={"topic": "orders/create", "address": "http://127.0.0.1:9/hook"},
            headers=headers,
        )

        assert response.status_code == 201

    def test_production_refuses_to_allow_private_addresses(self) -> None:
        with pytest.raises(ValueError, match="SHOPDB_WEBHOOK_ALLOW_PRIVATE"):
            Settings(
                env="production",
                jwt_private_key_files=["/etc/shopdb/jwt.pem"],
                pii_keys=["k1:" + "A" * 43],
                pii_blind_index_key="B" * 43,
                webhook_allow_private=True,
            )
        assert (
            not Settings().model_copy(update={"env": Environment.PRODUCTION}).webhooks_allow_private
        )
        assert Settings().webhooks_allow_private


class TestTopics:
    def test_every_topic_is_recorded_somewhere(self) -> None:
        """The list promises only topics some code records as an event."""
        from pathlib import Path

        import shopdb

        root = Path(shopdb.__file__).parent
        sources = "\n".join(
            path.read_text() for path in root.rglob("*.py") if "webhooks" not in path.parts
        )
        assert [t for t in TOPICS if f'"{t}"' not in sources] == []
