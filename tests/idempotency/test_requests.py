"""Idempotency-Key on the POSTs that create or move stock (shopdb.idempotency), one request
at a time, on SQLite and PostgreSQL: a retry replays the first successful answer without
doing the work again; another request with the key is 422; a failure leaves the key free;
an expired key is new; requests without the header are served as before.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.idempotency import service as idempotency
from shopdb.idempotency.rules import check_key, fingerprint
from shopdb.kit.types import utcnow
from shopdb.models import Event, IdempotencyKey, Product
from tests.auth.helpers import bearer, make_user
from tests.catalog.test_csv import SHIRT, csv_text
from tests.fixtures.catalog import Headers, ProductFactory, product_body
from tests.idempotency.helpers import (
    ADJUST,
    PRODUCTS,
    SET,
    adjustment,
    available,
    keyed,
    level_events,
    log_rows,
    stored_keys,
)
from tests.inventory.helpers import stocked


class TestTheKey:
    @pytest.mark.parametrize(
        ("key", "message"),
        [
            ("", "at least 1 character"),
            ("k" * 256, "at most 255 characters"),
            ("caf\xe9", "should match pattern"),
        ],
    )
    async def test_a_malformed_key_is_400_naming_the_header_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
        key: str,
        message: str,
    ) -> None:
        variant = await stocked(make_product, 10)
        # As bytes: httpx would refuse a non-ASCII str; the server decodes headers as latin-1.
        headers = [(k.encode(), v.encode()) for k, v in admin.items()]
        headers.append((b"Idempotency-Key", key.encode("latin-1")))
        response = await client.post(
            ADJUST, json=adjustment(variant, location, -1), headers=headers
        )

        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert body["details"][0]["field"] == "Idempotency-Key"
        assert message in body["details"][0]["message"]
        assert await available(db_session, variant["inventoryItemId"], location["id"]) == 10

    def test_the_rules_accept_printable_ascii_up_to_255(self) -> None:
        assert check_key("k" * 255) == "k" * 255
        assert check_key("order 42 / retry #1 ~") == "order 42 / retry #1 ~"

    def test_the_fingerprint_covers_method_path_query_and_body(self) -> None:
        base = fingerprint("POST", "/a", b"", [b"{}"])
        assert base == fingerprint("post", "/a", b"", [b"{}"])
        assert base != fingerprint("PUT", "/a", b"", [b"{}"])
        assert base != fingerprint("POST", "/b", b"", [b"{}"])
        assert base != fingerprint("POST", "/a", b"x=1", [b"{}"])
        assert base != fingerprint("POST", "/a", b"", [b"{ }"])
        # Length-prefixed parts: moving bytes from one part to the next changes the hash.
        assert fingerprint("POST", "/a", b"b", [b""]) != fingerprint("POST", "/ab", b"", [b""])


IDEMPOTENT_ROUTES = [("post", ADJUST), ("post", SET), ("post", PRODUCTS)]


@pytest.mark.parametrize(("method", "path"), IDEMPOTENT_ROUTES)
def test_the_routes_that_move_stock_or_create_take_the_header(
    app: FastAPI, method: str, path: str
) -> None:
    parameters = app.openapi()["paths"][path][method].get("parameters", [])
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert header["required"] is False


class TestReplay:
    async def test_a_retried_adjustment_is_replayed_not_applied_again(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        item = variant["inventoryItemId"]
        body = adjustment(variant, location, -4)

        first = await client.post(ADJUST, json=body, headers=keyed(admin, "adjust-1"))
        again = await client.post(ADJUST, json=body, headers=keyed(admin, "adjust-1"))

        assert first.status_code == 200, first.text
        assert "Idempotent-Replayed" not in first.headers
        assert again.status_code == 200
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == first.content
        assert again.headers["content-type"] == first.headers["content-type"]
        assert json.loads(again.content)["available"] == 6
        assert await available(db_session, item, location["id"]) == 6
        assert await log_rows(db_session, item) == [(10, "received"), (-4, "damaged")]
        assert await level_events(db_session, item) == 1

    async def test_a_replay_answers_as_the_first_time_even_after_other_changes(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        item = variant["inventoryItemId"]
        body = {"inventoryItemId": item, "locationId": location["id"], "available": 5}

        first = await client.post(SET, json=body, headers=keyed(admin, "set-1"))
        moved = await client.post(ADJUST, json=adjustment(variant, location, +2), headers=admin)
        again = await client.post(SET, json=body, headers=keyed(admin, "set-1"))

        assert first.status_code == 200, first.text
        assert moved.status_code == 200, moved.text
        assert again.status_code == 200
        assert again.content == first.content  # the stored answer: available 5
        assert json.loads(again.content)["available"] == 5
        assert await available(db_session, item, location["id"]) == 7  # not set back to 5
        assert await log_rows(db_session, item) == [
            (10, "received"),
            (-5, "correction"),
            (2, "damaged"),
        ]

    async def test_a_retried_product_create_is_replayed_with_its_etag_and_location(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        body = product_body("Idempotent Tee")

        first = await client.post(PRODUCTS, json=body, headers=keyed(admin, "create-1"))
        again = await client.post(PRODUCTS, json=body, headers=keyed(admin, "create-1"))

        assert first.status_code == 201, first.text
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == first.content
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["Location"] == first.headers["Location"]
        products = await db_session.scalar(
            select(func.count()).select_from(Product).where(Product.title == "Idempotent Tee")
        )
        created = await db_session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.topic == "products/create", Event.subject_id == first.json()["id"])
        )
        assert (products, created) == (1, 1)

    async def test_a_retried_csv_import_is_replayed_with_the_same_job(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        """Multipart: a client picks a new boundary on each retry; the file is what counts."""
        text = csv_text(*SHIRT)

        def upload() -> dict[str, Any]:
            return {"file": ("products.csv", text.encode(), "text/csv")}

        first = await client.post(
            "/api/v1/products/import", files=upload(), headers=keyed(admin, "import-1")
        )
        again = await client.post(
            "/api/v1/products/import", files=upload(), headers=keyed(admin, "import-1")
        )

        assert first.status_code == 200, first.text
        assert first.json()["created"] == 1
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == first.content
        imports = await db_session.scalar(
            select(func.count()).select_from(Event).where(Event.topic == "products/import")
        )
        assert imports == 1

    async def test_requests_without_the_header_store_nothing_and_repeat_the_work(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        body = adjustment(variant, location, -1)
        before = await db_session.scalar(select(func.count()).select_from(IdempotencyKey))

        for _ in range(2):
            response = await client.post(ADJUST, json=body, headers=admin)
            assert response.status_code == 200, response.text
            assert "Idempotent-Replayed" not in response.headers

        assert await available(db_session, variant["inventoryItemId"], location["id"]) == 8
        after = await db_session.scalar(select(func.count()).select_from(IdempotencyKey))
        assert after == before


class TestReuse:
    async def test_the_same_key_with_another_body_is_422_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        item = variant["inventoryItemId"]
        first = await client.post(
            ADJUST, json=adjustment(variant, location, -1), headers=keyed(admin, "reuse")
        )
        assert first.status_code == 200, first.text

        other = await client.post(
            ADJUST, json=adjustment(variant, location, -2), headers=keyed(admin, "reuse")
        )
        elsewhere = await client.post(
            SET,
            json={"inventoryItemId": item, "locationId": location["id"], "available": 1},
            headers=keyed(admin, "reuse"),
        )

        for refused in (other, elsewhere):
            assert refused.status_code == 422, refused.text
            assert refused.json() == {
                "code": "IDEMPOTENCY_KEY_REUSED",
                "message": "This Idempotency-Key was used for a different request; use a new key",
                "details": [
                    {
                        "field": "Idempotency-Key",
                        "message": "already used with another method, path, query or body",
                    }
                ],
            }
        assert await available(db_session, item, location["id"]) == 9
        assert await log_rows(db_session, item) == [(10, "received"), (-1, "damaged")]

    async def test_different_callers_use_the_same_key_independently(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        other = bearer(app, await make_user(db_session, role="admin"))

        mine = await client.post(
            ADJUST, json=adjustment(variant, location, -1), headers=keyed(admin, "shared")
        )
        theirs = await client.post(
            ADJUST, json=adjustment(variant, location, -2), headers=keyed(other, "shared")
        )

        assert mine.status_code == theirs.status_code == 200
        assert "Idempotent-Replayed" not in theirs.headers
        assert json.loads(theirs.content)["available"] == 7
        assert [s for _, s in await stored_keys(db_session, "shared")] == [200, 200]


class TestFailures:
    async def test_a_refused_first_request_leaves_the_key_free_for_its_retry(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 2)
        item = variant["inventoryItemId"]
        take = adjustment(variant, location, -5)

        refused = await client.post(ADJUST, json=take, headers=keyed(admin, "take-5"))
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "INSUFFICIENT_INVENTORY"
        assert await stored_keys(db_session, "take-5") == []

        restock = await client.post(ADJUST, json=adjustment(variant, location, +10), headers=admin)
        assert restock.status_code == 200, restock.text
        retried = await client.post(ADJUST, json=take, headers=keyed(admin, "take-5"))

        assert retried.status_code == 200, retried.text
        assert "Idempotent-Replayed" not in retried.headers
        assert json.loads(retried.content)["available"] == 7
        assert await log_rows(db_session, item) == [
            (2, "received"),
            (10, "damaged"),
            (-5, "damaged"),
        ]

    async def test_an_invalid_first_body_leaves_the_key_free(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        invalid = await client.post(
            PRODUCTS, json=product_body("", variants=[]), headers=keyed(admin, "create-2")
        )
        assert invalid.status_code == 400, invalid.text

        created = await client.post(
            PRODUCTS, json=product_body("Second Try"), headers=keyed(admin, "create-2")
        )
        assert created.status_code == 201, created.text
        assert "Idempotent-Replayed" not in created.headers

    async def test_a_committed_key_without_a_response_does_not_block(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
        staff_user: Any,
    ) -> None:
        # Never written by this design (claim and response commit together): debris, say
        # from a crash of some older version, must not hold the key for 24 hours.
        variant = await stocked(make_product, 10)
        now = utcnow()
        await db_session.execute(
            insert(IdempotencyKey).values(
                principal=f"user:{staff_user.id}",
                key="debris",
                method="POST",
                path=ADJUST,
                request_hash="0" * 64,
                created_at=now,
                expires_at=now + timedelta(hours=24),
            )
        )
        response = await client.post(
            ADJUST, json=adjustment(variant, location, -1), headers=keyed(admin, "debris")
        )
        assert response.status_code == 200, response.text
        assert await stored_keys(db_session, "debris") == [(f"user:{staff_user.id}", 200)]


class TestExpiry:
    async def test_an_expired_key_is_a_new_key(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        item = variant["inventoryItemId"]
        first = await client.post(
            ADJUST, json=adjustment(variant, location, -1), headers=keyed(admin, "old")
        )
        assert first.status_code == 200, first.text
        expires_at = await db_session.scalar(
            select(IdempotencyKey.expires_at).where(IdempotencyKey.key == "old")
        )
        assert expires_at is not None
        assert timedelta(hours=23, minutes=59) < expires_at - utcnow() <= timedelta(hours=24)

        await db_session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == "old")
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        # Another body would be 422 within the 24 hours; past them the key starts afresh.
        renewed = await client.post(
            ADJUST, json=adjustment(variant, location, -3), headers=keyed(admin, "old")
        )
        replayed = await client.post(
            ADJUST, json=adjustment(variant, location, -3), headers=keyed(admin, "old")
        )

        assert renewed.status_code == 200, renewed.text
        assert "Idempotent-Replayed" not in renewed.headers
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert json.loads(replayed.content)["available"] == 6
        assert await available(db_session, item, location["id"]) == 6

    async def test_purge_deletes_only_expired_keys(self, db_session: AsyncSession) -> None:
        now = utcnow()
        for key, expires in (("gone", now - timedelta(seconds=1)), ("kept", now + timedelta(1))):
            await db_session.execute(
                insert(IdempotencyKey).values(
                    principal="user:purge",
                    key=key,
                    method="POST",
                    path=ADJUST,
                    request_hash="0" * 64,
                    response_status=200,
                    created_at=now,
                    expires_at=expires,
                )
            )
        assert await idempotency.purge_expired(db_session) >= 1
        left = await db_session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.principal == "user:purge")
        )
        assert left.all() == ["kept"]
