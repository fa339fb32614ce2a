"""Export then import changes nothing: not the stock, not a version, not one row of history."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, InventoryAdjustment, InventoryLevel, Product
from tests.catalog.test_csv import MUG, SHIRT, csv_text, post_csv
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent


async def export(client: httpx.AsyncClient, headers: Headers, **params: Any) -> str:
    response = await client.get("/api/v1/products/export.csv", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.text


def column(text: str, name: str) -> list[str]:
    return [row[name] for row in csv.DictReader(io.StringIO(text))]


async def last_event_id(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


async def topics_after(session: AsyncSession, event_id: int) -> list[str]:
    rows = await session.scalars(select(Event.topic).where(Event.id > event_id).order_by(Event.id))
    return list(rows)


async def adjustment_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(InventoryAdjustment)) or 0)


async def stock(session: AsyncSession) -> list[tuple[int, int, int, int, int]]:
    rows = await session.execute(
        select(
            InventoryLevel.inventory_item_id,
            InventoryLevel.location_id,
            InventoryLevel.available,
            InventoryLevel.committed,
            InventoryLevel.version,
        ).order_by(InventoryLevel.inventory_item_id, InventoryLevel.location_id)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def versions(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(
        select(Product.id, Product.version).execution_options(populate_existing=True)
    )
    return {row.id: row.version for row in rows}


async def add_location(client: httpx.AsyncClient, headers: Headers, name: str) -> int:
    response = await client.post(
        "/api/v1/locations", json={"name": name, "country": "FR"}, headers=headers
    )
    assert response.status_code == 201, response.text
    location_id: int = response.json()["id"]
    return location_id


async def set_stock(
    client: httpx.AsyncClient, headers: Headers, item_id: int, location_id: int, available: int
) -> None:
    response = await client.post(
        "/api/v1/inventory-levels/set",
        json={"inventoryItemId": item_id, "locationId": location_id, "available": available},
        headers=headers,
    )
    assert response.status_code == 200, response.text


class TestReimportingAnExport:
    async def test_changes_nothing_and_counts_every_product_unchanged(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        # Given a catalog with options, tags, images, stock, a draft and an unpublished product.
        assert (await post_csv(client, admin, csv_text(*SHIRT, *MUG))).json()["created"] == 2
        boots = await make_product(
            "Boots",
            options=[{"name": "Size", "values": ["40", "41", "42"]}],
            variants=[
                {"price": "120.00", "option1": "40", "sku": "B-40", "inventoryQuantity": 3},
                {"price": "99.90", "option1": "41"},
                {"price": "99.90", "option1": "42", "barcode": "4006381333931", "weight": "1.5"},
            ],
        )
        await make_product("Scarf", status="draft", options=[], variants=[{"price": "19.90"}])
        unpublished = dict(MUG[0], Handle="unpublished-mug", Published="FALSE")
        assert (await post_csv(client, admin, csv_text(unpublished))).json()["created"] == 1
        # A variant deleted from the middle: the others are renumbered 1..n, and stay so.
        deleted = await client.delete(
            f"/api/v1/variants/{boots['variants'][1]['id']}", headers=admin
        )
        assert deleted.status_code == 204
        exported = await export(client, admin)
        etags = {
            pid: (await client.get(f"/api/v1/products/{pid}", headers=admin)).headers["ETag"]
            for pid in await versions(db_session)
        }
        versions_before = await versions(db_session)
        stock_before = await stock(db_session)
        adjustments_before = await adjustment_count(db_session)
        events_before = await last_event_id(db_session)

        # When the exact file is imported back.
        response = await post_csv(client, admin, exported)

        # Then every product is unchanged and nothing at all was written for them.
        job = response.json()
        assert (job["created"], job["updated"], job["unchanged"], job["failed"]) == (0, 0, 5, 0)
        assert (job["errors"], job["warnings"]) == ([], [])
        assert await versions(db_session) == versions_before
        for pid, etag in etags.items():
            current = await client.get(f"/api/v1/products/{pid}", headers=admin)
            assert current.headers["ETag"] == etag
        assert await stock(db_session) == stock_before
        assert await adjustment_count(db_session) == adjustments_before
        # Only the import's own record: no product, variant or inventory event.
        assert await topics_after(db_session, events_before) == ["products/import"]
        assert await export(client, admin) == exported

    async def test_a_changed_row_updates_only_its_product(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        await post_csv(client, admin, csv_text(*SHIRT, *MUG))
        exported = await export(client, admin)
        versions_before = await versions(db_session)
        events_before = await last_event_id(db_session)
        changed = exported.replace("Mug,", "Big Mug,", 1)

        response = await post_csv(client, admin, changed)

        job = response.json()
        assert (job["created"], job["updated"], job["unchanged"], job["failed"]) == (0, 1, 1, 0)
        mug = await db_session.scalar(
            select(Product).where(Product.handle == "mug").execution_options(populate_existing=True)
        )
        assert mug is not None
        assert (mug.title, mug.version) == ("Big Mug", versions_before[mug.id] + 1)
        assert await topics_after(db_session, events_before) == [
            "products/update",
            "products/import",
        ]


class TestStockRoundTripWithTwoLocations:
    async def test_export_import_export_keeps_stock_at_every_location(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        # Given 54 at the first location and 60 at a second one (114 in total).
        product = await make_product(
            "Lamp", options=[], variants=[{"price": "30.00", "inventoryQuantity": 54}]
        )
        item = product["variants"][0]["inventoryItemId"]
        shop = await add_location(client, admin, "Shop")
        await set_stock(client, admin, item, shop, 60)
        exported = await export(client, admin)
        assert column(exported, "Variant Inventory Qty") == ["54"]
        stock_before = await stock(db_session)

        imported = await post_csv(client, admin, exported)

        assert imported.json()["unchanged"] == 1
        detail = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert detail.json()["variants"][0]["inventoryQuantity"] == 114
        assert await stock(db_session) == stock_before
        assert await export(client, admin) == exported

    async def test_location_id_picks_the_column_on_both_sides(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product(
            "Lamp", options=[], variants=[{"price": "30.00", "inventoryQuantity": 54}]
        )
        item = product["variants"][0]["inventoryItemId"]
        shop = await add_location(client, admin, "Shop")
        await set_stock(client, admin, item, shop, 60)
        at_shop = await export(client, admin, locationId=shop)
        assert column(at_shop, "Variant Inventory Qty") == ["60"]

        # When the shop's count is edited and imported for the shop.
        edited = at_shop.replace(",60,", ",61,")
        response = await post_csv(client, admin, edited, locationId=shop)

        # Then only the shop's level moved.
        assert response.json()["updated"] == 1
        levels = {(row[1], row[2]) for row in await stock(db_session)}
        assert levels == {(location["id"], 54), (shop, 61)}
        detail = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert detail.json()["variants"][0]["inventoryQuantity"] == 115

    async def test_an_item_not_stocked_at_the_location_exports_an_empty_cell(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        await make_product(
            "Lamp", options=[], variants=[{"price": "30.00", "inventoryQuantity": 5}]
        )
        empty = await add_location(client, admin, "Empty")
        exported = await export(client, admin, locationId=empty)
        assert column(exported, "Variant Inventory Qty") == [""]
        stock_before = await stock(db_session)

        response = await post_csv(client, admin, exported, locationId=empty)

        assert response.json()["unchanged"] == 1
        # An empty cell connects nothing and sets nothing.
        assert await stock(db_session) == stock_before

    async def test_unknown_or_deactivated_export_location_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        unknown = await client.get(
            "/api/v1/products/export.csv", params={"locationId": 999999}, headers=admin
        )
        assert unknown.status_code == 404
        closed = await add_location(client, admin, "Closed")
        deactivated = await client.put(
            f"/api/v1/locations/{closed}", json={"active": False}, headers=admin
        )
        assert deactivated.status_code == 200
        refused = await client.get(
            "/api/v1/products/export.csv", params={"locationId": closed}, headers=admin
        )
        assert refused.status_code == 400
        assert refused.json()["details"] == [{"field": "locationId", "message": "is deactivated"}]


class TestExportCost:
    async def test_google_shopping_values_are_read_once_per_batch_not_per_product(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        backend: Backend,
    ) -> None:
        async def metafield_reads() -> int:
            with statements_sent(backend.engine) as statements:
                await export(client, admin)
            return sum("FROM metafields" in statement for statement in statements)

        await make_product("First")
        few = await metafield_reads()
        for index in range(5):
            await make_product(f"More {index}")

        assert few == await metafield_reads() == 1
