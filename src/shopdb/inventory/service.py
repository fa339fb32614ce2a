"""Stock quantities: adjust, set, connect, disconnect, and the moves orders make.

Each change is one conditional UPDATE of the level, an UPDATE of the variant's denormalised
`inventory_quantity` by the same delta, an `inventory_adjustments` row and an event, all in the
caller's transaction; on PostgreSQL the four are one statement (see `statements`). Going below
zero changes nothing and raises InsufficientInventory (409); going past PostgreSQL's INTEGER (a
level's on-hand or the variant's total) changes nothing and raises InventoryLimitExceeded
(409). A soft-deleted product's items are not found (404), by the same guarded statement.

Lock order: when one transaction changes several levels (an order with several lines), levels
are changed in ascending (inventory_item_id, location_id), the table's unique key, each item's
variant right after that item's last level; two such transactions therefore never wait on each
other in a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.events.service import record_event
from shopdb.inventory.errors import (
    CommittedStockPresent,
    InsufficientInventory,
    InventoryChangedConcurrently,
    InventoryItemNotFound,
    InventoryLimitExceeded,
    LevelNotConnected,
    LocationInactive,
    LocationNotFound,
)
from shopdb.inventory.repository import (
    InventoryLevelRepository,
    LevelProbe,
    LevelRow,
    LocationRepository,
    sqlstate,
)
from shopdb.kit.bounds import MAX_INT
from shopdb.models import InventoryItem

DEFAULT_REASON = "correction"


@dataclass(frozen=True)
class LevelChange:
    """Deltas for one level: `available` and `committed` move independently."""

    inventory_item_id: int
    location_id: int
    available: int = 0
    committed: int = 0
    reason: str | None = None
    note: str | None = None


def _unusable(probe: LevelProbe, item_id: int, location_id: int) -> Exception | None:
    """Why nothing at (item, location) can change, checked in the order callers see errors."""
    if probe.location_active is None:
        return LocationNotFound(location_id)
    if not probe.item_exists:
        return InventoryItemNotFound(item_id)
    if not probe.location_active:
        return LocationInactive(location_id)
    return None


async def explain_refusal(
    session: AsyncSession,
    item_id: int,
    location_id: int,
    field: str,
    change: tuple[int, int, int] | None = None,
) -> Exception:
    """The guarded UPDATE matched nothing: say which guard it was (one more query, only now).

    `change` is (d_available, d_committed, variant_delta) of a refused change; None for a
    refused `set`, which has no lower bound to fail (it takes a quantity >= 0), so with a
    usable level only the INTEGER bound can have refused it. `field` names the request's
    field when the probe cannot tell (the level moved since the refusal).
    """
    probe = await InventoryLevelRepository(session).probe(item_id, location_id)
    reason = _unusable(probe, item_id, location_id)
    if reason is not None:
        return reason
    if not probe.level_exists:
        return LevelNotConnected(item_id, location_id)
    if change is None:
        return InventoryLimitExceeded(item_id, location_id, field)
    d_available, d_committed, variant_delta = change
    if probe.available + d_available < 0:
        return InsufficientInventory(item_id, location_id, "availableAdjustment")
    if probe.committed + d_committed < 0:
        return InsufficientInventory(item_id, location_id, "committed")
    on_hand = probe.available + probe.committed + d_available + d_committed
    if on_hand > MAX_INT or probe.variant_quantity + variant_delta > MAX_INT:
        limit_field = "availableAdjustment" if d_available > 0 else "committed"
        return InventoryLimitExceeded(item_id, location_id, limit_field)
    return InsufficientInventory(item_id, location_id, field)


async def change_levels(
    session: AsyncSession,
    changes: Iterable[LevelChange],
    *,
    actor: str | None = None,
) -> list[LevelRow]:
    """Apply several level changes all-or-nothing, in the deadlock-free order.

    Results come back in the order the changes were given.
    """
    given = list(changes)
    try:
        if len(given) == 1:
            # One guarded statement: refused, it wrote nothing, so there is nothing to undo and
            # no savepoint to pay for (the caller's transaction rolls back on any other error).
            return [await _apply(session, given[0], given[0].available, actor)]
        async with session.begin_nested():
            return await _apply_in_lock_order(session, given, actor)
    except DBAPIError as exc:
        # Our own lock order rules out cycles among inventory changes, but a transaction that
        # locks variants first (a product edit deleting a variant) can still meet one here.
        if sqlstate(exc) in CONCURRENT_CHANGE_STATES:
            raise InventoryChangedConcurrently from exc
        raise


CONCURRENT_CHANGE_STATES = ("40P01", "40001")  # deadlock detected, serialization failure


async def _apply_in_lock_order(
    session: AsyncSession, given: list[LevelChange], actor: str | None
) -> list[LevelRow]:
    """Levels in ascending (item, location), each item's variant right after its last level.

    Every transaction thus takes its locks in one global order (an item's levels, then its
    variant, then the next item), so two of them never wait on each other in a cycle. A
    variant moves once, by the sum over its levels.
    """
    ordered = sorted(
        range(len(given)), key=lambda i: (given[i].inventory_item_id, given[i].location_id)
    )
    item_totals: dict[int, int] = {}
    last_of_item: dict[int, int] = {}
    for index in ordered:
        item_id = given[index].inventory_item_id
        item_totals[item_id] = item_totals.get(item_id, 0) + given[index].available
        last_of_item[item_id] = index
    results: dict[int, LevelRow] = {}
    for index in ordered:
        item_id = given[index].inventory_item_id
        variant_delta = item_totals[item_id] if last_of_item[item_id] == index else 0
        results[index] = await _apply(session, given[index], variant_delta, actor)
    return [results[i] for i in range(len(given))]


async def _apply(
    session: AsyncSession, change: LevelChange, variant_delta: int, actor: str | None
) -> LevelRow:
    level = await InventoryLevelRepository(session).apply_change(
        change.inventory_item_id,
        change.location_id,
        d_available=change.available,
        d_committed=change.committed,
        variant_delta=variant_delta,
        reason=change.reason or DEFAULT_REASON,
        note=change.note,
        actor=actor,
    )
    if level is None:
        field = "availableAdjustment" if change.available else "committed"
        raise await explain_refusal(
            session,
            change.inventory_item_id,
            change.location_id,
            field,
            (change.available, change.committed, variant_delta),
        )
    return level


async def adjust_available(
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    delta: int,
    reason: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> LevelRow:
    """Move `available` by `delta`, in the caller's transaction."""
    change = LevelChange(inventory_item_id, location_id, delta, reason=reason, note=note)
    (level,) = await change_levels(session, [change], actor=actor)
    return level


