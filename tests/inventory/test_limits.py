"""Quantities stay within PostgreSQL's INTEGER (kit.bounds.MAX_INT), on both backends.

A level's available and on-hand (available + committed) and the variant's total (the sum over
locations) are INTEGER columns or expressions; a change that would pass MAX_INT is refused
(409 INVENTORY_LIMIT_EXCEEDED) by the same guarded statement that refuses going below zero,
and changes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.inventory import service
from shopdb.inventory.errors import InventoryLimitExceeded
from shopdb.kit.bounds import MAX_INT
from shopdb.models import InventoryAdjustment
from tests.fixtures.catalog import Headers, ProductFactory
from tests.inventory.helpers import levels_of, make_items, stocked, variant_quantity

ADJUST = "/api/v1/inventory-levels/adjust"
SET = "/api/v1/inventory-levels/set"
BILLION = 1_000_000_000


async def log_of(session: AsyncSession, item_id: int) -> list[int]:
    rows = await session.scalars(
        select(InventoryAdjustment.quantity_adjustment)
        .where(InventoryAdjustment.inventory_item_id == item_id)
        .order_by(InventoryAdjustment.id)
    )
    return list(rows)


def limit_exceeded(field: str) -> dict[str, Any]:
    return {
        "code": "INVENTORY_LIMIT_EXCEEDED",
        "field": field,
        "message": f"would make a quantity exceed {MAX_INT}",
    }


def refusal(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    (detail,) = body["details"]
    return {"code": body["code"], **detail}


class TestAvailableBound:
    async def test_adjusting_past_integer_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 0)
        item = variant["inventoryItemId"]
        at = {"inventoryItemId": item, "locationId": location["id"]}
        assert (await client.post(SET, json={**at, "available": BILLION}, headers=admin)).is_success
        first = await client.post(
            ADJUST, json={**at, "availableAdjustment": BILLION}, headers=admin
        )
        assert first.status_code == 200, first.text
        assert first.json()["available"] == 2 * BILLION

        second = await client.post(
            ADJUST, json={**at, "availableAdjustment": BILLION}, headers=admin
        )

        assert second.status_code == 409, second.text
        assert refusal(second) == limit_exceeded("availableAdjustment")
        assert await levels_of(db_session, item) == {location["id"]: (2 * BILLION, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 2 * BILLION
        assert await log_of(db_session, item) == [BILLION, BILLION]

    async def test_up_to_the_bound_exactly_is_allowed(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 0)
        at = {"inventoryItemId": variant["inventoryItemId"], "locationId": location["id"]}
        await client.post(SET, json={**at, "available": BILLION}, headers=admin)
        await client.post(ADJUST, json={**at, "availableAdjustment": BILLION}, headers=admin)
        rest = MAX_INT - 2 * BILLION

        response = await client.post(
            ADJUST, json={**at, "availableAdjustment": rest}, headers=admin
        )

        assert response.status_code == 200, response.text
        assert response.json()["available"] == MAX_INT
        assert await variant_quantity(db_session, variant["id"]) == MAX_INT
        over = await client.post(ADJUST, json={**at, "availableAdjustment": 1}, headers=admin)
        assert refusal(over) == limit_exceeded("availableAdjustment")
        # Taking stock away still works at the bound.
        down = await client.post(ADJUST, json={**at, "availableAdjustment": -1}, headers=admin)
        assert down.json()["available"] == MAX_INT - 1


class TestVariantTotalBound:
    async def test_the_sum_over_locations_is_bounded_for_adjust_and_set(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 0)
        item = variant["inventoryItemId"]
        a = location["id"]
        b, c = [
            (await client.post("/api/v1/locations", json={"name": n}, headers=admin)).json()["id"]
            for n in ("Shop", "Outlet")
        ]
        for location_id in (a, b):
            response = await client.post(
                SET,
                json={"inventoryItemId": item, "locationId": location_id, "available": BILLION},
                headers=admin,
            )
            assert response.status_code == 200, response.text
        assert await variant_quantity(db_session, variant["id"]) == 2 * BILLION

        # Each level would stay far below the bound; the variant's total would not.
        adjusted = await client.post(
            ADJUST,
            json={"inventoryItemId": item, "locationId": a, "availableAdjustment": 200_000_000},
            headers=admin,
        )
        # At a third location: `set` connects the level first, and that is undone too.
        set_ = await client.post(
            SET,
            json={"inventoryItemId": item, "locationId": c, "available": 200_000_000},
            headers=admin,
        )

        assert adjusted.status_code == 409, adjusted.text
        assert refusal(adjusted) == limit_exceeded("availableAdjustment")
        assert set_.status_code == 409, set_.text
        assert refusal(set_) == limit_exceeded("available")
        assert await levels_of(db_session, item) == {a: (BILLION, 0), b: (BILLION, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 2 * BILLION
        assert await log_of(db_session, item) == [BILLION, BILLION]


class TestOnHandBound:
    async def test_committed_plus_available_is_bounded(
        self,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        # The event's onHand (available + committed) is computed in SQL: it must fit too.
        variant = await stocked(make_product, 0)
        item = variant["inventoryItemId"]
        await service.set_available(
            db_session, inventory_item_id=item, location_id=location["id"], available=2 * BILLION
        )

        with pytest.raises(InventoryLimitExceeded) as refused:
            await service.change_levels(
                db_session, [service.LevelChange(item, location["id"], committed=200_000_000)]
            )

        assert refused.value.details == [
            {"field": "committed", "message": f"would make a quantity exceed {MAX_INT}"}
        ]
        assert await levels_of(db_session, item) == {location["id"]: (2 * BILLION, 0)}
        # Moving stock from available to committed keeps on-hand, so it is not refused.
        (moved,) = await service.change_levels(
            db_session,
            [service.LevelChange(item, location["id"], available=-5, committed=5)],
        )
        assert (moved.available, moved.committed) == (2 * BILLION - 5, 5)


@pytest.mark.postgres_only
class TestConcurrentTotals:
    async def test_a_total_pushed_past_the_bound_meanwhile_is_refused_not_a_500(
        self, live_postgres: Database
    ) -> None:
        """Two locations of one item, changed at once: the second change's guard read the
        variant's total before the first committed; its variant UPDATE overflows instead,
        and that is the same refusal."""
        (item,), (variant,), loc = await make_items(live_postgres, 1, {"A": BILLION, "B": BILLION})
        first = live_postgres.sessionmaker()
        try:
            await service.adjust_available(
                first, inventory_item_id=item, location_id=loc["A"], delta=100_000_000
            )

            async def second() -> None:
                async with live_postgres.session() as session:
                    await service.adjust_available(
                        session, inventory_item_id=item, location_id=loc["B"], delta=100_000_000
                    )

            racing = asyncio.create_task(second())
            await asyncio.sleep(0.3)  # it now waits for the variant row `first` holds
            assert not racing.done()
            await first.commit()
        finally:
            await first.close()
        with pytest.raises(InventoryLimitExceeded) as refused:
            await racing
        assert refused.value.__cause__ is not None  # found by the overflow, not the guard

        async with live_postgres.session() as session:
            assert await levels_of(session, item) == {
                loc["A"]: (1_100_000_000, 0),
                loc["B"]: (BILLION, 0),
            }
            assert await variant_quantity(session, variant) == 2_100_000_000
