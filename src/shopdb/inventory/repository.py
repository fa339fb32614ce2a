"""Every SQL statement on locations, inventory items, levels and the adjustment log.

Quantities are only ever changed by single conditional UPDATEs (`available = available + :d
WHERE available + :d >= 0`), never read into Python and written back: two concurrent requests
cannot both see 1 unit and both take it.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import AnySelect, count_rows, offset_for
from shopdb.kit.types import utcnow
from shopdb.models import (
    InventoryAdjustment,
    InventoryItem,
    InventoryLevel,
    Location,
    ProductVariant,
)


@dataclass(frozen=True)
class LevelRow:
    id: int
    inventory_item_id: int
    location_id: int
    available: int
    committed: int
    updated_at: datetime

    @property
    def on_hand(self) -> int:
        return self.available + self.committed


_LEVEL_COLUMNS = (
    InventoryLevel.id,
    InventoryLevel.inventory_item_id,
    InventoryLevel.location_id,
    InventoryLevel.available,
    InventoryLevel.committed,
    InventoryLevel.updated_at,
)


def _level(row: Any) -> LevelRow:
    return LevelRow(
        id=row.id,
        inventory_item_id=row.inventory_item_id,
        location_id=row.location_id,
        available=row.available,
        committed=row.committed,
        updated_at=row.updated_at,
    )


def _active_location(location_id: int) -> Any:
    return exists().where(Location.id == location_id, Location.active.is_(True))


class LocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, location_id: int) -> Location | None:
        return await self.session.get(Location, location_id)

    async def list(
        self, *, active: bool | None, page: int, page_size: int
    ) -> tuple[list[Location], int]:
        statement = select(Location)
        if active is not None:
            statement = statement.where(Location.active.is_(active))
        total = await count_rows(self.session, statement)
        rows = await self.session.scalars(
            statement.order_by(Location.id).offset(offset_for(page, page_size)).limit(page_size)
        )
        return list(rows), total

    async def first_active(self) -> Location | None:
        return await self.session.scalar(
            select(Location).where(Location.active.is_(True)).order_by(Location.id).limit(1)
        )

    async def add(self, location: Location) -> Location:
        self.session.add(location)
        await self.session.flush()
        return location

    async def has_stock_history(self, location_id: int) -> bool:
        """Levels now, or adjustments once: either makes a hard delete lose history."""
        levels = select(InventoryLevel.id).where(InventoryLevel.location_id == location_id)
        logged = select(InventoryAdjustment.id).where(
            InventoryAdjustment.location_id == location_id
        )
        found = await self.session.scalar(select(exists(levels) | exists(logged)))
        return bool(found)

    async def delete(self, location: Location) -> None:
        await self.session.delete(location)
        await self.session.flush()


class InventoryItemRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, item_id: int) -> InventoryItem | None:
        return await self.session.get(InventoryItem, item_id)

    async def exists(self, item_id: int) -> bool:
        return (
            await self.session.scalar(select(InventoryItem.id).where(InventoryItem.id == item_id))
        ) is not None

    async def variant_of(self, item_id: int) -> int | None:
        return await self.session.scalar(
            select(InventoryItem.product_variant_id).where(InventoryItem.id == item_id)
        )

    async def by_variant_ids(self, variant_ids: Sequence[int]) -> dict[int, InventoryItem]:
        if not variant_ids:
            return {}
        rows = await self.session.scalars(
            select(InventoryItem).where(InventoryItem.product_variant_id.in_(variant_ids))
        )
        return {item.product_variant_id: item for item in rows}


class InventoryLevelRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def _filtered(
        self, item_ids: Sequence[int] | None, location_ids: Sequence[int] | None
    ) -> AnySelect:
        statement: AnySelect = select(*_LEVEL_COLUMNS)
        if item_ids:
            statement = statement.where(InventoryLevel.inventory_item_id.in_(item_ids))
        if location_ids:
            statement = statement.where(InventoryLevel.location_id.in_(location_ids))
        return statement

    async def list(
        self,
        *,
        item_ids: Sequence[int] | None,
        location_ids: Sequence[int] | None,
        page: int,
        page_size: int,
    ) -> tuple[list[LevelRow], int]:
        statement = self._filtered(item_ids, location_ids)
        total = await count_rows(self.session, statement)
        result = await self.session.execute(
            statement.order_by(InventoryLevel.inventory_item_id, InventoryLevel.location_id)
            .offset(offset_for(page, page_size))
            .limit(page_size)
        )
        return [_level(row) for row in result], total

    async def get(self, item_id: int, location_id: int) -> LevelRow | None:
        result = await self.session.execute(
            self._filtered([item_id], [location_id]).execution_options(populate_existing=True)
        )
        row = result.first()
        return None if row is None else _level(row)

    async def change(
        self, item_id: int, location_id: int, d_available: int, d_committed: int
    ) -> LevelRow | None:
        """Move quantities by deltas in one statement; None when a guard refused it.

        The row lock this UPDATE takes is held to the end of the transaction, which is what
        serialises concurrent changes of one level.
        """
        statement = (
            update(InventoryLevel)
            .where(
                InventoryLevel.inventory_item_id == item_id,
                InventoryLevel.location_id == location_id,
                InventoryLevel.available + d_available >= 0,
                InventoryLevel.committed + d_committed >= 0,
                _active_location(location_id),
            )
            .values(
                available=InventoryLevel.available + d_available,
                committed=InventoryLevel.committed + d_committed,
                version=InventoryLevel.version + 1,
                updated_at=utcnow(),
            )
            .returning(*_LEVEL_COLUMNS)
            .execution_options(synchronize_session=False)
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else _level(row)

    async def set_available(
        self, item_id: int, location_id: int, available: int
    ) -> tuple[LevelRow, int] | None:
        """Set `available` absolutely; returns the level and the delta applied, or None.

        PostgreSQL does it in one statement: the FROM subquery locks the row (FOR UPDATE waits
        for a concurrent writer and then reads its committed value), so the old value the
        delta is computed from is the one replaced. SQLite holds the database write lock for
        the whole transaction (BEGIN IMMEDIATE), so its read-then-write cannot interleave.
        """
        where = (
            InventoryLevel.inventory_item_id == item_id,
            InventoryLevel.location_id == location_id,
            _active_location(location_id),
        )
        values = {
            "available": available,
            "version": InventoryLevel.version + 1,
            "updated_at": utcnow(),
        }
        if self._dialect == "postgresql":
            old = (
                select(
                    InventoryLevel.id.label("level_id"),
                    InventoryLevel.available.label("old_available"),
                )
                .where(*where)
                .with_for_update()
                .subquery("old")
            )
            statement = (
                update(InventoryLevel)
                .where(InventoryLevel.id == old.c.level_id)
                .values(**values)
                .returning(*_LEVEL_COLUMNS, old.c.old_available)
                .execution_options(synchronize_session=False)
            )
            row = (await self.session.execute(statement)).first()
            if row is None:
                return None
            return _level(row), available - row.old_available
        previous = await self.session.scalar(select(InventoryLevel.available).where(*where))
        if previous is None:
            return None
        statement = (
            update(InventoryLevel)
            .where(*where)
            .values(**values)
            .returning(*_LEVEL_COLUMNS)
            .execution_options(synchronize_session=False)
        )
        row = (await self.session.execute(statement)).first()
        assert row is not None  # the write lock has been held since the read
        return _level(row), available - previous

    async def connect(self, item_id: int, location_id: int) -> bool:
        """Create the (item, location) level at zero if it is missing; True if it was created."""
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        statement = (
            insert(InventoryLevel)
            .values(
                inventory_item_id=item_id,
                location_id=location_id,
                available=0,
                committed=0,
                version=1,
                updated_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["inventory_item_id", "location_id"])
            .returning(InventoryLevel.id)
        )
        return (await self.session.execute(statement)).first() is not None

    async def disconnect(self, item_id: int, location_id: int) -> int | None:
        """Delete a level holding no committed stock; returns the available it had, or None."""
        statement = (
            delete(InventoryLevel)
            .where(
                InventoryLevel.inventory_item_id == item_id,
                InventoryLevel.location_id == location_id,
                InventoryLevel.committed == 0,
            )
            .returning(InventoryLevel.available)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def add_to_variant_quantity(self, item_id: int, delta: int) -> None:
        """Keep product_variants.inventory_quantity = sum(available) by applying the same delta.

        A delta, not a re-summed total: a SUM subquery would read its statement's snapshot and
        miss a concurrent change to another location committed while this UPDATE waited.
        """
        if delta == 0:
            return
        variant_id = (
            select(InventoryItem.product_variant_id)
            .where(InventoryItem.id == item_id)
            .scalar_subquery()
        )
        await self.session.execute(
            update(ProductVariant)
            .where(ProductVariant.id == variant_id)
            .values(inventory_quantity=ProductVariant.inventory_quantity + delta)
            .execution_options(synchronize_session=False)
        )

    def add_level(self, item_id: int, location_id: int, available: int) -> None:
        self.session.add(
            InventoryLevel(
                inventory_item_id=item_id,
                location_id=location_id,
                available=available,
                committed=0,
            )
        )

    def log(
        self,
        item_id: int,
        location_id: int,
        quantity: int,
        reason: str | None,
        note: str | None,
    ) -> None:
        self.session.add(
            InventoryAdjustment(
                inventory_item_id=item_id,
                location_id=location_id,
                quantity_adjustment=quantity,
                reason=reason,
                note=note,
            )
        )

    async def adjustments(
        self, item_id: int, location_id: int | None = None
    ) -> builtins.list[InventoryAdjustment]:
        statement = select(InventoryAdjustment).where(
            InventoryAdjustment.inventory_item_id == item_id
        )
        if location_id is not None:
            statement = statement.where(InventoryAdjustment.location_id == location_id)
        return list(await self.session.scalars(statement.order_by(InventoryAdjustment.id)))

    async def sum_available(self, item_id: int) -> int:
        total = await self.session.scalar(
            select(func.coalesce(func.sum(InventoryLevel.available), 0)).where(
                InventoryLevel.inventory_item_id == item_id
            )
        )
        return int(total or 0)