async def set_available(
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    available: int,
    reason: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> LevelRow:
    """Shopify's inventory_levels/set: absolute, and connects the level when it is missing.

    Setting the value the level already holds writes nothing (no new version, no log row, no
    event), in the same single statement: re-importing an unchanged file must leave no trace.
    """
    levels = InventoryLevelRepository(session)

    async def apply() -> tuple[LevelRow, int] | None:
        return await levels.apply_set(
            inventory_item_id,
            location_id,
            available,
            reason=reason or DEFAULT_REASON,
            note=note,
            actor=actor,
        )

    # The level usually exists: try the set first, and only when it matched nothing find out
    # why, connect the level if that was all, and set again.
    outcome = await apply()
    if outcome is None:
        probe = await levels.probe(inventory_item_id, location_id)
        unusable = _unusable(probe, inventory_item_id, location_id)
        if unusable is not None:
            raise unusable
        if await levels.connect(inventory_item_id, location_id) is not None:
            _connected_event(session, inventory_item_id, location_id, actor)
        outcome = await apply()
        if outcome is None:  # disconnected or deactivated meanwhile
            raise await explain_refusal(session, inventory_item_id, location_id, "available")
    level, _ = outcome
    return level


async def levels_of_items(
    session: AsyncSession,
    inventory_item_ids: Sequence[int],
    *,
    location_id: int | None = None,
    lock: bool = False,
) -> list[LevelRow]:
    """Read-only: the items' levels (at one location when given), in (item, location) order.

    With `lock`, the levels stay as read until commit (a caller about to delete the items
    checks their committed units).
    """
    return await InventoryLevelRepository(session).of_items(
        inventory_item_ids, location_id=location_id, lock=lock
    )


async def connect(
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    actor: str | None = None,
) -> tuple[LevelRow, bool]:
    """Stock the item at the location (at zero); idempotent. Returns (level, created)."""
    levels = InventoryLevelRepository(session)
    probe = await levels.probe(inventory_item_id, location_id)
    unusable = _unusable(probe, inventory_item_id, location_id)
    if unusable is not None:
        raise unusable
    if not probe.level_exists:
        created = await levels.connect(inventory_item_id, location_id)
        if created is not None:
            _connected_event(session, inventory_item_id, location_id, actor)
            return created, True
    level = await levels.get(inventory_item_id, location_id)
    assert level is not None
    return level, False


async def disconnect(
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    actor: str | None = None,
) -> None:
    """Remove the level; its available stock leaves the variant's total and the log says so.

    A level with committed (ordered, unfulfilled) units cannot go: those orders need it.
    """
    levels = InventoryLevelRepository(session)
    probe = await levels.probe(inventory_item_id, location_id)
    if probe.location_active is None:
        raise LocationNotFound(location_id)
    if not probe.item_exists:
        raise InventoryItemNotFound(inventory_item_id)
    if not probe.level_exists:
        raise LevelNotConnected(inventory_item_id, location_id)
    # The DELETE is guarded and comes first: refused, nothing has been written.
    removed = await levels.disconnect(inventory_item_id, location_id)
    if removed is None:
        raise CommittedStockPresent(inventory_item_id, location_id)
    level_id, available = removed
    if available:
        levels.log(inventory_item_id, location_id, -available, "disconnect", None)
        await levels.add_to_variant_quantity(inventory_item_id, -available)
    record_event(
        session,
        topic="inventory_levels/disconnect",
        subject_type="InventoryLevel",
        subject_id=level_id,
        body={"inventoryItemId": inventory_item_id, "locationId": location_id},
        actor=actor,
    )


def _connected_event(
    session: AsyncSession, inventory_item_id: int, location_id: int, actor: str | None
) -> None:
    record_event(
        session,
        topic="inventory_levels/connect",
        subject_type="InventoryItem",
        subject_id=inventory_item_id,
        body={"inventoryItemId": inventory_item_id, "locationId": location_id},
        actor=actor,
    )


def new_inventory_item(
    sku: str | None, *, cost: Decimal | None = None, tracked: bool = True
) -> InventoryItem:
    """The inventory item a new variant gets (one to one); the caller attaches it."""
    return InventoryItem(sku=sku, cost=cost, tracked=tracked)


async def default_location_id(session: AsyncSession) -> int | None:
    """Where new variants are stocked: the first active location, as Shopify's default."""
    location = await LocationRepository(session).first_active()
    return None if location is None else location.id


async def stock_new_items(
    session: AsyncSession, location_id: int, items: Iterable[tuple[int, int]]
) -> None:
    """Connect just-created inventory items at a location with their initial `available`.

    Only for items created in this transaction (nobody else can see them yet), so plain
    INSERTs are safe; the caller has set each variant's inventory_quantity to the same number.
    """
    levels = InventoryLevelRepository(session)
    for item_id, quantity in items:
        levels.add_level(item_id, location_id, quantity)
        if quantity:
            levels.log(item_id, location_id, quantity, "received", "initial stock")
