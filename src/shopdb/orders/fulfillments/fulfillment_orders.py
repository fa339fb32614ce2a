"""Fulfillment orders: reading them, and Shopify's request / accept / reject / close / cancel.

    open (unsubmitted) --request--> open (submitted) --accept--> in_progress (accepted)
                                                     --reject--> open (rejected) --request--> ...
    open | in_progress --close--> closed       open | in_progress --cancel--> cancelled

Fulfillments move them too (service._settle_fulfillment_orders): in_progress once some of
their units shipped, closed with fulfilled_at once none is left, and back when a cancelled
fulfillment leaves units to ship. Each action locks the order first (lock_placed), as every
change to a placed order does, then reads the fulfillment order again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.models import FulfillmentOrder, FulfillmentOrderLineItem, OrderLineItem
from shopdb.models.fulfillments import MANUAL_SERVICE_HANDLE
from shopdb.orders.errors import OrderNotFound
from shopdb.orders.fulfillments.errors import (
    FulfillmentOrderNeedsService,
    FulfillmentOrderNotFound,
    FulfillmentOrderTransition,
)
from shopdb.orders.fulfillments.repository import ACTIVE_STATUSES, FulfillmentRepository
from shopdb.orders.fulfillments.schemas import (
    FulfillmentOrderLineRead,
    FulfillmentOrderRead,
    FulfillmentRequestInput,
)
from shopdb.orders.fulfillments.service import fulfillable
from shopdb.orders.repository import OrderRepository


def fulfillment_order_read(
    fulfillment_order: FulfillmentOrder,
    lines: list[tuple[FulfillmentOrderLineItem, OrderLineItem]],
) -> FulfillmentOrderRead:
    active = fulfillment_order.status in ACTIVE_STATUSES
    return FulfillmentOrderRead(
        id=fulfillment_order.id,
        order_id=fulfillment_order.order_id,
        status=fulfillment_order.status,
        request_status=fulfillment_order.request_status,
        fulfillment_service_id=fulfillment_order.fulfillment_service_id,
        assigned_location_id=fulfillment_order.assigned_location_id,
        destination=fulfillment_order.destination,
        requested_at=fulfillment_order.requested_at,
        fulfilled_at=fulfillment_order.fulfilled_at,
        line_items=[
            FulfillmentOrderLineRead(
                id=fo_line.id,
                line_item_id=fo_line.line_item_id,
                quantity=fo_line.quantity,
                fulfillable_quantity=(
                    max(0, min(fo_line.quantity, fulfillable(line))) if active else 0
                ),
            )
            for fo_line, line in lines
        ],
        created_at=fulfillment_order.created_at,
        updated_at=fulfillment_order.updated_at,
    )


async def _reads(
    repository: FulfillmentRepository, fulfillment_orders: list[FulfillmentOrder]
) -> list[FulfillmentOrderRead]:
    lines = await repository.fulfillment_order_lines([fo.id for fo in fulfillment_orders])
    grouped: dict[int, list[tuple[FulfillmentOrderLineItem, OrderLineItem]]] = {}
    for fo_line, line in lines:
        grouped.setdefault(fo_line.fulfillment_order_id, []).append((fo_line, line))
    return [fulfillment_order_read(fo, grouped.get(fo.id, [])) for fo in fulfillment_orders]


async def fulfillment_orders_of(session: AsyncSession, order_id: int) -> list[FulfillmentOrderRead]:
    repository = FulfillmentRepository(session)
    if not await repository.placed_order_exists(order_id):
        raise OrderNotFound(order_id)
    found = await repository.fulfillment_orders(FulfillmentOrder.order_id == order_id)
    return await _reads(repository, found)


async def get_fulfillment_order(
    session: AsyncSession, fulfillment_order_id: int
) -> FulfillmentOrderRead:
    repository = FulfillmentRepository(session)
    found = await repository.fulfillment_order(fulfillment_order_id)
    if found is None:
        raise FulfillmentOrderNotFound(fulfillment_order_id)
    return (await _reads(repository, [found]))[0]


async def _locked(session: AsyncSession, fulfillment_order_id: int) -> FulfillmentOrder:
    """The fulfillment order, read again once its order's row is locked."""
    repository = FulfillmentRepository(session)
    found = await repository.fulfillment_order(fulfillment_order_id)
    if found is None:
        raise FulfillmentOrderNotFound(fulfillment_order_id)
    if await OrderRepository(session).lock_placed(found.order_id) is None:
        raise FulfillmentOrderNotFound(fulfillment_order_id)
    locked = await repository.fulfillment_order(fulfillment_order_id)
    if locked is None:
        raise FulfillmentOrderNotFound(fulfillment_order_id)
    return locked


