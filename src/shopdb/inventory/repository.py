"""Every SQL statement on locations, inventory items, levels and the adjustment log.

Quantities are only ever changed by single conditional UPDATEs (`available = available + :d
WHERE available + :d >= 0`, or the variant's policy lets it go below), never read into Python
and written back: two concurrent requests cannot both see 1 unit and both take it. The
statements that change a level, with the log, variant and event rows that go with it, are in
`statements` (one statement on PostgreSQL).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import Row, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.inventory import statements
from shopdb.inventory.errors import InventoryLimitExceeded
from shopdb.kit import journal, prepared
from shopdb.kit.pagination import AnySelect, PageRequest, RowsPage, read_requested_page
from shopdb.kit.types import utcnow
from shopdb.models import (
    InventoryAdjustment,
    InventoryItem,
    InventoryLevel,
    Location,
    ProductVariant,
)
from shopdb.models.inventory import QUANTITY_STATES

NUMERIC_OUT_OF_RANGE = "22003"  # PostgreSQL: an INTEGER column or expression overflowed


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error, wrapped by SQLAlchemy (DBAPIError) or not (asyncpg)."""
    original = getattr(exc, "orig", exc)
    found = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return found if isinstance(found, str) else None


@dataclass(frozen=True)
class LevelRow:
    """A level's quantities in Shopify's states (`on_hand` and `unavailable` are derived)."""

    id: int
    inventory_item_id: int
    location_id: int
    available: int
    committed: int
    updated_at: datetime
    incoming: int = 0
    reserved: int = 0
    damaged: int = 0
    safety_stock: int = 0
    quality_control: int = 0

    @property
    def unavailable(self) -> int:
        return self.reserved + self.damaged + self.safety_stock + self.quality_control

    @property
    def on_hand(self) -> int:
        return self.available + self.committed + self.unavailable

    def quantity(self, name: str) -> int:
        value: int = getattr(self, name)
        return value


_LEVEL_COLUMNS = (
    InventoryLevel.id,
    InventoryLevel.inventory_item_id,
    InventoryLevel.location_id,
    *(getattr(InventoryLevel, name) for name in QUANTITY_STATES),
    InventoryLevel.updated_at,
)


def level_row(row: Any) -> LevelRow:
    """A LevelRow from a SQLAlchemy row (by attribute) or a driver's record (by key)."""
    get = partial(getattr, row) if hasattr(row, "_fields") else row.__getitem__
    return LevelRow(
        id=get("id"),
        inventory_item_id=get("inventory_item_id"),
        location_id=get("location_id"),
        updated_at=get("updated_at"),
        **{name: get(name) for name in QUANTITY_STATES},
    )


_level = level_row


@dataclass(frozen=True)
class LevelProbe:
    location_active: bool | None  # None: no such location
    item_exists: bool  # False also when the item's product is soft-deleted
    level_exists: bool
    quantities: dict[str, int] = field(default_factory=dict)  # every state, 0 without a level
    variant_quantity: int = 0  # the variant's total, the sum of available over locations
    limited: bool = True  # tracked and `deny`: available never below zero

    @property
    def available(self) -> int:
        return self.quantities.get("available", 0)

    @property
    def committed(self) -> int:
        return self.quantities.get("committed", 0)


class LocationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, location_id: int) -> Location | None:
        return await self.session.get(Location, location_id)

    async def list(self, *, active: bool | None, request: PageRequest) -> RowsPage[Location]:
        statement = select(Location)
        if active is not None:
            statement = statement.where(Location.active.is_(active))
        return await read_requested_page(
            self.session, statement, request, sort_column=Location.id, id_column=Location.id
        )

    async def page_ids(self, *, active: bool | None, request: PageRequest) -> RowsPage[int]:
        """list's page as ids (the cached path: documents come by id)."""
        statement = select(Location.id)
        if active is not None:
            statement = statement.where(Location.active.is_(active))
        return await read_requested_page(
            self.session, statement, request, sort_column=Location.id, id_column=Location.id
        )

    async def many(self, ids: Sequence[int]) -> builtins.list[Location]:
        if not ids:
            return []
        return list(await self.session.scalars(select(Location).where(Location.id.in_(ids))))

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
        """The item, unless its product is soft-deleted (then it is gone for the API too)."""
        return await self.session.scalar(
            select(InventoryItem).where(
                InventoryItem.id == item_id, InventoryItem.id.in_(statements.live_item_ids())
            )
        )

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
        request: PageRequest,
    ) -> RowsPage[LevelRow]:
        """Levels in (item, location) order: the keyset is the item id, then the location id,
        unique together (the cursor's "id" is the location)."""
        # A soft-deleted product's stock is not listed, as its item is not found.
        statement = self._filtered(item_ids, location_ids).where(
            InventoryLevel.inventory_item_id.in_(statements.live_item_ids())
        )
        found = await read_requested_page(
            self.session,
            statement,
            request,
            sort_column=InventoryLevel.inventory_item_id,
            id_column=InventoryLevel.location_id,
            sort_name="inventoryItemId",
            key_type=int,
        )
        return RowsPage([_level(row) for row in found.rows], found.next_cursor, found.total)

    async def get(self, item_id: int, location_id: int) -> LevelRow | None:
        result = await self.session.execute(
            self._filtered([item_id], [location_id]).execution_options(populate_existing=True)
        )
        row = result.first()
        return None if row is None else _level(row)

    async def of_items(
        self, item_ids: Sequence[int], *, location_id: int | None = None, lock: bool = False
    ) -> builtins.list[LevelRow]:
        """The levels of these items (at one location when given), in (item, location) order.

        `lock` takes their row locks in that order, the one every level change uses, so what
        was read stays true until commit (PostgreSQL; SQLite serialises writers anyway).
        """
        if not item_ids:
            return []
        statement = self._filtered(
            item_ids, None if location_id is None else [location_id]
        ).order_by(InventoryLevel.inventory_item_id, InventoryLevel.location_id)
        if lock:
            statement = statement.with_for_update()
        return [_level(row) for row in await self.session.execute(statement)]

    async def apply_change(
        self,
        item_id: int,
        location_id: int,
        *,
        deltas: Mapping[str, int],
        variant_delta: int,
        by_policy: bool,
        reason: str,
        note: str | None,
        actor: str | None,
    ) -> LevelRow | None:
        """Move a level's states by deltas, log each, move the variant by `variant_delta`,
        record the event.

        None when a guard refused it (no level, inactive location, a state below zero, or
        `available` below zero where the variant's policy forbids it or `by_policy` is
        false); then nothing was written. The level's row lock is held to the end of the
        transaction, which is what serialises concurrent changes of one level.
        """
        params = statements.change_params(
            item_id=item_id,
            location_id=location_id,
            deltas=deltas,
            variant_delta=variant_delta,
            by_policy=by_policy,
            reason=reason,
            note=note,
            actor=actor,
            now=utcnow(),
        )
        states = statements.moved(deltas)
        if self._dialect == "postgresql":
            row = await self._postgres_change("change", params, states)
            if row is None:
                return None
            journal.note(self.session, journal.PRODUCT, [row.product_id], listing=False)
            return _level(row)
        level_update = statements.sqlite_level_change("change", states)
        row = (await self.session.execute(level_update, params)).first()
        if row is None:
            return None
        logged = any(deltas.values())
        await self._sqlite_writes("change", states, params, row.id, logged, variant_delta)
        return _level(row)

    async def apply_set(
        self,
        item_id: int,
        location_id: int,
        available: int,
        *,
        compare: int | None,
        reason: str,
        note: str | None,
        actor: str | None,
    ) -> tuple[LevelRow, int] | None:
        """Set `available` absolutely, with the same log, variant and event writes as a change.

        With `compare`, only if `available` is that value now, checked by the same statement.
        Returns the level and the delta applied, or None when there is no changeable level
        or a guard refused it.
        """
        now = utcnow()
        if self._dialect == "postgresql":
            params: dict[str, object] = statements.bind(
                item_id=item_id,
                location_id=location_id,
                available=available,
                compare=compare,
                reason=reason,
                note=note,
                actor=actor,
                now=now,
            )
            row = await self._postgres_change("set", params)
            if row is None:
                return None
            journal.note(self.session, journal.PRODUCT, [row.product_id], listing=False)
            return _level(row), row.available_delta
        # SQLite: this transaction has held the database write lock since BEGIN IMMEDIATE, so
        # the value read here is the one the delta replaces; the comparison is the UPDATE's.
        at = statements.bind(item_id=item_id, location_id=location_id)
        previous = await self.session.scalar(statements.current_available(), at)
        if previous is None:
            return None
        delta = available - previous
        params = statements.change_params(
            item_id=item_id,
            location_id=location_id,
            deltas={"available": delta},
            variant_delta=delta,
            by_policy=True,
            reason=reason,
            note=note,
            actor=actor,
            now=now,
        ) | statements.bind(compare=compare)
        row = (await self.session.execute(statements.sqlite_level_change("set"), params)).first()
        if row is None:  # the comparison, a bound (INTEGER) or the product's soft delete
            return None
        if delta:  # the value already held: the level is usable and nothing is written
            await self._sqlite_writes("set", ("available",), params, row.id, True, delta)
        return _level(row), delta

    async def _postgres_change(
        self,
        kind: statements.Kind,
        params: dict[str, object],
        states: statements.Moved = ("available",),
    ) -> Row[Any] | None:
        # Core, not ORM, execution: the statement touches no mapped objects, and the ORM's
        # per-statement bookkeeping cost more CPU than the statement's round trip (pending
        # rows, a level just added, an event, are flushed first: fetch_in_transaction).
        try:
            statement = statements.postgres_change(kind, states)
            rows = await prepared.fetch_in_transaction(self.session, statement, params)
            return rows[0] if rows else None
        except DBAPIError as exc:
            # The guard read the variant's total from the statement's snapshot; a concurrent
            # change of another location can still push it past INTEGER before this one's
            # variant UPDATE runs. The overflow aborts the whole statement, so nothing was
            # written: the same refusal as the guard's, only found later.
            if sqlstate(exc) == NUMERIC_OUT_OF_RANGE:
                field = "available" if kind == "set" else "availableAdjustment"
                item_id = cast(int, params["p_item_id"])
                location_id = cast(int, params["p_location_id"])
                raise InventoryLimitExceeded(item_id, location_id, field) from exc
            raise

    async def _sqlite_writes(
        self,
        kind: statements.Kind,
        states: statements.Moved,
        params: dict[str, object],
        level_id: int,
        logged: bool,
        variant_delta: int,
    ) -> None:
        writes = statements.sqlite_writes(kind, states)
        params = params | statements.bind(
            level_id=level_id, available_delta=params["p_d_available"], variant_delta=variant_delta
        )
        # The log and variant statements are no-ops at zero deltas; skipping them saves a trip.
        if logged:
            await self.session.execute(writes.log, params)
        if variant_delta:
            changed = await self.session.execute(writes.variant, params)
            journal.note(self.session, journal.PRODUCT, changed.scalars(), listing=False)
        await self.session.execute(writes.event, params)

    async def probe(self, item_id: int, location_id: int) -> LevelProbe:
        """What exists, in one query: tells a refused change's reasons apart."""
        row = (
            await self.session.execute(
                statements.probe(), statements.bind(item_id=item_id, location_id=location_id)
            )
        ).one()
        location_active, variant_quantity, limited, *quantities = row
        return LevelProbe(
            location_active=None if location_active is None else bool(location_active),
            item_exists=variant_quantity is not None,
            level_exists=quantities[0] is not None,
            quantities={
                name: value or 0 for name, value in zip(QUANTITY_STATES, quantities, strict=True)
            },
            variant_quantity=variant_quantity or 0,
            limited=limited is None or bool(limited),
        )

    async def connect(self, item_id: int, location_id: int) -> LevelRow | None:
        """Create the (item, location) level at zero if it is missing; the new level, or None."""
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
            .returning(*_LEVEL_COLUMNS)
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else _level(row)

    async def disconnect(self, item_id: int, location_id: int) -> LevelRow | None:
        """Delete a level holding no committed stock: the level as it was, or None."""
        statement = (
            delete(InventoryLevel)
            .where(
                InventoryLevel.inventory_item_id == item_id,
                InventoryLevel.location_id == location_id,
                InventoryLevel.committed == 0,
            )
            .returning(*_LEVEL_COLUMNS)
            .execution_options(synchronize_session=False)
        )
        row = (await self.session.execute(statement)).first()
        return None if row is None else _level(row)

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
        changed = await self.session.execute(
            update(ProductVariant)
            .where(ProductVariant.id == variant_id)
            .values(inventory_quantity=ProductVariant.inventory_quantity + delta)
            .returning(ProductVariant.product_id)
            .execution_options(synchronize_session=False)
        )
        journal.note(self.session, journal.PRODUCT, changed.scalars(), listing=False)

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
        quantity_name: str = "available",
    ) -> None:
        self.session.add(
            InventoryAdjustment(
                inventory_item_id=item_id,
                location_id=location_id,
                quantity_name=quantity_name,
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
