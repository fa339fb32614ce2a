"""Stock quantities: adjust, move, set, connect, disconnect (the moves orders make: stock.py).

A level holds Shopify's states: available, committed, incoming, and the unavailable reserved,
damaged, safety_stock and quality_control; on hand is available + committed + unavailable.
Each change is one conditional UPDATE of the level, an UPDATE of the variant's denormalised
`inventory_quantity` by the available delta, an `inventory_adjustments` row per state moved
and an event, all in the caller's transaction; on PostgreSQL the four are one statement (see
`statements`). A state going below zero changes nothing and raises InsufficientInventory (409);
`available` may go below zero only where the variant's policy is `continue` (or its item is
not tracked), decided by the same statement. Going past PostgreSQL's INTEGER changes nothing
and raises InventoryLimitExceeded (409). A `set` with a stale compareQuantity changes nothing
and raises CompareQuantityStale (409). A soft-deleted product's items are not found (404), by
the same guarded statement.

Lock order: when one transaction changes several levels (an order with several lines), levels
are changed in ascending (inventory_item_id, location_id), the table's unique key, each item's
variant right after that item's last level; two such transactions therefore never wait on each
other in a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.inventory.errors import (
    CommittedStockPresent,
    CompareQuantityStale,
    InsufficientInventory,
    InventoryChangedConcurrently,
    InventoryItemNotFound,
    InventoryLimitExceeded,
    LevelNotConnected,
    LocationInactive,
    LocationNotFound,
)
from shopdb.inventory.reasons import checked_reason
from shopdb.inventory.repository import (
    InventoryLevelRepository,
    LevelProbe,
    LevelRow,
    LocationRepository,
    sqlstate,
)
from shopdb.kit.bounds import MAX_INT
from shopdb.models import InventoryItem
from shopdb.models.inventory import QUANTITY_STATES, UNAVAILABLE_STATES

# States a client may change by a delta or move units between. `committed` is changed by
# orders (stock.py); `on_hand` and `unavailable` are sums, not states.
ADJUSTABLE_STATES = ("available", "incoming", *UNAVAILABLE_STATES)
# Units moved into `incoming` would leave the location's stock for nowhere: incoming arrives
# by an adjustment (a transfer, a purchase order) and is moved out of it once received.
MOVE_TARGETS = ("available", *UNAVAILABLE_STATES)
# The request field a refused change names, by state, when the caller names none.
REQUEST_FIELDS = {"available": "availableAdjustment"}


@dataclass(frozen=True)
class LevelChange:
    """Deltas for one level, one per Shopify state; each moves independently.

    `by_policy`: `available` may go below zero when the variant may be sold beyond its stock
    (inventory policy `continue`, or an untracked item). Moving units out of `available` into
    another state sets it false: only units that exist can be moved. `field` names the request
    field a refusal points at (by default `availableAdjustment`, or the state's name).
    """

    inventory_item_id: int
    location_id: int
    available: int = 0
    committed: int = 0
    reason: str | None = None
    note: str | None = None
    incoming: int = 0
    reserved: int = 0
    damaged: int = 0
    safety_stock: int = 0
    quality_control: int = 0
    by_policy: bool = True
    field: str | None = None

    @classmethod
    def of(
        cls,
        inventory_item_id: int,
        location_id: int,
        deltas: Mapping[str, int],
        **options: Any,
    ) -> LevelChange:
        """A change given as {state: delta} (`options`: reason, note, by_policy, field)."""
        unknown = set(deltas) - set(QUANTITY_STATES)
        if unknown:
            raise ValueError(f"not quantity states: {sorted(unknown)}")
        given: dict[str, Any] = dict(deltas)
        return replace(cls(inventory_item_id, location_id, **options), **given)

    def deltas(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in QUANTITY_STATES}

    def field_of(self, state: str) -> str:
        return self.field or REQUEST_FIELDS.get(state) or camel(state)


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _unusable(probe: LevelProbe, item_id: int, location_id: int) -> Exception | None:
    """Why nothing at (item, location) can change, checked in the order callers see errors."""
    if probe.location_active is None:
        return LocationNotFound(location_id)
    if not probe.item_exists:
        return InventoryItemNotFound(item_id)
    if not probe.location_active:
        return LocationInactive(location_id)
    return None


def _past_bounds(after: dict[str, int], variant_total: int) -> bool:
    """Would a level's states (or its variant's total) leave PostgreSQL's INTEGER?"""
    held = sum(after[name] for name in ("committed", *UNAVAILABLE_STATES))
    return (
        after["available"] < -MAX_INT
        or held > MAX_INT
        or after["available"] + held > MAX_INT
        or after["incoming"] > MAX_INT
        or not -MAX_INT <= variant_total <= MAX_INT
    )


