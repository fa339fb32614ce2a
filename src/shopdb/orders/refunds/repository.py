"""Every SQL statement of refunds but the writing of a refund's own rows (those are
transactions.repository's, shared with a bare refund transaction): what was refunded before,
the guarded line updates, and reading refunds back."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import and_, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit import prepared
from shopdb.models import (
    Order,
    OrderLineItem,
    OrderRefund,
    OrderRefundLineItem,
    OrderRefundTransaction,
    OrderTransaction,
    Return,
    ReturnLineItem,
)

ZERO = Decimal(0)


@dataclass(frozen=True)
class LineRefunded:
    """What earlier refunds took of one order line."""

    quantity: int = 0  # units refunded
    removed: int = 0  # of them, units that were unfulfilled when refunded


@dataclass(frozen=True)
class RefundHistory:
    lines: dict[int, LineRefunded]
    shipping: Decimal  # shipping refunded so far (before its tax)
    # Shipped units of each line that a return holds and no refund has recorded yet (all of
    # an open return's, what one closed without a refund received): the return restocks
    # them itself, so a refund restocking them too would count them back twice.
    in_returns: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRefund:
    refund: OrderRefund
    lines: list[OrderRefundLineItem]
    transactions: list[OrderTransaction]
    prices: dict[int, Decimal]  # order line id -> its unit price


# What an order's refunds took so far (RefundRepository.history), built once: every refund
# reads it (kit.prepared runs them in the request's transaction).
_REFUNDED_UNITS = (
    select(
        OrderRefundLineItem.line_item_id,
        func.sum(OrderRefundLineItem.quantity),
        func.sum(OrderRefundLineItem.removed_quantity),
    )
    .join(OrderRefund, OrderRefund.id == OrderRefundLineItem.order_refund_id)
    .where(OrderRefund.order_id == bindparam("order_id"))
    .group_by(OrderRefundLineItem.line_item_id)
)
_REFUNDED_SHIPPING = select(func.coalesce(func.sum(OrderRefund.shipping_amount), ZERO)).where(
    OrderRefund.order_id == bindparam("order_id")
)
_IN_RETURNS = (
    select(
        ReturnLineItem.line_item_id,
        func.sum(
            case(
                (Return.status == "open", ReturnLineItem.quantity),
                else_=ReturnLineItem.received_quantity,
            )
        ),
    )
    .join(Return, Return.id == ReturnLineItem.return_id)
    .where(
        Return.order_id == bindparam("order_id"),
        or_(
            Return.status == "open",
            and_(Return.status == "closed", Return.refund_id.is_(None)),
        ),
    )
    .group_by(ReturnLineItem.line_item_id)
)


class RefundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def history(self, order_id: int) -> RefundHistory:
        """What the order's refunds took so far. Read under the order's lock: no other refund
        of it can commit meanwhile, so these sums stay true until this transaction ends."""
        values = {"order_id": order_id}
        rows = await prepared.fetch_in_transaction(self.session, _REFUNDED_UNITS, values)
        lines = {row[0]: LineRefunded(int(row[1] or 0), int(row[2] or 0)) for row in rows}
        (shipping,) = await prepared.fetch_in_transaction(self.session, _REFUNDED_SHIPPING, values)
        returned = await prepared.fetch_in_transaction(self.session, _IN_RETURNS, values)
        in_returns = {int(row[0]): int(row[1] or 0) for row in returned}
        return RefundHistory(lines, Decimal(shipping[0] or 0), in_returns)

    async def remove_units(self, line_id: int, quantity: int) -> OrderLineItem | None:
        """Take `quantity` unfulfilled units off a line; None (and nothing changed) when the
        line no longer has that many left to fulfil. The caller's loaded line is refreshed
        from the row, so what follows (the order's fulfillment status, its fulfillment
        orders) reads the units as they now are."""
        statement = (
            update(OrderLineItem)
            .where(
                OrderLineItem.id == line_id,
                OrderLineItem.fulfilled_quantity + OrderLineItem.removed_quantity + quantity
                <= OrderLineItem.quantity,
            )
            .values(removed_quantity=OrderLineItem.removed_quantity + quantity)
            .returning(OrderLineItem)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def get(self, order_id: int, refund_id: int) -> StoredRefund | None:
        refund = await self.session.scalar(
            select(OrderRefund).where(OrderRefund.id == refund_id, OrderRefund.order_id == order_id)
        )
        if refund is None:
            return None
        return (await self._complete([refund]))[0]

    async def of_order(self, order_id: int) -> list[StoredRefund]:
        refunds = await self.session.scalars(
            select(OrderRefund).where(OrderRefund.order_id == order_id).order_by(OrderRefund.id)
        )
        return await self._complete(list(refunds))

    async def _complete(self, refunds: list[OrderRefund]) -> list[StoredRefund]:
        """The refunds with their line items and transactions: two queries for all of them."""
        if not refunds:
            return []
        ids = [r.id for r in refunds]
        lines = await self.session.execute(
            select(OrderRefundLineItem, OrderLineItem.price)
            .join(OrderLineItem, OrderLineItem.id == OrderRefundLineItem.line_item_id)
            .where(OrderRefundLineItem.order_refund_id.in_(ids))
            .order_by(OrderRefundLineItem.id)
        )
        transactions = await self.session.execute(
            select(OrderRefundTransaction.order_refund_id, OrderTransaction)
            .join(
                OrderTransaction, OrderTransaction.id == OrderRefundTransaction.order_transaction_id
            )
            .where(OrderRefundTransaction.order_refund_id.in_(ids))
            .order_by(OrderTransaction.id)
        )
        lines_of: dict[int, list[OrderRefundLineItem]] = {i: [] for i in ids}
        prices: dict[int, Decimal] = {}
        for line, price in lines:
            lines_of[line.order_refund_id].append(line)
            prices[line.line_item_id] = price
        transactions_of: dict[int, list[OrderTransaction]] = {i: [] for i in ids}
        for refund_id, transaction in transactions:
            transactions_of[refund_id].append(transaction)
        return [StoredRefund(r, lines_of[r.id], transactions_of[r.id], prices) for r in refunds]

    async def order_exists(self, order_id: int) -> bool:
        """A placed order (the refunds of a reservation or a deleted order are not read)."""
        found = await self.session.scalar(
            select(Order.id).where(
                Order.id == order_id, Order.reserved_until.is_(None), Order.deleted_at.is_(None)
            )
        )
        return found is not None
