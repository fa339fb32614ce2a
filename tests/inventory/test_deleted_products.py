"""A soft-deleted product's inventory items are gone: not read, not listed, not changed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.inventory import service
from shopdb.inventory.batching import SelfCommittingAdjustments, commit_adjustment_now
from shopdb.inventory.errors import InventoryItemNotFound
from shopdb.kit.types import utcnow
from shopdb.models import InventoryItem, Product, ProductVariant
from tests.fixtures.catalog import Headers, ProductFactory
from tests.inventory.helpers import levels_of, make_items, stocked, variant_quantity

LEVELS = "/api/v1/inventory-levels"
ITEM_NOT_FOUND = {"field": "inventoryItemId", "message": "does not exist"}


@pytest.fixture
async def deleted(
    client: httpx.AsyncClient,
    admin: Headers,
    location: dict[str, Any],
    make_product: ProductFactory,
) -> dict[str, Any]:
    """A variant stocked 5 at `location`, whose product was then deleted (soft)."""
    product = await make_product(
        options=[], variants=[{"price": "1", "sku": "GONE", "inventoryQuantity": 5}]
    )
    response = await client.delete(f"/api/v1/products/{product['id']}", headers=admin)
    assert response.status_code == 204, response.text
    variant: dict[str, Any] = product["variants"][0]
    return variant


async def unchanged(session: AsyncSession, variant: dict[str, Any], location_id: int) -> None:
    assert await levels_of(session, variant["inventoryItemId"]) == {location_id: (5, 0)}
    assert await variant_quantity(session, variant["id"]) == 5


class TestReads:
    async def test_the_item_is_not_found(
        self, client: httpx.AsyncClient, admin: Headers, deleted: dict[str, Any]
    ) -> None:
        item = deleted["inventoryItemId"]

        read = await client.get(f"/api/v1/inventory-items/{item}", headers=admin)
        changed = await client.put(
            f"/api/v1/inventory-items/{item}", json={"cost": "1.00"}, headers=admin
        )

        assert (read.status_code, read.json()["code"]) == (404, "NOT_FOUND")
        assert read.json()["details"] == [{"field": "id", "message": "does not exist"}]
        assert changed.status_code == 404

    async def test_its_levels_are_not_listed(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        deleted: dict[str, Any],
    ) -> None:
        live = await stocked(make_product, 3)
        ids = f"{deleted['inventoryItemId']},{live['inventoryItemId']}"

        by_item = await client.get(
            LEVELS, params={"inventoryItemIds": ids, "withTotal": "true"}, headers=admin
        )
        by_location = await client.get(
            f"/api/v1/locations/{location['id']}/inventory-levels",
            params={"withTotal": "true"},
            headers=admin,
        )

        for response in (by_item, by_location):
            assert response.status_code == 200, response.text
            assert response.json()["totalCount"] == 1
            assert [lv["inventoryItemId"] for lv in response.json()["items"]] == [
                live["inventoryItemId"]
            ]


class TestChanges:
    @pytest.mark.parametrize(
        ("path", "extra"),
        [
            ("adjust", {"availableAdjustment": 1}),
            ("adjust", {"availableAdjustment": -1}),
            ("set", {"available": 9}),
            ("set", {"available": 5}),  # the value it holds: still not found
            ("connect", {}),
            ("disconnect", {}),
        ],
    )
    async def test_are_404_and_change_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        deleted: dict[str, Any],
        db_session: AsyncSession,
        path: str,
        extra: dict[str, Any],
    ) -> None:
        body = {"inventoryItemId": deleted["inventoryItemId"], "locationId": location["id"]}

        response = await client.post(f"{LEVELS}/{path}", json=body | extra, headers=admin)

        assert response.status_code == 404, response.text
        assert response.json()["details"] == [ITEM_NOT_FOUND]
        await unchanged(db_session, deleted, location["id"])

    async def test_connecting_at_another_location_is_404(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        deleted: dict[str, Any],
        db_session: AsyncSession,
        location: dict[str, Any],
    ) -> None:
        other = await client.post("/api/v1/locations", json={"name": "Shop"}, headers=admin)
        body = {"inventoryItemId": deleted["inventoryItemId"], "locationId": other.json()["id"]}

        for path, extra in (("connect", {}), ("set", {"available": 1})):
            response = await client.post(f"{LEVELS}/{path}", json=body | extra, headers=admin)
            assert response.status_code == 404, (path, response.text)
        await unchanged(db_session, deleted, location["id"])

    async def test_orders_moves_are_refused_too(
        self, deleted: dict[str, Any], location: dict[str, Any], db_session: AsyncSession
    ) -> None:
        item = deleted["inventoryItemId"]
        with pytest.raises(InventoryItemNotFound):
            await service.change_levels(
                db_session,
                [
                    service.LevelChange(item, location["id"], available=-1, committed=1),
                    service.LevelChange(item + 10_000, location["id"], available=-1),
                ],
            )
        await unchanged(db_session, deleted, location["id"])


async def soft_delete_product_of(database: Database, item: int) -> None:
    async with database.session() as session:
        product_id = (
            select(ProductVariant.product_id)
            .join(InventoryItem, InventoryItem.product_variant_id == ProductVariant.id)
            .where(InventoryItem.id == item)
            .scalar_subquery()
        )
        await session.execute(
            update(Product).where(Product.id == product_id).values(deleted_at=utcnow())
        )


@pytest.mark.postgres_only
async def test_the_batcher_refuses_a_deleted_products_item(live_postgres: Database) -> None:
    (gone, kept), (gone_variant, _), loc = await make_items(live_postgres, 2, {"A": 5})
    await soft_delete_product_of(live_postgres, gone)
    batcher = SelfCommittingAdjustments(live_postgres.primary)

    async with live_postgres.sessionmaker() as session:
        with pytest.raises(InventoryItemNotFound):
            await commit_adjustment_now(
                batcher, session, inventory_item_id=gone, location_id=loc["A"], delta=1
            )
        level = await commit_adjustment_now(
            batcher, session, inventory_item_id=kept, location_id=loc["A"], delta=1
        )
    assert level.available == 6
    async with live_postgres.session() as session:
        assert await levels_of(session, gone) == {loc["A"]: (5, 0)}
        assert await variant_quantity(session, gone_variant) == 5
