"""State transitions of a placed order: cancel, close, reopen.

Cancelling (Shopify's orders/{id}/cancel), under the order's lock, all in the request's
transaction:
1. An order with fulfilled units not refunded is refused (422 ORDER_FULFILLED): what was
   shipped must be refunded (returned) first. A cancelled order: 422 ORDER_CANCELLED.
2. Its open and in-progress fulfillment orders are cancelled (fulfillments.service). Every
   unit left to fulfil is taken off the order through a refund (refunds.service), as
   Shopify records a cancellation's restock: restockType `cancel` (committed -> available)
   with `restock`, else `no_restock` (the units leave committed without going back on sale).
   With `refund`, that same refund also gives back the shipping and everything captured and
   not yet refunded; without it no money moves (a later refund can still give it back).
   The refund goes first: if the gateway refunds nothing (402 REFUND_FAILED) the whole
   cancellation rolls back before anything was voided at a gateway.
3. Authorizations with nothing captured are voided (transactions.service).
4. cancelled_at and cancel_reason are set; `orders/cancelled` and `orders/updated` are
   recorded. As in Shopify, cancelling does not close the order.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.companies.terms import settle_payment_terms
from shopdb.events.service import record_event
from shopdb.models import Order
from shopdb.orders.actions.errors import OrderAlreadyCancelled, OrderFulfilled
from shopdb.orders.actions.schemas import OrderCancel
from shopdb.orders.errors import OrderNotFound
from shopdb.orders.fulfillments.service import cancel_fulfillment_orders
from shopdb.orders.payments import GatewayFor
from shopdb.orders.refunds.schemas import (
    RefundCreate,
    RefundLineItemInput,
    RefundTransactionInput,
    ShippingInput,
)
from shopdb.orders.refunds.service import kept_fulfilled_units, refund_locked, shipping_left
from shopdb.orders.repository import OrderRepository
from shopdb.orders.transactions.service import refundable_amount, void_authorizations

ZERO = Decimal(0)


async def cancel_order(
    session: AsyncSession,
    gateway_for: GatewayFor,
    order_id: int,
    data: OrderCancel,
    *,
    now: datetime,
    actor: str | None,
) -> Order:
    """Cancel the placed order `order_id` (see the module docstring); the order, reread."""
    repository = OrderRepository(session)
    order = await repository.lock_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    if order.cancelled_at is not None:
        raise OrderAlreadyCancelled
    if await kept_fulfilled_units(session, order) > 0:
        raise OrderFulfilled
    # Its fulfillment orders first: the refund below takes their units off, and a
    # fulfillment order it left with nothing to ship would otherwise read `closed` (as one
    # whose units were refunded), not `cancelled` with its order.
    await cancel_fulfillment_orders(session, order.id, now)
    restock_type = "cancel" if data.restock else "no_restock"
    lines = [
        RefundLineItemInput(line_item_id=line.id, quantity=left, restock_type=restock_type)
        for line in order.line_items
        if (left := line.quantity - (line.fulfilled_quantity or 0) - (line.removed_quantity or 0))
        > 0
    ]
    shipping = None
    transactions: list[RefundTransactionInput] = []
    if data.refund:
        if await shipping_left(session, order) > 0:
            shipping = ShippingInput(full_refund=True)
        refundable = refundable_amount(order)
        if refundable > 0:
            transactions = [RefundTransactionInput(amount=refundable)]
    if lines or shipping is not None or transactions:
        refund = RefundCreate(
            refund_line_items=lines,
            shipping=shipping,
            transactions=transactions,
            reason=f"order cancelled: {data.reason}",
        )
        await refund_locked(session, gateway_for, order, refund, now=now, actor=actor)
    await void_authorizations(session, gateway_for, order, now=now, actor=actor)
    order.cancelled_at = now
    order.cancel_reason = data.reason
    order.updated_at = now
    await settle_payment_terms(session, order)  # B2B terms: its credit is released
    body = {
        "id": order.id,
        "number": order.number,
        "cancelReason": data.reason,
        "cancelledAt": now.isoformat(),
        "financialStatus": order.financial_status,
    }
    for topic in ("orders/cancelled", "orders/updated"):
        record_event(
            session, topic=topic, subject_type="Order", subject_id=order.id, body=body, actor=actor
        )
    return await _reread(repository, order_id)


async def close_order(
    session: AsyncSession, order_id: int, *, now: datetime, actor: str | None
) -> Order:
    """Close (archive) the order; closing a closed order changes nothing."""
    return await _set_closed(session, order_id, now, now=now, actor=actor)


async def open_order(
    session: AsyncSession, order_id: int, *, now: datetime, actor: str | None
) -> Order:
    """Reopen a closed order; an open one stays as it is."""
    return await _set_closed(session, order_id, None, now=now, actor=actor)


async def _set_closed(
    session: AsyncSession,
    order_id: int,
    closed_at: datetime | None,
    *,
    now: datetime,
    actor: str | None,
) -> Order:
    repository = OrderRepository(session)
    order = await repository.lock_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    if (order.closed_at is None) == (closed_at is None):
        return order
    order.closed_at = closed_at
    order.updated_at = now
    record_event(
        session,
        topic="orders/updated",
        subject_type="Order",
        subject_id=order.id,
        body={"id": order.id, "number": order.number, "closedAt": closed_at and now.isoformat()},
        actor=actor,
    )
    return await _reread(repository, order_id)


async def _reread(repository: OrderRepository, order_id: int) -> Order:
    """The order with its lines and transactions as this transaction left them (the lines'
    removed units were set by guarded UPDATEs, behind the ORM's back)."""
    await repository.session.flush()
    order = await repository.lock_placed(order_id)
    assert order is not None  # locked by this transaction since it was read
    return order
