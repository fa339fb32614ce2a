from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.types import utcnow
from shopdb.models import ApiKey, Event, User
from tests.auth.helpers import bearer, make_api_key, make_user
from tests.kit.api_pages import read_all, walk_pages

KEYS = "/api/v1/api-keys"


@pytest.fixture
async def admin(db_session: AsyncSession) -> User:
    return await make_user(db_session, role="admin")


async def _count_keys(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(ApiKey.id))) or 0)


class TestCreate:
    async def test_returns_the_secret_once_and_stores_only_its_hash(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        response = await client.post(
            KEYS,
            json={"name": "warehouse sync", "scopes": ["inventory:write", "products:read"]},
            headers=bearer(app, admin),
        )

        assert response.status_code == 201
        body = response.json()
        secret = body["key"]
        assert secret.startswith(body["prefix"] + "_")
        assert body["scopes"] == ["inventory:write", "products:read"]
        assert body["userId"] == admin.id
        assert body["lastUsedAt"] is None
        assert body["revokedAt"] is None
        raw = (
            await db_session.execute(
                text("SELECT prefix, key_hash, name FROM api_keys WHERE id = :id"),
                {"id": body["id"]},
            )
        ).one()
        assert raw.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in " ".join(str(v) for v in raw)
        listed = (await client.get(KEYS, headers=bearer(app, admin))).json()
        assert "key" not in listed["items"][0]
        assert (
            secret
            not in (await client.get(f"{KEYS}/{body['id']}", headers=bearer(app, admin))).text
        )
        event = await db_session.scalar(select(Event).where(Event.topic == "api_keys/create"))
        assert event is not None
        assert event.actor == f"user:{admin.id}"
        assert secret not in str(event.body)

    async def test_the_new_key_authenticates_with_its_scopes_only(
        self, app: FastAPI, client: httpx.AsyncClient, admin: User
    ) -> None:
        created = await client.post(
            KEYS, json={"name": "admin bot", "scopes": ["users:admin"]}, headers=bearer(app, admin)
        )
        headers = {"X-API-Key": created.json()["key"]}

        allowed = await client.get("/api/v1/permissions", headers=headers)
        refused = await client.get("/api/v1/customers", headers=headers)

        assert allowed.status_code == 200
        assert refused.status_code == 403

    async def test_refuses_scopes_beyond_the_creators_permissions(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        creator = await make_user(db_session, permissions=["users:admin", "orders:read"])
        before = await _count_keys(db_session)

        response = await client.post(
            KEYS,
            json={"name": "escalation", "scopes": ["orders:read", "orders:write"]},
            headers=bearer(app, creator),
        )

        assert response.status_code == 400
        assert response.json()["details"] == [
            {
                "field": "scopes",
                "message": "you can only delegate permissions you hold; not held: orders:write",
            }
        ]
        assert await _count_keys(db_session) == before

    async def test_a_key_cannot_mint_a_wider_key(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        _key, secret = await make_api_key(db_session, admin, ["users:admin"])

        response = await client.post(
            KEYS, json={"name": "wider", "scopes": ["orders:write"]}, headers={"X-API-Key": secret}
        )

        assert response.status_code == 400

    async def test_refuses_invalid_requests(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        cases: dict[str, tuple[dict[str, object], str]] = {
            "unknown scope": ({"name": "x", "scopes": ["orders:fly"]}, "scopes"),
            "no scope": ({"name": "x", "scopes": []}, "scopes"),
            "blank name": ({"name": "", "scopes": ["orders:read"]}, "name"),
            "past expiry": (
                {"name": "x", "scopes": ["orders:read"], "expiresAt": "2001-01-01T00:00:00Z"},
                "expiresAt",
            ),
            "naive expiry": (
                {"name": "x", "scopes": ["orders:read"], "expiresAt": "2999-01-01T00:00:00"},
                "expiresAt",
            ),
            "extra field": ({"name": "x", "scopes": ["orders:read"], "secret": "mine"}, "secret"),
        }
        before = await _count_keys(db_session)

        answers = {}
        for case, (body, _field) in cases.items():
            response = await client.post(KEYS, json=body, headers=bearer(app, admin))
            answers[case] = (response.status_code, [d["field"] for d in response.json()["details"]])

        assert answers == {case: (400, [field]) for case, (_body, field) in cases.items()}
        assert await _count_keys(db_session) == before

    async def test_needs_users_admin(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        staff = await make_user(db_session, permissions=["orders:read"])

        response = await client.post(
            KEYS, json={"name": "x", "scopes": ["orders:read"]}, headers=bearer(app, staff)
        )

        assert response.status_code == 403
        assert await _count_keys(db_session) == 0


class TestList:
    async def test_cursor_pages_walk_every_live_key(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        live = [(await make_api_key(db_session, admin, ["orders:read"]))[0] for _ in range(5)]
        await make_api_key(db_session, admin, ["orders:read"], revoked_at=utcnow())

        walked = await walk_pages(client, KEYS, bearer(app, admin))

        assert [k["id"] for k in walked] == [k.id for k in live]

    async def test_lists_keys_without_secrets_and_hides_revoked_ones_by_default(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        live, _ = await make_api_key(db_session, admin, ["orders:read"])
        revoked, _ = await make_api_key(db_session, admin, ["orders:read"], revoked_at=utcnow())

        default = (await client.get(KEYS, headers=bearer(app, admin))).json()
        everything = (
            await client.get(KEYS, params={"includeRevoked": "true"}, headers=bearer(app, admin))
        ).json()

        assert [k["id"] for k in default["items"]] == [live.id]
        assert default["totalCount"] is None
        assert (await read_all(client, KEYS, bearer(app, admin)))["totalCount"] == 1
        assert [k["id"] for k in everything["items"]] == [live.id, revoked.id]
        assert set(default["items"][0]) == {
            "id",
            "userId",
            "name",
            "prefix",
            "scopes",
            "expiresAt",
            "lastUsedAt",
            "revokedAt",
            "createdAt",
        }

    async def test_shows_when_a_key_was_last_used(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        key, secret = await make_api_key(db_session, admin, ["users:admin"])
        before = utcnow()

        await client.get("/api/v1/permissions", headers={"X-API-Key": secret})
        shown = (await client.get(f"{KEYS}/{key.id}", headers=bearer(app, admin))).json()

        assert shown["lastUsedAt"] is not None
        from datetime import datetime

        assert datetime.fromisoformat(shown["lastUsedAt"]) >= before - timedelta(seconds=1)

    async def test_filters_by_owner(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        other = await make_user(db_session, permissions=["orders:read"])
        await make_api_key(db_session, admin, ["orders:read"])
        theirs, _ = await make_api_key(db_session, other, ["orders:read"])

        listed = await client.get(KEYS, params={"userId": other.id}, headers=bearer(app, admin))

        assert [k["id"] for k in listed.json()["items"]] == [theirs.id]


class TestRevoke:
    async def test_a_revoked_key_is_refused_from_then_on(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        key, secret = await make_api_key(db_session, admin, ["users:admin"])
        assert (await client.get(KEYS, headers={"X-API-Key": secret})).status_code == 200

        response = await client.delete(f"{KEYS}/{key.id}", headers=bearer(app, admin))

        assert response.status_code == 204
        refused = await client.get(KEYS, headers={"X-API-Key": secret})
        assert refused.status_code == 401
        assert refused.json()["message"] == "API key revoked"
        await db_session.refresh(key)
        assert key.revoked_at is not None

    async def test_revoking_twice_keeps_the_first_time(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        first = utcnow() - timedelta(days=1)
        key, _ = await make_api_key(db_session, admin, ["orders:read"], revoked_at=first)

        response = await client.delete(f"{KEYS}/{key.id}", headers=bearer(app, admin))

        assert response.status_code == 204
        await db_session.refresh(key)
        assert key.revoked_at == first

    async def test_unknown_key(self, app: FastAPI, client: httpx.AsyncClient, admin: User) -> None:
        response = await client.delete(f"{KEYS}/999999", headers=bearer(app, admin))

        assert response.status_code == 404


class TestRefusedKeys:
    async def test_an_expired_key(
        self, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        _key, secret = await make_api_key(
            db_session, admin, ["users:admin"], expires_at=utcnow() - timedelta(seconds=1)
        )

        response = await client.get(KEYS, headers={"X-API-Key": secret})

        assert response.status_code == 401
        assert response.json()["message"] == "API key expired"

    async def test_a_key_before_its_expiry(
        self, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        _key, secret = await make_api_key(
            db_session, admin, ["users:admin"], expires_at=utcnow() + timedelta(hours=1)
        )

        assert (await client.get(KEYS, headers={"X-API-Key": secret})).status_code == 200

    async def test_unknown_or_malformed_keys(self, client: httpx.AsyncClient) -> None:
        presented = ["", "garbage", "shpk_", "shpk_0123456789ab_notthesecret", "shpk_zz" + "x" * 60]

        answers = {
            key: (await client.get(KEYS, headers={"X-API-Key": key})).status_code
            for key in presented
        }

        assert answers == dict.fromkeys(presented, 401)

    async def test_a_real_prefix_with_a_wrong_secret(
        self, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        _key, secret = await make_api_key(db_session, admin, ["users:admin"])
        tampered = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")

        assert (await client.get(KEYS, headers={"X-API-Key": tampered})).status_code == 401

    async def test_a_key_of_a_deactivated_owner(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        owner = await make_user(db_session, role="admin", active=False)
        _key, secret = await make_api_key(db_session, owner, ["users:admin"])

        assert (await client.get(KEYS, headers={"X-API-Key": secret})).status_code == 401

    async def test_a_key_loses_what_its_owner_loses(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession, admin: User
    ) -> None:
        owner = await make_user(db_session, permissions=["users:admin"])
        _key, secret = await make_api_key(db_session, owner, ["users:admin"])
        assert (await client.get(KEYS, headers={"X-API-Key": secret})).status_code == 200

        await client.delete(
            f"/api/v1/users/{owner.id}/permissions/users:admin", headers=bearer(app, admin)
        )

        assert (await client.get(KEYS, headers={"X-API-Key": secret})).status_code == 403
