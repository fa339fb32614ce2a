"""Real concurrent transactions on PostgreSQL: every adjustment commits in its own session."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from shopdb.db import Database
from shopdb.inventory import service
from shopdb.inventory.errors import InsufficientInventory
from shopdb.models import (
    InventoryAdjustment,
    InventoryLevel,
    ProductVariant,
)
from tests.inventory.helpers import make_items

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def live_database(live_postgres: Database) -> Database:
    """Sessions that really commit (tests.fixtures.database.live_postgres), one per change."""
    return live_postgres


async def snapshot(
    database: Database, item_id: int, variant_id: int
) -> tuple[dict[int, int], int, int]:
    async with database.session() as session:
        levels = await session.execute(
            select(InventoryLevel.location_id, InventoryLevel.available).where(
                InventoryLevel.inventory_item_id == item_id
            )
        )
        quantity = await session.scalar(
            select(ProductVariant.inventory_quantity).where(ProductVariant.id == variant_id)
        )
        logged = await session.scalars(
            select(InventoryAdjustment.id).where(InventoryAdjustment.inventory_item_id == item_id)
        )
        return dict(levels.all()), int(quantity or 0), len(logged.all())


class TestConcurrentAdjustments:
    async def test_hundred_plus_and_minus_ones_end_exactly(self, live_database: Database) -> None:
        (item,), (variant,), loc = await make_items(live_database, 1, {"A": 50, "B": 0})

        async def adjust(delta: int, location_id: int) -> None:
            async with live_database.session() as session:
                await service.adjust_available(
                    session, inventory_item_id=item, location_id=location_id, delta=delta
                )

        # 60 at A (30 up, 30 down) and 40 at B (all up), interleaved.
        jobs = [adjust(+1 if i % 2 else -1, loc["A"]) for i in range(60)]
        jobs += [adjust(+1, loc["B"]) for _ in range(40)]
        await asyncio.gather(*jobs)

        levels, quantity, logged = await snapshot(live_database, item, variant)
        assert levels == {loc["A"]: 50, loc["B"]: 40}
        assert quantity == 90
        assert logged == 100

    async def test_concurrent_takes_never_oversell(self, live_database: Database) -> None:
        (item,), (variant,), loc = await make_items(live_database, 1, {"A": 7})

        async def take() -> bool:
            try:
                async with live_database.session() as session:
                    await service.adjust_available(
                        session, inventory_item_id=item, location_id=loc["A"], delta=-1
                    )
            except InsufficientInventory:
                return False
            return True

        outcomes = await asyncio.gather(*(take() for _ in range(30)))

        assert outcomes.count(True) == 7
        levels, quantity, logged = await snapshot(live_database, item, variant)
        assert levels == {loc["A"]: 0}
        assert quantity == 0
        assert logged == 7

    async def test_multi_level_changes_in_opposite_orders_do_not_deadlock(
        self, live_database: Database
    ) -> None:
        items, variants, loc = await make_items(live_database, 2, {"A": 100})
        first, second = items

        async def move(order: list[int]) -> None:
            async with live_database.session() as session:
                await service.change_levels(
                    session,
                    [service.LevelChange(i, loc["A"], available=-1, committed=+1) for i in order],
                )

        jobs = [move([first, second] if n % 2 else [second, first]) for n in range(40)]
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=60)

        for item, variant in zip(items, variants, strict=True):
            async with live_database.session() as session:
                row = (
                    await session.execute(
                        select(InventoryLevel.available, InventoryLevel.committed).where(
                            InventoryLevel.inventory_item_id == item
                        )
                    )
                ).one()
                quantity = await session.scalar(
                    select(ProductVariant.inventory_quantity).where(ProductVariant.id == variant)
                )
            assert tuple(row) == (60, 40)
            assert quantity == 60

    async def test_overlapping_sets_of_levels_do_not_deadlock(
        self, live_database: Database
    ) -> None:
        # Every non-empty subset of 2 items x 2 locations, 4 times, given in varying orders: a
        # variant moves once per item, after that item's last level, so every transaction
        # takes its locks in one global order (a variant locked after a level of its own item
        # that another transaction holds would close a cycle with it).
        items, variants, loc = await make_items(live_database, 2, {"A": 100, "B": 100})
        levels = [(i, loc[name]) for i in items for name in ("A", "B")]
        subsets = [
            [level for bit, level in enumerate(levels) if mask & (1 << bit)]
            for mask in range(1, 16)
        ] * 4

        async def move(n: int, subset: list[tuple[int, int]]) -> None:
            order = subset[::-1] if n % 2 else subset
            async with live_database.session() as session:
                await service.change_levels(
                    session,
                    [service.LevelChange(i, at, available=-1, committed=+1) for i, at in order],
                )

        jobs = (move(n, subset) for n, subset in enumerate(subsets))
        await asyncio.wait_for(asyncio.gather(*jobs), timeout=60)

        # Each level is in 8 of the 15 subsets: 32 moves.
        for item, variant in zip(items, variants, strict=True):
            async with live_database.session() as session:
                rows = await session.execute(
                    select(
                        InventoryLevel.location_id,
                        InventoryLevel.available,
                        InventoryLevel.committed,
                    ).where(InventoryLevel.inventory_item_id == item)
                )
                quantity = await session.scalar(
                    select(ProductVariant.inventory_quantity).where(ProductVariant.id == variant)
                )
            assert {r.location_id: (r.available, r.committed) for r in rows} == {
                loc["A"]: (68, 32),
                loc["B"]: (68, 32),
            }
            assert quantity == 136