def _require(
    fulfillment_order: FulfillmentOrder,
    action: str,
    *,
    statuses: tuple[str, ...],
    request_statuses: tuple[str, ...] | None = None,
) -> None:
    if fulfillment_order.status not in statuses or (
        request_statuses is not None and fulfillment_order.request_status not in request_statuses
    ):
        raise FulfillmentOrderTransition(
            action, fulfillment_order.status, fulfillment_order.request_status
        )


async def _done(
    session: AsyncSession,
    fulfillment_order: FulfillmentOrder,
    topic: str,
    message: str | None,
    now: datetime,
    actor: str | None,
) -> FulfillmentOrderRead:
    fulfillment_order.updated_at = now
    await session.flush()
    read = (await _reads(FulfillmentRepository(session), [fulfillment_order]))[0]
    body = read.model_dump(mode="json", by_alias=True)
    if message is not None:
        body["message"] = message
    record_event(
        session,
        topic=topic,
        subject_type="FulfillmentOrder",
        subject_id=fulfillment_order.id,
        body=body,
        actor=actor,
    )
    return read


async def request_fulfillment(
    session: AsyncSession,
    fulfillment_order_id: int,
    data: FulfillmentRequestInput,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentOrderRead:
    """Ask a fulfillment service to ship it (the one named, else the one it has)."""
    fulfillment_order = await _locked(session, fulfillment_order_id)
    _require(
        fulfillment_order,
        "request",
        statuses=("open",),
        request_statuses=("unsubmitted", "rejected"),
    )
    repository = FulfillmentRepository(session)
    service_id = data.fulfillment_service_id or fulfillment_order.fulfillment_service_id
    service = await repository.service(service_id)
    if service is None:
        raise ValidationFailed.on("fulfillmentServiceId", "does not exist")
    if service.handle == MANUAL_SERVICE_HANDLE:
        raise FulfillmentOrderNeedsService
    fulfillment_order.fulfillment_service_id = service.id
    fulfillment_order.request_status = "submitted"
    fulfillment_order.requested_at = now
    return await _done(
        session,
        fulfillment_order,
        "fulfillment_orders/fulfillment_request_submitted",
        data.message,
        now,
        actor,
    )


async def accept_request(
    session: AsyncSession,
    fulfillment_order_id: int,
    message: str | None,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentOrderRead:
    fulfillment_order = await _locked(session, fulfillment_order_id)
    _require(fulfillment_order, "accept", statuses=("open",), request_statuses=("submitted",))
    fulfillment_order.request_status = "accepted"
    fulfillment_order.status = "in_progress"
    return await _done(
        session,
        fulfillment_order,
        "fulfillment_orders/fulfillment_request_accepted",
        message,
        now,
        actor,
    )


async def reject_request(
    session: AsyncSession,
    fulfillment_order_id: int,
    message: str | None,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentOrderRead:
    fulfillment_order = await _locked(session, fulfillment_order_id)
    _require(fulfillment_order, "reject", statuses=("open",), request_statuses=("submitted",))
    fulfillment_order.request_status = "rejected"
    return await _done(
        session,
        fulfillment_order,
        "fulfillment_orders/fulfillment_request_rejected",
        message,
        now,
        actor,
    )


async def close_fulfillment_order(
    session: AsyncSession,
    fulfillment_order_id: int,
    message: str | None,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentOrderRead:
    """Closed without shipping what is left (Shopify's incomplete fulfillment): a later
    fulfillment of those units opens a new fulfillment order for them."""
    fulfillment_order = await _locked(session, fulfillment_order_id)
    _require(fulfillment_order, "close", statuses=ACTIVE_STATUSES)
    fulfillment_order.status = "closed"
    if fulfillment_order.request_status in ("submitted", "accepted"):
        fulfillment_order.request_status = "closed"
    return await _done(session, fulfillment_order, "fulfillment_orders/closed", message, now, actor)


async def cancel_fulfillment_order(
    session: AsyncSession,
    fulfillment_order_id: int,
    message: str | None,
    *,
    now: datetime,
    actor: str | None = None,
) -> FulfillmentOrderRead:
    fulfillment_order = await _locked(session, fulfillment_order_id)
    _require(fulfillment_order, "cancel", statuses=ACTIVE_STATUSES)
    fulfillment_order.status = "cancelled"
    return await _done(
        session, fulfillment_order, "fulfillment_orders/cancelled", message, now, actor
    )
