"""`set` with `compareQuantity`: Shopify's compare-and-set, decided by the writing statement."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.inventory import service
from shopdb.inventory.errors import CompareQuantityStale
from shopdb.models import Event, InventoryAdjustment, InventoryLevel
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.inventory.helpers import levels_of, make_items, stocked, variant_quantity
from tests.inventory.test_statements import begun

SET = "/api/v1/inventory-levels/set"


async def written(session: AsyncSession, item_id: int) -> tuple[int, int, int]:
    """(log rows, update events, the level's version summed over locations)."""
    logged = await session.scalar(
        select(func.count()).where(InventoryAdjustment.inventory_item_id == item_id)
    )
    events = await session.scalar(
        select(func.count()).where(
            Event.topic == "inventory_levels/update",
            Event.body["inventoryItemId"].as_integer() == item_id,
        )
    )
    versions = await session.scalar(
        select(func.coalesce(func.sum(InventoryLevel.version), 0))
        .where(InventoryLevel.inventory_item_id == item_id)
        .execution_options(populate_existing=True)
    )
    return int(logged or 0), int(events or 0), int(versions or 0)


class TestOverHttp:
    async def test_the_expected_quantity_sets(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)

        response = await client.post(
            SET,
            json={
                "inventoryItemId": variant["inventoryItemId"],
                "locationId": location["id"],
                "available": 8,
                "compareQuantity": 5,
                "reason": "cycle_count_available",
            },
            headers=admin,
        )

        assert response.status_code == 200, response.text
        assert response.json()["available"] == 8
        assert await variant_quantity(db_session, variant["id"]) == 8

    async def test_a_stale_quantity_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]
        before = await written(db_session, item)

        response = await client.post(
            SET,
            json={
                "inventoryItemId": item,
                "locationId": location["id"],
                "available": 8,
                "compareQuantity": 4,
            },
            headers=admin,
        )

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "COMPARE_QUANTITY_STALE"
        assert response.json()["details"] == [
            {"field": "compareQuantity", "message": "does not match the available quantity"}
        ]
        assert await levels_of(db_session, item) == {location["id"]: (5, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 5
        assert await written(db_session, item) == before

    async def test_a_missing_level_holds_zero(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]
        shop = (await client.post("/api/v1/locations", json={"name": "Shop"}, headers=admin)).json()

        stale = await client.post(
            SET,
            json={"inventoryItemId": item, "locationId": shop["id"], "available": 2}
            | {"compareQuantity": 1},
            headers=admin,
        )
        fresh = await client.post(
            SET,
            json={"inventoryItemId": item, "locationId": shop["id"], "available": 2}
            | {"compareQuantity": 0},
            headers=admin,
        )

        assert stale.status_code == 409
        assert stale.json()["code"] == "COMPARE_QUANTITY_STALE"
        assert fresh.status_code == 200, fresh.text
        assert await levels_of(db_session, item) == {location["id"]: (5, 0), shop["id"]: (2, 0)}

    @pytest.mark.parametrize("value", [5.5, "five", 3_000_000_000])
    async def test_a_compare_quantity_that_is_not_an_integer_is_400(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        value: Any,
    ) -> None:
        variant = await stocked(make_product, 5)

        response = await client.post(
            SET,
            json={
                "inventoryItemId": variant["inventoryItemId"],
                "locationId": location["id"],
                "available": 8,
                "compareQuantity": value,
            },
            headers=admin,
        )

        assert response.status_code == 400, response.text
        assert [d["field"] for d in response.json()["details"]] == ["compareQuantity"]


class TestOneStatement:
    async def test_a_compared_set_is_one_statement_on_postgresql(
        self,
        backend: Backend,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        await begun(db_session)

        with (
            statements_sent(backend.engine, first_word=True, commits=True) as sent,
            pytest.raises(CompareQuantityStale),
        ):
            await service.set_available(
                db_session,
                inventory_item_id=variant["inventoryItemId"],
                location_id=location["id"],
                available=4,
                compare_quantity=9,
            )
        with statements_sent(backend.engine, first_word=True, commits=True) as applied:
            level = await service.set_available(
                db_session,
                inventory_item_id=variant["inventoryItemId"],
                location_id=location["id"],
                available=4,
                compare_quantity=10,
            )

        assert level.available == 4
        if backend.name == "postgresql":
            assert sent == ["WITH", "SELECT"]  # refused, then one query explains it
            assert applied == ["WITH"]
        else:  # the value it replaces, then the compared UPDATE (and its writes)
            assert sent == ["SELECT", "UPDATE", "SELECT"]
            assert applied == ["SELECT", "UPDATE", "INSERT", "UPDATE", "INSERT"]


class TestConcurrentSets:
    async def test_of_sets_with_one_compare_quantity_exactly_one_wins(
        self, live_database: Database
    ) -> None:
        (item,), (variant,), loc = await make_items(live_database, 1, {"A": 5})

        async def set_to(value: int) -> bool:
            try:
                async with live_database.session() as session:
                    await service.set_available(
                        session,
                        inventory_item_id=item,
                        location_id=loc["A"],
                        available=value,
                        compare_quantity=5,
                    )
            except CompareQuantityStale:
                return False
            return True

        outcomes = await asyncio.wait_for(
            asyncio.gather(*(set_to(value) for value in range(10, 30))), timeout=60
        )

        assert outcomes.count(True) == 1
        winner = 10 + outcomes.index(True)
        async with live_database.session() as session:
            assert await levels_of(session, item) == {loc["A"]: (winner, 0)}
            assert await variant_quantity(session, variant) == winner
            logged = await session.scalars(
                select(InventoryAdjustment.quantity_adjustment).where(
                    InventoryAdjustment.inventory_item_id == item
                )
            )
            assert list(logged) == [winner - 5]
