"""Stored product documents (read_model/stored.py), against a PostgreSQL that commits, with
no cache: a read stores what it built, the next reads serve it, and every kind of change
makes the next read build it again, never a stale one, whatever the interleaving.

PostgreSQL only: SQLite builds documents in Python and stores none.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shopdb.app import create_app
from shopdb.catalog.read_model import stored
from shopdb.db import Database
from shopdb.models import ProductDocument, ProductVariant
from shopdb.services import Services
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import ADJUST, committed_admin, live_client
from tests.orders.helpers import make_locations, make_variant, order_body, place


@dataclass(frozen=True)
class Store:
    services: Services
    client: httpx.AsyncClient
    headers: Headers
    database: Database


@pytest.fixture
def committing_database(backend: Backend, request: pytest.FixtureRequest) -> Database:
    """PostgreSQL's committing database (module-scoped, set up outside the test's loop)."""
    if backend.name != "postgresql":
        pytest.skip("documents are stored on PostgreSQL only")
    database: Database = request.getfixturevalue("live_postgres")
    return database


@pytest.fixture
async def store(backend: Backend, committing_database: Database) -> AsyncIterator[Store]:
    """An app whose requests commit, without Redis, stock adjustments batched (PostgreSQL)."""
    database = committing_database
    application = create_app(backend.settings)
    services = use_services(application, database)
    await services.start()
    headers, _ = await committed_admin(application)
    try:
        async with live_client(application) as client:
            # The caller's standing, read once: a request that reads it first has begun a
            # transaction by the time it reads a product, and such a read stores nothing.
            warm = await client.get("/api/v1/locations", headers=headers)
            assert warm.status_code == 200, warm.text
            yield Store(services, client, headers, database)
    finally:
        await services.aclose(settle_seconds=0)


async def stored_row(database: Database, product_id: int) -> ProductDocument | None:
    async with database.session() as session:
        found: ProductDocument | None = await session.get(ProductDocument, product_id)
        return found


def is_current(row: ProductDocument | None) -> bool:
    return row is not None and row.document is not None and row.built_stamp == row.stamp


async def read(store: Store, product_id: int) -> dict[str, Any]:
    answer = await store.client.get(f"/api/v1/products/{product_id}", headers=store.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def create_product(store: Store) -> dict[str, Any]:
    created = await store.client.post(
        "/api/v1/products",
        json={
            "title": f"Stored Tee {uuid.uuid4().hex[:6]}",
            "options": [{"name": "Size", "values": ["S", "M"]}],
            "variants": [
                {"price": "10.00", "option1": "S", "sku": f"ST-S-{uuid.uuid4().hex[:6]}"},
                {"price": "12.00", "option1": "M", "sku": f"ST-M-{uuid.uuid4().hex[:6]}"},
            ],
        },
        headers=store.headers,
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def tamper(database: Database, product_id: int) -> None:
    """Make the stored document recognisable, keeping it current."""
    async with database.session() as session:
        await session.execute(
            text("UPDATE product_documents SET document = :doc WHERE product_id = :id"),
            {"doc": orjson.dumps({"stored": True}).decode(), "id": product_id},
        )


class TestReads:
    async def test_a_read_stores_the_document_and_the_next_reads_serve_it(
        self, store: Store
    ) -> None:
        product = await create_product(store)
        first = await read(store, product["id"])
        row = await stored_row(store.database, product["id"])
        assert is_current(row)
        assert row is not None
        assert row.document is not None
        assert orjson.loads(row.document) == first
        etag = (
            await store.client.get(f"/api/v1/products/{product['id']}", headers=store.headers)
        ).headers["ETag"]
        assert row.version == int(etag.strip('"'))

        await tamper(store.database, product["id"])
        assert await read(store, product["id"]) == {"stored": True}

    async def test_a_stored_document_is_kept_uncompressed(self, store: Store) -> None:
        """Read back as it is (migration 0035): PostgreSQL compresses values past ~2 kB, and a
        list page decompressed every document it served."""
        product = await create_product(store)
        await read(store, product["id"])
        async with store.database.session() as session:
            size, compression = (
                await session.execute(
                    text(
                        "SELECT octet_length(document), pg_column_compression(document)"
                        " FROM product_documents WHERE product_id = :id"
                    ),
                    {"id": product["id"]},
                )
            ).one()
        assert compression is None
        # Long enough for PostgreSQL's default (a 2 kB row) to have compressed it.
        long_document = "x" * 4000
        async with store.database.session() as session:
            await session.execute(
                text("UPDATE product_documents SET document = :doc WHERE product_id = :id"),
                {"doc": long_document, "id": product["id"]},
            )
        async with store.database.session() as session:
            kept = await session.scalar(
                text(
                    "SELECT pg_column_compression(document) FROM product_documents"
                    " WHERE product_id = :id"
                ),
                {"id": product["id"]},
            )
        assert (size > 0, kept) == (True, None)

    async def test_a_list_page_stores_and_serves_its_documents(self, store: Store) -> None:
        product = await create_product(store)
        path = f"/api/v1/products?q={product['title'].split()[-1]}"
        page = await store.client.get(path, headers=store.headers)
        assert page.status_code == 200, page.text
        assert [p["id"] for p in page.json()["items"]] == [product["id"]]
        assert is_current(await stored_row(store.database, product["id"]))

        await tamper(store.database, product["id"])
        again = await store.client.get(path, headers=store.headers)
        assert again.json()["items"] == [{"stored": True}]

    async def test_a_deleted_product_is_not_found_whatever_is_stored(self, store: Store) -> None:
        product = await create_product(store)
        await read(store, product["id"])
        deleted = await store.client.delete(
            f"/api/v1/products/{product['id']}", headers=store.headers
        )
        assert deleted.status_code == 204, deleted.text
        answer = await store.client.get(f"/api/v1/products/{product['id']}", headers=store.headers)
        assert answer.status_code == 404


class TestChanges:
    """Each kind of change: the stored document stops being current at its commit, and the
    next read builds (and stores) the changed one."""

    async def read_stored(self, store: Store, product_id: int) -> dict[str, Any]:
        body = await read(store, product_id)
        assert is_current(await stored_row(store.database, product_id))
        return body

    async def check_rebuilt(self, store: Store, product_id: int, before: dict[str, Any]) -> None:
        row = await stored_row(store.database, product_id)
        assert row is not None
        assert not is_current(row)
        after = await read(store, product_id)
        assert after != before
        assert is_current(await stored_row(store.database, product_id))

    async def test_a_product_update(self, store: Store) -> None:
        product = await create_product(store)
        before = await self.read_stored(store, product["id"])
        await tamper(store.database, product["id"])
        changed = await store.client.put(
            f"/api/v1/products/{product['id']}",
            json={"title": "Renamed"},
            headers=store.headers,
        )
        assert changed.status_code == 200, changed.text
        await self.check_rebuilt(store, product["id"], before)
        assert (await read(store, product["id"]))["title"] == "Renamed"

    async def test_a_variant_update(self, store: Store) -> None:
        product = await create_product(store)
        before = await self.read_stored(store, product["id"])
        variant = before["variants"][0]
        changed = await store.client.put(
            f"/api/v1/variants/{variant['id']}",
            json={"price": "99.00"},
            headers=store.headers,
        )
        assert changed.status_code == 200, changed.text
        await self.check_rebuilt(store, product["id"], before)
        prices = [v["price"] for v in (await read(store, product["id"]))["variants"]]
        assert "99.00" in prices

    async def test_a_batched_stock_adjustment(self, store: Store) -> None:
        assert store.services.adjustments is not None  # the self-committing path
        [location] = await make_locations(store.database, "Stored")
        stocked = await make_variant(store.database, "5.00", {location: 3})
        product_id = await product_of(store.database, stocked.variant_id)
        before = await self.read_stored(store, product_id)
        adjusted = await store.client.post(
            ADJUST,
            json={
                "inventoryItemId": stocked.item_id,
                "locationId": location,
                "availableAdjustment": 4,
            },
            headers=store.headers,
        )
        assert adjusted.status_code == 200, adjusted.text
        await self.check_rebuilt(store, product_id, before)
        assert (await read(store, product_id))["variants"][0]["inventoryQuantity"] == 7

    async def test_an_order_placed(self, store: Store) -> None:
        [location] = await make_locations(store.database, "Stored")
        stocked = await make_variant(store.database, "5.00", {location: 3})
        product_id = await product_of(store.database, stocked.variant_id)
        before = await self.read_stored(store, product_id)
        placed = await place(store.client, store.headers, order_body((stocked.variant_id, 2)))
        assert placed.status_code == 201, placed.text
        await self.check_rebuilt(store, product_id, before)
        assert (await read(store, product_id))["variants"][0]["inventoryQuantity"] == 1

    async def test_a_rolled_back_change_leaves_the_document_current(self, store: Store) -> None:
        product = await create_product(store)
        await read(store, product["id"])
        stale = await store.client.put(
            f"/api/v1/products/{product['id']}",
            json={"title": "Never"},
            headers=store.headers | {"If-Match": '"999"'},
        )
        assert stale.status_code == 412, stale.text
        assert is_current(await stored_row(store.database, product["id"]))


async def product_of(database: Database, variant_id: int) -> int:
    async with database.session() as session:
        found = await session.scalar(
            select(ProductVariant.product_id).where(ProductVariant.id == variant_id)
        )
        assert found is not None
        return found


class TestInterleavings:
    """A reader whose snapshot predates a writer's commit never stores its document as
    current: the store compares the stamp it read with the row's."""

    async def built_at_old_snapshot(
        self, snapshot: AsyncConnection, product_id: int
    ) -> tuple[int, int, str]:
        row = (
            await snapshot.execute(stored.stored_or_built_statement(), {"ids": [product_id]})
        ).one()
        _, version, stamp, current, built = row
        return stamp, version, built if current is None else current

    async def store_it(
        self, database: Database, product_id: int, stamp: int, version: int, document: str
    ) -> None:
        async with database.primary.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(
                stored.STORE,
                {
                    "ids": [product_id],
                    "stamps": [stamp],
                    "versions": [version],
                    "documents": [document],
                },
            )

    async def change_price(self, store: Store, product_id: int, price: str) -> None:
        body = await read(store, product_id)
        variant = body["variants"][0]
        changed = await store.client.put(
            f"/api/v1/variants/{variant['id']}",
            json={"price": price},
            headers=store.headers,
        )
        assert changed.status_code == 200, changed.text

    async def test_a_writer_committed_after_the_readers_snapshot(self, store: Store) -> None:
        product = await create_product(store)
        await read(store, product["id"])
        await self.change_price(store, product["id"], "20.00")  # stored copy now not current
        async with store.database.primary.connect() as snapshot:
            await snapshot.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            stamp, version, old = await self.built_at_old_snapshot(snapshot, product["id"])
            await self.change_price(store, product["id"], "30.00")  # commits after the snapshot
            await self.store_it(store.database, product["id"], stamp, version, old)
            await snapshot.rollback()
        assert not is_current(await stored_row(store.database, product["id"]))
        assert (await read(store, product["id"]))["variants"][0]["price"] == "30.00"

    async def test_a_writer_committing_while_the_reader_stores(self, store: Store) -> None:
        product = await create_product(store)
        await self.change_price(store, product["id"], "20.00")
        async with store.database.primary.connect() as reader:
            autocommit = await reader.execution_options(isolation_level="AUTOCOMMIT")
            stamp, version, old = await self.built_at_old_snapshot(autocommit, product["id"])
        # A writer between its bump and its commit holds the row: the store waits for it,
        # then sees the stamp moved and keeps nothing.
        async with store.database.session() as writer:
            await writer.execute(
                text("UPDATE product_variants SET price = 40 WHERE product_id = :id"),
                {"id": product["id"]},
            )
            await writer.execute(stored.BUMP, {"ids": [product["id"]]})
            storing = asyncio.create_task(
                self.store_it(store.database, product["id"], stamp, version, old)
            )
            await asyncio.sleep(0.3)
            assert not storing.done()  # waiting for the writer's row lock
        await asyncio.wait_for(storing, 5)
        assert not is_current(await stored_row(store.database, product["id"]))
        assert (await read(store, product["id"]))["variants"][0]["price"] == "40.00"

    async def test_concurrent_reads_and_writes_end_current(self, store: Store) -> None:
        """Many readers and a writer at once: whatever was stored, the last read shows the
        last write."""
        product = await create_product(store)

        async def reads() -> None:
            for _ in range(10):
                await read(store, product["id"])

        async def writes() -> None:
            for cents in range(10, 16):
                await self.change_price(store, product["id"], f"{cents}.00")

        await asyncio.gather(reads(), reads(), reads(), writes())
        final = await read(store, product["id"])
        assert final["variants"][0]["price"] == "15.00"
        await read(store, product["id"])
        row = await stored_row(store.database, product["id"])
        assert is_current(row)
        assert row is not None
        assert row.document is not None
        assert orjson.loads(row.document)["variants"][0]["price"] == "15.00"