async def explain_refusal(
    session: AsyncSession, change: LevelChange, variant_delta: int
) -> Exception:
    """The guarded UPDATE matched nothing: say which guard it was (one more query, only now).

    When the probe cannot tell (the level moved since the refusal), the change's first
    state is named.
    """
    item_id, location_id = change.inventory_item_id, change.location_id
    probe = await InventoryLevelRepository(session).probe(item_id, location_id)
    reason = _unusable(probe, item_id, location_id)
    if reason is not None:
        return reason
    if not probe.level_exists:
        return LevelNotConnected(item_id, location_id)
    deltas = change.deltas()
    after = {name: probe.quantities[name] + deltas[name] for name in QUANTITY_STATES}
    oversells = change.by_policy and not probe.limited
    if after["available"] < 0 and deltas["available"] < 0 and not oversells:
        return InsufficientInventory(item_id, location_id, change.field_of("available"))
    for name in QUANTITY_STATES[1:]:
        if after[name] < 0:
            return InsufficientInventory(item_id, location_id, change.field_of(name))
    moved = [name for name in QUANTITY_STATES if deltas[name]] or ["available"]
    if _past_bounds(after, probe.variant_quantity + variant_delta):
        grown = [name for name in moved if deltas[name] > 0] or moved
        return InventoryLimitExceeded(item_id, location_id, change.field_of(grown[0]))
    return InsufficientInventory(item_id, location_id, change.field_of(moved[0]))


async def _explain_set_refusal(
    session: AsyncSession,
    item_id: int,
    location_id: int,
    available: int,
    compare: int | None,
    probe: LevelProbe | None = None,
) -> Exception:
    """A refused `set`: unusable, not connected, below zero for a limited variant, a stale
    `compareQuantity`, or past INTEGER (checked in the order the guards matter to a caller)."""
    if probe is None:
        probe = await InventoryLevelRepository(session).probe(item_id, location_id)
    reason = _unusable(probe, item_id, location_id)
    if reason is not None:
        return reason
    if not probe.level_exists:
        return LevelNotConnected(item_id, location_id)
    if available < 0 and available < probe.available and probe.limited:
        return InsufficientInventory(item_id, location_id, "available")
    if compare is not None and probe.available != compare:
        return CompareQuantityStale(item_id, location_id, compare)
    after = dict(probe.quantities, available=available)
    total = probe.variant_quantity + available - probe.available
    if compare is not None and not _past_bounds(after, total):
        # It held another value when the set ran, and holds the expected one again now.
        return CompareQuantityStale(item_id, location_id, compare)
    return InventoryLimitExceeded(item_id, location_id, "available")


