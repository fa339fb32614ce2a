"""Stock quantities: adjust, set, connect, disconnect, and the moves orders make.

Each change is one conditional UPDATE of the level, an UPDATE of the variant's denormalised
`inventory_quantity` by the same delta, an `inventory_adjustments` row and an event, all in the
caller's transaction. Going below zero changes nothing and raises InsufficientInventory (409).

Lock order: when one transaction changes several levels (an order with several lines), levels
are changed in ascending (inventory_item_id, location_id), the table's unique key, and the
variants after all levels; two such transactions therefore never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.events.service import record_event
from shopdb.inventory.errors import (
    CommittedStockPresent,
    InsufficientInventory,
    InventoryItemNotFound,
    LevelNotConnected,
    LocationInactive,
    LocationNotFound,
)
from shopdb.inventory.repository import (
    InventoryItemRepository,
    InventoryLevelRepository,
    LevelRow,
    LocationRepository,
)
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


def _event_body(level: LevelRow, **extra: object) -> dict[str, object]:
    return {
        "inventoryItemId": level.inventory_item_id,
        "locationId": level.location_id,
        "available": level.available,
        "committed": level.committed,
        "onHand": level.on_hand,
        **extra,
    }


async def _explain_refusal(
    session: AsyncSession, item_id: int, location_id: int, field: str
) -> Exception:
    """The guarded UPDATE matched nothing: say which guard it was."""
    location = await LocationRepository(session).get(location_id)
    if location is None:
        return LocationNotFound(location_id)
    if not await InventoryItemRepository(session).exists(item_id):
        return InventoryItemNotFound(item_id)
    if not location.active:
        return LocationInactive(location_id)
    if await InventoryLevelRepository(session).get(item_id, location_id) is None:
        return LevelNotConnected(item_id, location_id)
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
    ordered = sorted(
        range(len(given)), key=lambda i: (given[i].inventory_item_id, given[i].location_id)
    )
    levels = InventoryLevelRepository(session)
    results: dict[int, LevelRow] = {}
    variant_deltas: dict[int, int] = {}
    async with session.begin_nested():
        for index in ordered:
            change = given[index]
            level = await levels.change(
                change.inventory_item_id, change.location_id, change.available, change.committed
            )
            if level is None:
                field = "availableAdjustment" if change.available < 0 else "committed"
                raise await _explain_refusal(
                    session, change.inventory_item_id, change.location_id, field
                )
            results[index] = level
            if change.available:
                variant_deltas[change.inventory_item_id] = (
                    variant_deltas.get(change.inventory_item_id, 0) + change.available
                )
                levels.log(
                    change.inventory_item_id,
                    change.location_id,
                    change.available,
                    change.reason or DEFAULT_REASON,
                    change.note,
                )
            record_event(
                session,
                topic="inventory_levels/update",
                subject_type="InventoryLevel",
                subject_id=level.id,
                body=_event_body(
                    level,
                    availableDelta=change.available,
                    committedDelta=change.committed,
                    reason=change.reason or DEFAULT_REASON,
                ),
                actor=actor,
            )
        # Variants after every level, in item order (variants are 1:1 with items).
        for item_id in sorted(variant_deltas):
            await levels.add_to_variant_quantity(item_id, variant_deltas[item_id])
    return [results[i] for i in range(len(given))]


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
    (level,) = await change_levels(
        session,
        [LevelChange(inventory_item_id, location_id, available=delta, reason=reason, note=note)],
        actor=actor,
    )
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
    """Shopify's inventory_levels/set: absolute, and connects the level when it is missing."""
    await _require(session, inventory_item_id, location_id, active=True)
    levels = InventoryLevelRepository(session)
    async with session.begin_nested():
        if await levels.connect(inventory_item_id, location_id):
            _connected_event(session, inventory_item_id, location_id, actor)
        outcome = await levels.set_available(inventory_item_id, location_id, available)
        if outcome is None:
            raise await _explain_refusal(session, inventory_item_id, location_id, "available")
        level, delta = outcome
        if delta:
            levels.log(inventory_item_id, location_id, delta, reason or DEFAULT_REASON, note)
            await levels.add_to_variant_quantity(inventory_item_id, delta)
        record_event(
            session,
            topic="inventory_levels/update",
            subject_type="InventoryLevel",
            subject_id=level.id,
            body=_event_body(level, availableDelta=delta, reason=reason or DEFAULT_REASON),
            actor=actor,
        )
    return level


async def connect(
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    actor: str | None = None,
) -> tuple[LevelRow, bool]:
    """Stock the item at the location (at zero); idempotent. Returns (level, created)."""
    await _require(session, inventory_item_id, location_id, active=True)
    levels = InventoryLevelRepository(session)
    created = await levels.connect(inventory_item_id, location_id)
    if created:
        _connected_event(session, inventory_item_id, location_id, actor)
    level = await levels.get(inventory_item_id, location_id)
    assert level is not None
    return level, created


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
    await _require(session, inventory_item_id, location_id, active=False)
    levels = InventoryLevelRepository(session)
    existing = await levels.get(inventory_item_id, location_id)
    if existing is None:
        raise LevelNotConnected(inventory_item_id, location_id)
    async with session.begin_nested():
        available = await levels.disconnect(inventory_item_id, location_id)
        if available is None:
            raise CommittedStockPresent(inventory_item_id, location_id)
        if available:
            levels.log(inventory_item_id, location_id, -available, "disconnect", None)
            await levels.add_to_variant_quantity(inventory_item_id, -available)
        record_event(
            session,
            topic="inventory_levels/disconnect",
            subject_type="InventoryLevel",
            subject_id=existing.id,
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


async def _require(
    session: AsyncSession, inventory_item_id: int, location_id: int, *, active: bool
) -> None:
    location = await LocationRepository(session).get(location_id)
    if location is None:
        raise LocationNotFound(location_id)
    if not await InventoryItemRepository(session).exists(inventory_item_id):
        raise InventoryItemNotFound(inventory_item_id)
    if active and not location.active:
        raise LocationInactive(location_id)


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
