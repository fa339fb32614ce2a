"""The variant's inventory policy decides whether `available` may go below zero, inside the
guarded statement: `deny` never (under concurrent load too), `continue` and untracked items
sell beyond their stock. And the order moves built on it: commit, release, fulfill."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.errors import ValidationFailed
from shopdb.inventory import service, stock
from shopdb.inventory.errors import InsufficientInventory
from shopdb.inventory.stock import StockLine
from shopdb.models import Event, InventoryAdjustment
from tests.fixtures.catalog import Headers, ProductFactory
from tests.inventory.helpers import levels_of, make_items, states_of, stocked, variant_quantity

ADJUST = "/api/v1/inventory-levels/adjust"
LEVELS = "/api/v1/inventory-levels"


async def log_count(session: AsyncSession, item_id: int) -> int:
    found = await session.scalar(
        select(func.count()).where(InventoryAdjustment.inventory_item_id == item_id)
    )
    return int(found or 0)


async def untrack(client: httpx.AsyncClient, admin: Headers, item_id: int) -> None:
    response = await client.put(
        f"/api/v1/inventory-items/{item_id}", json={"tracked": False}, headers=admin
    )
    assert response.status_code == 200, response.text


class TestAdjustBelowZero:
    async def test_a_continue_variant_goes_negative_and_shows_it(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 2, policy="continue")
        item = variant["inventoryItemId"]

        response = await client.post(
            ADJUST,
            json={"inventoryItemId": item, "locationId": location["id"], "availableAdjustment": -5},
            headers=admin,
        )

        assert response.status_code == 200, response.text
        assert (response.json()["available"], response.json()["onHand"]) == (-3, -3)
        listed = await client.get(LEVELS, params={"inventoryItemIds": item}, headers=admin)
        assert listed.json()["items"][0]["available"] == -3
        assert await variant_quantity(db_session, variant["id"]) == -3
        product = await client.get(f"/api/v1/products/{variant['productId']}", headers=admin)
        assert product.json()["variants"][0]["inventoryQuantity"] == -3

    async def test_a_deny_variant_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 2, policy="deny")
        item = variant["inventoryItemId"]

        response = await client.post(
            ADJUST,
            json={"inventoryItemId": item, "locationId": location["id"], "availableAdjustment": -3},
            headers=admin,
        )

        assert response.status_code == 409
        assert response.json()["code"] == "INSUFFICIENT_INVENTORY"
        assert response.json()["details"][0]["field"] == "availableAdjustment"
        assert await levels_of(db_session, item) == {location["id"]: (2, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 2
        assert await log_count(db_session, item) == 1

    async def test_an_untracked_deny_item_is_never_limited(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 0, policy="deny")
        item = variant["inventoryItemId"]
        await untrack(client, admin, item)

        response = await client.post(
            ADJUST,
            json={"inventoryItemId": item, "locationId": location["id"], "availableAdjustment": -4},
            headers=admin,
        )

        assert response.status_code == 200, response.text
        assert response.json()["available"] == -4

    async def test_stock_arriving_at_an_oversold_level_is_taken_whatever_the_policy(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 0, policy="continue")
        item = variant["inventoryItemId"]
        at = {"inventoryItemId": item, "locationId": location["id"]}
        await client.post(ADJUST, json={**at, "availableAdjustment": -6}, headers=admin)
        # The merchant switches to deny while oversold: receiving stock still works.
        changed = await client.put(
            f"/api/v1/variants/{variant['id']}", json={"inventoryPolicy": "deny"}, headers=admin
        )
        assert changed.status_code == 200, changed.text

        received = await client.post(
            ADJUST, json={**at, "availableAdjustment": 4, "reason": "received"}, headers=admin
        )
        taken = await client.post(ADJUST, json={**at, "availableAdjustment": -1}, headers=admin)

        assert received.json()["available"] == -2
        assert taken.status_code == 409
        assert await levels_of(db_session, item) == {location["id"]: (-2, 0)}


class TestSetBelowZero:
    async def test_a_continue_variant_can_be_set_negative_a_deny_one_cannot(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        # The API takes available >= 0; code (a CSV import of an oversold variant) may not.
        sold_on = await stocked(make_product, 2, policy="continue", sku="ON")
        denied = await stocked(make_product, 2, policy="deny", sku="OFF")

        level = await service.set_available(
            db_session,
            inventory_item_id=sold_on["inventoryItemId"],
            location_id=location["id"],
            available=-2,
        )
        with pytest.raises(InsufficientInventory) as refused:
            await service.set_available(
                db_session,
                inventory_item_id=denied["inventoryItemId"],
                location_id=location["id"],
                available=-2,
            )

        assert level.available == -2
        assert await variant_quantity(db_session, sold_on["id"]) == -2
        assert refused.value.details[0]["field"] == "available"
        assert await levels_of(db_session, denied["inventoryItemId"]) == {location["id"]: (2, 0)}


class TestOrderMoves:
    async def test_commit_release_and_fulfill_move_the_states(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        variant = await stocked(make_product, 10)
        item = variant["inventoryItemId"]
        line = StockLine(item, location["id"], 4)

        (placed,) = await stock.commit_stock(db_session, [line], note="order #1001")
        (cancelled,) = await stock.release_committed(
            db_session, [StockLine(item, location["id"], 1)], note="order #1001"
        )
        (shipped,) = await stock.fulfill_committed(
            db_session, [StockLine(item, location["id"], 3)], note="order #1001"
        )

        assert (placed.available, placed.committed, placed.on_hand) == (6, 4, 10)
        assert (cancelled.available, cancelled.committed, cancelled.on_hand) == (7, 3, 10)
        assert (shipped.available, shipped.committed, shipped.on_hand) == (7, 0, 7)
        assert await variant_quantity(db_session, variant["id"]) == 7
        rows = await db_session.execute(
            select(
                InventoryAdjustment.quantity_name,
                InventoryAdjustment.quantity_adjustment,
                InventoryAdjustment.reason,
            )
            .where(InventoryAdjustment.inventory_item_id == item)
            .order_by(InventoryAdjustment.id)
        )
        assert [tuple(r) for r in rows][1:] == [
            ("available", -4, "other"),
            ("committed", 4, "other"),
            ("available", 1, "restock"),
            ("committed", -1, "restock"),
            ("committed", -3, "other"),
        ]

    async def test_a_deny_variant_is_not_committed_beyond_its_stock(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        first = await stocked(make_product, 5, sku="FIRST")
        second = await stocked(make_product, 1, sku="SECOND")
        lines = [
            StockLine(first["inventoryItemId"], location["id"], 2, field="lineItems[0].quantity"),
            StockLine(second["inventoryItemId"], location["id"], 2, field="lineItems[1].quantity"),
        ]

        with pytest.raises(InsufficientInventory) as refused:
            await stock.commit_stock(db_session, lines)

        assert refused.value.details == [
            {"field": "lineItems[1].quantity", "message": "would make the quantity negative"}
        ]
        # All or nothing: the first line's move was undone too.
        assert await levels_of(db_session, first["inventoryItemId"]) == {location["id"]: (5, 0)}
        assert await levels_of(db_session, second["inventoryItemId"]) == {location["id"]: (1, 0)}
        assert await variant_quantity(db_session, first["id"]) == 5

    async def test_a_continue_variant_is_committed_beyond_its_stock(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        variant = await stocked(make_product, 2, policy="continue")
        item = variant["inventoryItemId"]

        (level,) = await stock.commit_stock(db_session, [StockLine(item, location["id"], 5)])

        assert (level.available, level.committed, level.on_hand) == (-3, 5, 2)
        assert await states_of(db_session, item, location["id"]) == {
            "available": -3,
            "committed": 5,
            "incoming": 0,
            "reserved": 0,
            "damaged": 0,
            "safety_stock": 0,
            "quality_control": 0,
        }
        assert await variant_quantity(db_session, variant["id"]) == -3
        event = await db_session.scalar(
            select(Event.body)
            .where(Event.topic == "inventory_levels/update")
            .order_by(Event.id.desc())
            .limit(1)
        )
        assert event is not None
        assert (event["available"], event["committed"], event["onHand"]) == (-3, 5, 2)

    async def test_an_untracked_item_is_committed_beyond_its_stock(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 0)
        await untrack(client, admin, variant["inventoryItemId"])

        (level,) = await stock.commit_stock(
            db_session, [StockLine(variant["inventoryItemId"], location["id"], 3)]
        )

        assert (level.available, level.committed) == (-3, 3)

    @pytest.mark.parametrize("move", [stock.release_committed, stock.fulfill_committed])
    async def test_more_than_is_committed_is_refused(
        self,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
        move: Any,
    ) -> None:
        variant = await stocked(make_product, 5, policy="continue")
        item = variant["inventoryItemId"]
        await stock.commit_stock(db_session, [StockLine(item, location["id"], 2)])

        with pytest.raises(InsufficientInventory) as refused:
            await move(db_session, [StockLine(item, location["id"], 3)])

        assert refused.value.details[0]["field"] == "quantity"
        assert await levels_of(db_session, item) == {location["id"]: (3, 2)}

    async def test_a_quantity_below_one_is_a_validation_error(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        variant = await stocked(make_product, 5)

        with pytest.raises(ValidationFailed):
            await stock.commit_stock(
                db_session, [StockLine(variant["inventoryItemId"], location["id"], 0)]
            )

        assert await levels_of(db_session, variant["inventoryItemId"]) == {location["id"]: (5, 0)}


class TestConcurrentCommits:
    async def test_deny_twenty_commits_of_one_on_ten_exactly_ten_succeed(
        self, live_database: Database
    ) -> None:
        (item,), (variant,), loc = await make_items(live_database, 1, {"A": 10}, policy="deny")

        async def commit() -> bool:
            try:
                async with live_database.session() as session:
                    await stock.commit_stock(session, [StockLine(item, loc["A"], 1)])
            except InsufficientInventory:
                return False
            return True

        outcomes = await asyncio.wait_for(
            asyncio.gather(*(commit() for _ in range(20))), timeout=60
        )

        assert outcomes.count(True) == 10
        async with live_database.session() as session:
            assert await levels_of(session, item) == {loc["A"]: (0, 10)}
            assert await variant_quantity(session, variant) == 0
            never_negative = await session.scalar(
                select(func.min(InventoryAdjustment.quantity_adjustment)).where(
                    InventoryAdjustment.inventory_item_id == item
                )
            )
            assert never_negative == -1
            assert await log_count(session, item) == 20  # available -1, committed +1, ten times

    async def test_continue_twenty_commits_of_one_on_ten_all_succeed(
        self, live_database: Database
    ) -> None:
        (item,), (variant,), loc = await make_items(live_database, 1, {"A": 10}, policy="continue")

        async def commit() -> None:
            async with live_database.session() as session:
                await stock.commit_stock(session, [StockLine(item, loc["A"], 1)])

        await asyncio.wait_for(asyncio.gather(*(commit() for _ in range(20))), timeout=60)

        async with live_database.session() as session:
            assert await levels_of(session, item) == {loc["A"]: (-10, 20)}
            assert await variant_quantity(session, variant) == -10
