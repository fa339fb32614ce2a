"""Every refund transaction belongs to a refund, as in Shopify: `order_refunds` is the source
of truth for refunds, and each refund transaction is linked to one (order_refund_transactions,
with its payment-side `refunds` mirror).

Two requests refund money: POST /orders/{id}/refunds (refunds.service: line items, shipping
and money at once) and a bare `refund` through POST /orders/{id}/transactions (a refund with
no line items and no restock, as Shopify's Transaction API makes one). Both write the refund
through these two steps, under the order's lock, in the request's transaction:

1. open_refund, before any money moves: the refund row (amount 0) and its line items.
2. close_refund, once the refund transactions are recorded: the amount (what the successful
   ones gave back), the links and mirrors, and the `refunds/create` event.

It lives with the transactions so that both can call it: the refunds build on the
transactions, never the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.events.service import record_event
from shopdb.models import Order, OrderRefund, OrderRefundLineItem, OrderTransaction
from shopdb.orders.pricing import quantum
from shopdb.orders.transactions.repository import RefundRecordRepository

ZERO = Decimal(0)


def new_refund(
    order: Order,
    *,
    now: datetime,
    reason: str | None = None,
    note: str | None = None,
    subtotal: Decimal = ZERO,
    total_tax: Decimal = ZERO,
    shipping_amount: Decimal = ZERO,
) -> OrderRefund:
    """The refund of `order` before its money moves (its amount is close_refund's)."""
    return OrderRefund(
        order_id=order.id,
        amount=ZERO,
        currency=order.currency,
        reason=reason,
        note=note,
        processed_at=now,
        subtotal=subtotal,
        total_tax=total_tax,
        shipping_amount=shipping_amount,
    )


async def open_refund(
    session: AsyncSession, refund: OrderRefund, lines: Sequence[OrderRefundLineItem]
) -> OrderRefund:
    """The refund and its line items written (ids given), before any money moves."""
    return await RefundRecordRepository(session).add(refund, lines)


async def close_refund(
    session: AsyncSession,
    refund: OrderRefund,
    lines: Sequence[OrderRefundLineItem],
    transactions: Sequence[OrderTransaction],
    *,
    actor: str | None,
) -> None:
    """The refund's amount from its transactions (the successful ones: a declined or failed
    one is linked too, and shows its status), each transaction linked to it and mirrored on
    the payment side, and `refunds/create` recorded."""
    refund.amount = sum((t.amount for t in transactions if t.status == "success"), ZERO).quantize(
        quantum(refund.currency)
    )
    await RefundRecordRepository(session).link_transactions(refund, transactions, refund.reason)
    body: dict[str, Any] = {
        "id": refund.id,
        "orderId": refund.order_id,
        "amount": str(refund.amount),
        "currency": refund.currency,
        "refundLineItems": [
            {
                "lineItemId": line.line_item_id,
                "quantity": line.quantity,
                "restockType": line.restock_type,
            }
            for line in lines
        ],
        "transactions": [t.id for t in transactions],
    }
    record_event(
        session,
        topic="refunds/create",
        subject_type="Refund",
        subject_id=refund.id,
        body=body,
        actor=actor,
    )
