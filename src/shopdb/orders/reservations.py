"""Releasing a reservation: an order whose payment was never recorded gives everything back.

A placement reserves in one transaction (stock committed, the discount code's use counted,
gift cards debited, the order written with `reserved_until`) and records the payment in a
second. When the payment is refused, or the process dies between the two, the reservation is
released here, in one transaction: committed stock back to available, the code's use
uncounted, each gift card credited, and the order deleted, so that no order is left behind.

A release locks the order row first (PostgreSQL), as recording the payment does: of a
release and a late payment record, the second finds no reservation (see placement.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.inventory.stock import StockLine, release_committed
from shopdb.models import Order
from shopdb.orders.repository import OrderRepository

GIFT_CARD_GATEWAY = "gift_card"


async def release_reservation(
    session: AsyncSession, order_id: int, *, actor: str | None = None
) -> bool:
    """Release the reservation `order_id` in the caller's transaction; False when it is not
    (or no longer) a reservation: placed, or released already."""
    repository = OrderRepository(session)
    order = await repository.lock_reservation(order_id)
    if order is None:
        return False
    stock = [
        StockLine(line.inventory_item_id, line.location_id, line.quantity)
        for line in order.line_items
        if line.inventory_item_id is not None and line.location_id is not None
    ]
    if stock:
        await release_committed(
            session, stock, note=f"order {order.number} was not placed", actor=actor
        )
    if order.discount_code_id is not None:
        from shopdb.discounts.service import release_discount_code

        await release_discount_code(session, order.discount_code_id)
    await _credit_gift_cards(session, order)
    await repository.delete(order.id)
    return True


async def _credit_gift_cards(session: AsyncSession, order: Order) -> None:
    debits = [
        t
        for t in order.transactions
        if t.gateway == GIFT_CARD_GATEWAY and t.gift_card_id is not None and t.status == "success"
    ]
    if not debits:
        return
    from shopdb.gift_cards.service import credit_gift_card

    for debit in debits:
        assert debit.gift_card_id is not None
        await credit_gift_card(
            session,
            debit.gift_card_id,
            debit.amount,
            order_id=order.id,
            reason=f"order {order.number} was not placed",
        )


async def expired_reservations(session: AsyncSession, now: datetime, limit: int) -> list[int]:
    return await OrderRepository(session).expired_reservations(now, limit)
