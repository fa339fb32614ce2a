"""Fulfilling a placed order: ship units, update tracking, cancel a shipment.

The source of truth is `fulfillments_enhanced` with its `fulfillment_line_items` (it knows
which lines and how many units); each fulfillment has one `order_fulfillments` row naming it
(`fulfillment_id`: status, the first tracking number and URL), written and updated in the
same transaction. A line's `fulfilled_quantity` moves only by guarded UPDATEs under the
order's row lock (OrderRepository.lock_placed): never beyond quantity - removed.

Stock: shipping a line takes its units out of `committed` at the location they were
committed at when the order was placed (inventory.stock.fulfill_committed; on hand drops);
cancelling the fulfillment puts them back there, committed to the order again. Untracked
lines (no inventory item) move no stock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.inventory.stock import StockLine, fulfill_committed, unfulfill_committed
from shopdb.jobs.kinds import ORDERS_SHIPPING_CONFIRMATION_EMAIL
from shopdb.jobs.queue import enqueue
from shopdb.kit.types import utcnow
from shopdb.models import (
    FulfillmentEnhanced,
    FulfillmentLineItem,
    FulfillmentOrder,
    Order,
    OrderFulfillment,
    OrderLineItem,
)
from shopdb.orders.errors import OrderNotFound
from shopdb.orders.fulfillments.errors import (
    FulfillmentCancelled,
    FulfillmentExceedsFulfillable,
    FulfillmentLocationMismatch,
    FulfillmentNotFound,
    FulfillmentUnitsReturned,
    LineItemNotInOrder,
    NothingToFulfil,
    OrderCancelled,
)
from shopdb.orders.fulfillments.repository import (
    ACTIVE_STATUSES,
    FulfillmentRepository,
    NewFulfillmentOrder,
)
from shopdb.orders.fulfillments.schemas import (
    FulfillmentCreate,
    FulfillmentLineRead,
    FulfillmentRead,
    FulfillmentUpdate,
)
from shopdb.orders.repository import OrderRepository


def fulfillable(line: OrderLineItem) -> int:
    """Units of the line still to ship: ordered - fulfilled - removed (refunded or cancelled
    before shipping)."""
    return line.quantity - (line.fulfilled_quantity or 0) - (line.removed_quantity or 0)


def fulfillment_status_of(lines: list[OrderLineItem]) -> str:
    """unfulfilled (nothing shipped), partial, or fulfilled (every unit not removed shipped:
    fulfilled + removed == quantity on every line, so refunding or cancelling the last
    unshipped units after a partial shipment makes the order fulfilled). An order whose
    every unit was removed unshipped stays unfulfilled: Shopify's `restocked` status is
    legacy, "replaced by UNFULFILLED" (shopify.dev OrderFulfillmentStatus)."""
    fulfilled = sum(line.fulfilled_quantity or 0 for line in lines)
    if fulfilled == 0:
        return "unfulfilled"
    if any(fulfillable(line) > 0 for line in lines):
        return "partial"
    return "fulfilled"


def fulfillment_read(fulfillment: FulfillmentEnhanced) -> FulfillmentRead:
    return FulfillmentRead(
        id=fulfillment.id,
        order_id=fulfillment.order_id,
        status=fulfillment.status,
        location_id=fulfillment.location_id,
        tracking_company=fulfillment.tracking_company,
        tracking_numbers=list(fulfillment.tracking_numbers or []),
        tracking_urls=list(fulfillment.tracking_urls or []),
        line_items=[
            FulfillmentLineRead(id=line.line_item_id, quantity=line.quantity)
            for line in fulfillment.line_items
        ],
        created_at=fulfillment.created_at,
        updated_at=fulfillment.updated_at,
    )


async def fulfillments_of(session: AsyncSession, order_id: int) -> list[FulfillmentRead]:
    """An order's fulfillments, oldest first (the order detail's `fulfillments`)."""
    return [
        fulfillment_read(f) for f in await FulfillmentRepository(session).fulfillments_of(order_id)
    ]


async def list_fulfillments(session: AsyncSession, order_id: int) -> list[FulfillmentRead]:
    if not await FulfillmentRepository(session).placed_order_exists(order_id):
        raise OrderNotFound(order_id)
    return await fulfillments_of(session, order_id)


async def get_fulfillment(
    session: AsyncSession, order_id: int, fulfillment_id: int
) -> FulfillmentRead:
    found = await FulfillmentRepository(session).fulfillment(order_id, fulfillment_id)
    if found is None:
        raise FulfillmentNotFound(fulfillment_id)
    return fulfillment_read(found)


# --- fulfillment orders at placement -------------------------------------------------------


async def open_fulfillment_orders(
    session: AsyncSession, order: Order, lines: list[OrderLineItem]
) -> None:
    """One open fulfillment order per location the lines' units were committed at (the
    location's fulfillment service if one names it, else the built-in `manual` service),
    with a line item per order line; untracked lines join the first location's (or, with
    no stocked line at all, one of their own). Two INSERTs whatever the order's size: it
    runs in every placement."""
    located: dict[int | None, dict[int, int]] = {}
    untracked: dict[int, int] = {}
    for line in lines:
        units = fulfillable(line)
        if units <= 0:
            continue
        if line.location_id is None:
            untracked[line.id] = units
        else:
            located.setdefault(line.location_id, {})[line.id] = units
    if untracked:
        first = min((k for k in located if k is not None), default=None)
        located.setdefault(first, {}).update(untracked)
    groups = [NewFulfillmentOrder(location_id, units) for location_id, units in located.items()]
    await FulfillmentRepository(session).open_fulfillment_orders(
        order.id, groups, order.shipping_address, utcnow()
    )


async def reopen_fulfillment_orders(
    session: AsyncSession, order: Order, lines: list[OrderLineItem]
) -> None:
    """The just placed order's fulfillment orders opened again, after its lines moved to other
    locations than those they were opened for (its stock ran out at the first choice while
    it was placed): nothing has happened to them yet."""
    await FulfillmentRepository(session).delete_fulfillment_orders(order.id)
    await open_fulfillment_orders(session, order, lines)


# --- fulfilling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pick:
    line: OrderLineItem
    quantity: int
    field: str


def _picks(order: Order, data: FulfillmentCreate) -> list[_Pick]:
    lines = {line.id: line for line in order.line_items}
    if data.line_items is None:
        picks = [
            _Pick(line, fulfillable(line), "lineItems")
            for line in order.line_items
            if fulfillable(line) > 0
            and (data.location_id is None or line.location_id in (None, data.location_id))
        ]
        if not picks:
            raise NothingToFulfil
        return picks
    picks = []
    for index, wanted in enumerate(data.line_items):
        field = f"lineItems[{index}]"
        line = lines.get(wanted.id)
        if line is None:
            raise LineItemNotInOrder(wanted.id, f"{field}.id")
        if wanted.quantity > fulfillable(line):
            raise FulfillmentExceedsFulfillable(line.id, fulfillable(line), f"{field}.quantity")
        if (
            data.location_id is not None
            and line.location_id is not None
            and line.location_id != data.location_id
        ):
            raise FulfillmentLocationMismatch(line.id, line.location_id, f"{field}.id")
        picks.append(_Pick(line, wanted.quantity, f"{field}.quantity"))
    return picks


def _location_of(picks: list[_Pick], requested: int | None) -> int | None:
    """The requested location, else the one the picked lines are stocked at; None when
    they span several (each line's units still leave from where they were committed)."""
    if requested is not None:
        return requested
    located = {p.line.location_id for p in picks if p.line.location_id is not None}
    return located.pop() if len(located) == 1 else None


async def create_fulfillment(
    session: AsyncSession,
    order_id: int,
    data: FulfillmentCreate,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentRead:
    """Ship `data.line_items` (omitted: every unit left to ship) of a placed order."""
    order = await OrderRepository(session).lock_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    if order.cancelled_at is not None:
        raise OrderCancelled
    repository = FulfillmentRepository(session)
    if data.location_id is not None and not await repository.location_exists(data.location_id):
        raise ValidationFailed.on("locationId", "does not exist")
    picks = sorted(_picks(order, data), key=lambda p: p.line.id)
    # Before the units move: a line not yet in an active fulfillment order (an order placed
    # before fulfillment orders existed, or whose order was closed) gets one for what is left.
    await _cover(repository, order, [p.line for p in picks])
    for pick in picks:
        if await repository.add_fulfilled(pick.line.id, pick.quantity) is None:
            # The order's lock makes this unreachable; the guard stays the last word.
            raise FulfillmentExceedsFulfillable(pick.line.id, fulfillable(pick.line), pick.field)
    stock = [
        StockLine(p.line.inventory_item_id, p.line.location_id, p.quantity, p.field)
        for p in picks
        if p.line.inventory_item_id is not None and p.line.location_id is not None
    ]
    if stock:
        await fulfill_committed(session, stock, note=f"order {order.number} fulfilled", actor=actor)
    location_id = _location_of(picks, data.location_id)
    number = await repository.fulfillment_count(order.id) + 1
    fulfillment = FulfillmentEnhanced(
        order_id=order.id,
        status="success",
        name=f"{order.number}.{number}",
        location_id=location_id,
        tracking_company=data.tracking_company,
        tracking_numbers=list(data.tracking_numbers or []),
        tracking_urls=list(data.tracking_urls or []),
        created_at=now,
        updated_at=now,
        line_items=[
            FulfillmentLineItem(line_item_id=p.line.id, quantity=p.quantity) for p in picks
        ],
    )
    mirror = OrderFulfillment(order_id=order.id, shipped_at=now, created_at=now, updated_at=now)
    _mirror(mirror, fulfillment)
    await repository.add_fulfillment(fulfillment, mirror)
    await _settle_fulfillment_orders(repository, [p.line.id for p in picks], now)
    read = fulfillment_read(fulfillment)
    record_event(
        session,
        topic="fulfillments/create",
        subject_type="Fulfillment",
        subject_id=fulfillment.id,
        body=read.model_dump(mode="json", by_alias=True),
        actor=actor,
    )
    follow_fulfillment_status(session, order, now, actor, shipped=True)
    if data.notify_customer:
        await _notify(session, order.id, fulfillment.id, actor)
    return read


async def update_fulfillment(
    session: AsyncSession,
    order_id: int,
    fulfillment_id: int,
    data: FulfillmentUpdate,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentRead:
    """New tracking details (each field given replaces the stored one)."""
    order, fulfillment = await _locked(session, order_id, fulfillment_id)
    if fulfillment.status == "cancelled":
        raise FulfillmentCancelled(fulfillment.id)
    given = data.model_fields_set
    if "tracking_company" in given:
        fulfillment.tracking_company = data.tracking_company
    if "tracking_numbers" in given:
        fulfillment.tracking_numbers = list(data.tracking_numbers or [])
    if "tracking_urls" in given:
        fulfillment.tracking_urls = list(data.tracking_urls or [])
    fulfillment.updated_at = now
    await _update_mirror(FulfillmentRepository(session), fulfillment, now)
    read = fulfillment_read(fulfillment)
    _fulfillment_updated(session, read, actor)
    if data.notify_customer:
        await _notify(session, order.id, fulfillment.id, actor)
    return read


async def cancel_fulfillment(
    session: AsyncSession,
    order_id: int,
    fulfillment_id: int,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentRead:
    """The shipment did not happen: its units are fulfillable again, committed at their
    location again, and the order's fulfillment status goes back. 422
    FULFILLMENT_UNITS_RETURNED if that would leave a line fewer fulfilled units than were
    refunded or returned since they shipped."""
    order, fulfillment = await _locked(session, order_id, fulfillment_id)
    if fulfillment.status == "cancelled":
        raise FulfillmentCancelled(fulfillment.id)
    repository = FulfillmentRepository(session)
    lines = {line.id: line for line in order.line_items}
    # Refused rather than clamped: a unit refunded or returned after it shipped must stay
    # shipped, or the refunds would count it as unfulfilled and refund it a second time.
    taken = await repository.shipped_units_taken([i.line_item_id for i in fulfillment.line_items])
    for item in fulfillment.line_items:
        left = (lines[item.line_item_id].fulfilled_quantity or 0) - item.quantity
        if left < taken.get(item.line_item_id, 0):
            raise FulfillmentUnitsReturned(item.line_item_id, taken[item.line_item_id], left)
    stock = []
    for item in sorted(fulfillment.line_items, key=lambda i: i.line_item_id):
        line = await repository.remove_fulfilled(item.line_item_id, item.quantity)
        if line is None:
            raise FulfillmentCancelled(fulfillment.id)  # not reachable: its units are counted
        lines[line.id] = line
        if line.inventory_item_id is not None and line.location_id is not None:
            stock.append(
                StockLine(line.inventory_item_id, line.location_id, item.quantity, "lineItems")
            )
    if stock:
        await unfulfill_committed(
            session, stock, note=f"order {order.number} fulfillment cancelled", actor=actor
        )
    fulfillment.status = "cancelled"
    fulfillment.updated_at = now
    await _update_mirror(repository, fulfillment, now)
    await _settle_fulfillment_orders(
        repository, [i.line_item_id for i in fulfillment.line_items], now
    )
    read = fulfillment_read(fulfillment)
    _fulfillment_updated(session, read, actor)
    previous = order.fulfillment_status
    if follow_fulfillment_status(session, order, now, actor):
        _status_went_back(session, order, previous, actor)
    return read


async def _locked(
    session: AsyncSession, order_id: int, fulfillment_id: int
) -> tuple[Order, FulfillmentEnhanced]:
    order = await OrderRepository(session).lock_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    fulfillment = await FulfillmentRepository(session).fulfillment(order_id, fulfillment_id)
    if fulfillment is None:
        raise FulfillmentNotFound(fulfillment_id)
    return order, fulfillment


def _mirror(mirror: OrderFulfillment, fulfillment: FulfillmentEnhanced) -> None:
    """order_fulfillments states what its one tracking number and URL can hold."""
    mirror.status = fulfillment.status
    mirror.tracking_company = fulfillment.tracking_company
    mirror.tracking_number = (fulfillment.tracking_numbers or [None])[0]
    mirror.tracking_url = (fulfillment.tracking_urls or [None])[0]


async def _update_mirror(
    repository: FulfillmentRepository, fulfillment: FulfillmentEnhanced, now: datetime
) -> None:
    mirror = await repository.mirror_of(fulfillment.id)
    if mirror is None:  # a fulfillment older than the mirror link (migration 0022): add it
        mirror = OrderFulfillment(order_id=fulfillment.order_id, fulfillment_id=fulfillment.id)
        repository.session.add(mirror)
    _mirror(mirror, fulfillment)
    mirror.updated_at = now


def _fulfillment_updated(session: AsyncSession, read: FulfillmentRead, actor: str | None) -> None:
    record_event(
        session,
        topic="fulfillments/update",
        subject_type="Fulfillment",
        subject_id=read.id,
        body=read.model_dump(mode="json", by_alias=True),
        actor=actor,
    )


def follow_fulfillment_status(
    session: AsyncSession,
    order: Order,
    now: datetime,
    actor: str | None,
    *,
    shipped: bool = False,
) -> bool:
    """The order's fulfillment status from its lines (the caller moved their units), with the
    transition's event, whichever change moved it: a shipment, a cancelled shipment, or units
    taken off unshipped (a refund, a return's refund, a cancellation) after the rest shipped.
    Becoming `fulfilled` records orders/fulfilled, once per time it becomes so; becoming
    `partial` records orders/partially_fulfilled, as does every shipment that leaves the
    order partly shipped (`shipped`: the caller shipped units). True when the status moved.
    Call it under the order's lock (OrderRepository.lock_placed)."""
    before = order.fulfillment_status
    after = fulfillment_status_of(list(order.line_items))
    if after != before:
        order.fulfillment_status = after
        order.updated_at = now
    if after == "fulfilled" and before != "fulfilled":
        topic = "orders/fulfilled"
    elif after == "partial" and (before != "partial" or shipped):
        topic = "orders/partially_fulfilled"
    else:
        return after != before
    body: dict[str, Any] = {
        "id": order.id,
        "number": order.number,
        "fulfillmentStatus": after,
        "previousFulfillmentStatus": before,
    }
    record_event(
        session, topic=topic, subject_type="Order", subject_id=order.id, body=body, actor=actor
    )
    return after != before


def _status_went_back(
    session: AsyncSession, order: Order, previous: str, actor: str | None
) -> None:
    """orders/updated for a cancelled shipment that moved the status back (besides the
    transition's own event, if it has one)."""
    body: dict[str, Any] = {
        "id": order.id,
        "number": order.number,
        "fulfillmentStatus": order.fulfillment_status,
        "previousFulfillmentStatus": previous,
    }
    record_event(
        session,
        topic="orders/updated",
        subject_type="Order",
        subject_id=order.id,
        body=body,
        actor=actor,
    )


async def _notify(
    session: AsyncSession, order_id: int, fulfillment_id: int, actor: str | None
) -> None:
    await enqueue(
        session,
        ORDERS_SHIPPING_CONFIRMATION_EMAIL,
        {"orderId": order_id, "fulfillmentId": fulfillment_id},
        actor=actor,
    )


# --- fulfillment orders follow the fulfillments --------------------------------------------


async def _cover(
    repository: FulfillmentRepository, order: Order, lines: list[OrderLineItem]
) -> None:
    covered = await repository.covered_lines([line.id for line in lines])
    missing = [line for line in lines if line.id not in covered]
    if missing:
        await open_fulfillment_orders(repository.session, order, missing)


async def settle_fulfillment_orders(
    session: AsyncSession, line_ids: list[int], now: datetime
) -> None:
    """For the refunds and cancel work: after units of these lines were removed (refunded
    or cancelled unshipped), close the fulfillment orders with nothing left to ship."""
    await _settle_fulfillment_orders(FulfillmentRepository(session), line_ids, now)


async def cancel_fulfillment_orders(session: AsyncSession, order_id: int, now: datetime) -> None:
    """For the order's cancellation: its open and in-progress fulfillment orders are
    cancelled (one UPDATE); those closed keep their history."""
    await FulfillmentRepository(session).cancel_active_fulfillment_orders(order_id, now)


async def _settle_fulfillment_orders(
    repository: FulfillmentRepository, line_ids: list[int], now: datetime
) -> None:
    """Move the fulfillment orders of these lines to where their lines now are: closed
    (fulfilled_at set) once nothing of them is left to ship, in progress once some of them
    shipped, and back from closed when a cancelled fulfillment leaves units to ship again."""
    orders = await repository.fulfillment_orders_handling(line_ids)
    lines = await repository.fulfillment_order_lines([fo.id for fo in orders])
    by_order: dict[int, list[OrderLineItem]] = {}
    for fo_line, line in lines:
        by_order.setdefault(fo_line.fulfillment_order_id, []).append(line)
    for fulfillment_order in orders:
        settle(fulfillment_order, by_order.get(fulfillment_order.id, []), now)


def settle(fulfillment_order: FulfillmentOrder, lines: list[OrderLineItem], now: datetime) -> None:
    left = sum(fulfillable(line) for line in lines)
    shipped = any((line.fulfilled_quantity or 0) > 0 for line in lines)
    status = fulfillment_order.status
    if status in ACTIVE_STATUSES:
        if left == 0:
            fulfillment_order.status = "closed"
            # Only a shipment fulfils it; one whose units were all removed just closes.
            fulfillment_order.fulfilled_at = now if shipped else None
        elif shipped or fulfillment_order.request_status == "accepted":
            fulfillment_order.status = "in_progress"
        else:
            fulfillment_order.status = "open"
    elif status == "closed" and fulfillment_order.fulfilled_at is not None and left > 0:
        fulfillment_order.fulfilled_at = None
        accepted = fulfillment_order.request_status == "accepted"
        fulfillment_order.status = "in_progress" if shipped or accepted else "open"
    if fulfillment_order.status != status:
        fulfillment_order.updated_at = now