async def change_levels(
    session: AsyncSession,
    changes: Iterable[LevelChange],
    *,
    actor: str | None = None,
) -> list[LevelRow]:
    """Apply several level changes all-or-nothing, in the deadlock-free order.

    Results come back in the order the changes were given. Each change's reason must be one
    of Shopify's (a 400 naming `reason` otherwise; None is `correction`).
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
    reason, note = checked_reason(change.reason, change.note)
    level = await InventoryLevelRepository(session).apply_change(
        change.inventory_item_id,
        change.location_id,
        deltas=change.deltas(),
        variant_delta=variant_delta,
        by_policy=change.by_policy,
        reason=reason,
        note=note,
        actor=actor,
    )
    if level is None:
        raise await explain_refusal(session, change, variant_delta)
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
    """Move `available` by `delta`, in the caller's transaction (below zero only for a
    variant that may be sold beyond its stock)."""
    return await adjust_quantity(
        session,
        inventory_item_id=inventory_item_id,
        location_id=location_id,
        name="available",
        delta=delta,
        reason=reason,
        note=note,
        actor=actor,
    )


async def adjust_quantity(
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    name: str,
    delta: int,
    reason: str | None = None,
    note: str | None = None,
    actor: str | None = None,
    field: str | None = None,
) -> LevelRow:
    """Move one state (`available`, `incoming` or an unavailable one) by `delta`, as Shopify's
    inventoryAdjustQuantities; `field` is the request field a refusal names."""
    if name not in ADJUSTABLE_STATES:
        raise ValidationFailed.on("name", f"must be one of: {', '.join(ADJUSTABLE_STATES)}")
    change = LevelChange.of(
        inventory_item_id, location_id, {name: delta}, reason=reason, note=note, field=field
    )
    (level,) = await change_levels(session, [change], actor=actor)
    return level


async def move_quantity(
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    quantity: int,
    from_name: str,
    to_name: str,
    reason: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> LevelRow:
    """Move units between two states of one level, as Shopify's inventoryMoveQuantities.

    One guarded statement: refused (409 INSUFFICIENT_INVENTORY naming `quantity`) when the
    source state holds fewer than `quantity` units, whatever the variant's policy.
    """
    if quantity < 1:
        raise ValidationFailed.on("quantity", "must be at least 1")
    if from_name not in ADJUSTABLE_STATES:
        raise ValidationFailed.on("from", f"must be one of: {', '.join(ADJUSTABLE_STATES)}")
    if to_name not in MOVE_TARGETS:
        raise ValidationFailed.on("to", f"must be one of: {', '.join(MOVE_TARGETS)}")
    if from_name == to_name:
        raise ValidationFailed.on("to", "must differ from `from`")
    change = LevelChange.of(
        inventory_item_id,
        location_id,
        {from_name: -quantity, to_name: quantity},
        reason=reason,
        note=note,
        by_policy=False,
        field="quantity",
    )
    (level,) = await change_levels(session, [change], actor=actor)
    return level


async def set_available(
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    available: int,
    compare_quantity: int | None = None,
    reason: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> LevelRow:
    """Shopify's inventory_levels/set: absolute, and connects the level when it is missing.

    With `compare_quantity`, Shopify's compare-and-set: the level must hold exactly that many
    available units (a missing level holds 0), checked by the same guarded statement that
    writes (409 COMPARE_QUANTITY_STALE otherwise, and nothing changes). Setting the value the
    level already holds writes nothing (no new version, no log row, no event), in the same
    single statement: re-importing an unchanged file must leave no trace.
    """
    levels = InventoryLevelRepository(session)
    stored_reason, stored_note = checked_reason(reason, note)

    async def apply() -> tuple[LevelRow, int] | None:
        return await levels.apply_set(
            inventory_item_id,
            location_id,
            available,
            compare=compare_quantity,
            reason=stored_reason,
            note=stored_note,
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
        if probe.level_exists:
            raise await _explain_set_refusal(
                session, inventory_item_id, location_id, available, compare_quantity, probe
            )
        if await levels.connect(inventory_item_id, location_id) is not None:
            _connected_event(session, inventory_item_id, location_id, actor)
        outcome = await apply()
        if outcome is None:  # disconnected or deactivated meanwhile, or a guard
            raise await _explain_set_refusal(
                session, inventory_item_id, location_id, available, compare_quantity
            )
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
    """Remove the level; its stock leaves the variant's total and the log says so, state by
    state (reason `correction`, noted as a disconnection).

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
    reason, note = checked_reason("disconnect", None)
    for name in QUANTITY_STATES:
        if removed.quantity(name):
            levels.log(inventory_item_id, location_id, -removed.quantity(name), reason, note, name)
    await levels.add_to_variant_quantity(inventory_item_id, -removed.available)
    record_event(
        session,
        topic="inventory_levels/disconnect",
        subject_type="InventoryLevel",
        subject_id=removed.id,
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
