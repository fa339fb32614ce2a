"""Every SQL statement of returns: writing them, reading them, and what is already returned."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.models import Order, OrderRefundLineItem, Return, ReturnLineItem


class ReturnRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, return_: Return) -> Return:
        self.session.add(return_)
        await self.session.flush()
        return return_

    async def returned_units(self, line_item_ids: Collection[int]) -> dict[int, int]:
        """Units of each line a return has taken and no refund restocked: all asked for by an
        open return, what was received by one closed without a refund (a closed return's
        refund records its received units as restocked, restocked_by_refunds counts them; a
        cancelled return takes none). Read under the order's row lock, so no return opened
        concurrently is missed."""
        if not line_item_ids:
            return {}
        taken = case(
            (Return.status == "open", ReturnLineItem.quantity),
            else_=ReturnLineItem.received_quantity,
        )
        rows = await self.session.execute(
            select(ReturnLineItem.line_item_id, func.sum(taken))
            .join(Return, Return.id == ReturnLineItem.return_id)
            .where(
                ReturnLineItem.line_item_id.in_(sorted(line_item_ids)),
                or_(
                    Return.status == "open",
                    and_(Return.status == "closed", Return.refund_id.is_(None)),
                ),
            )
            .group_by(ReturnLineItem.line_item_id)
        )
        return {int(row[0]): int(row[1] or 0) for row in rows}

    async def restocked_by_refunds(self, line_item_ids: Collection[int]) -> dict[int, int]:
        """Shipped units of each line that refunds record as returned to stock (restock type
        `return`): by a refund of their own, or by the refund a return was closed with (the
        return restocked those)."""
        if not line_item_ids:
            return {}
        fulfilled_part = OrderRefundLineItem.quantity - OrderRefundLineItem.removed_quantity
        rows = await self.session.execute(
            select(OrderRefundLineItem.line_item_id, func.sum(fulfilled_part))
            .where(
                OrderRefundLineItem.line_item_id.in_(sorted(line_item_ids)),
                OrderRefundLineItem.restock_type == "return",
            )
            .group_by(OrderRefundLineItem.line_item_id)
        )
        return {int(row[0]): int(row[1] or 0) for row in rows}

    async def placed_order_exists(self, order_id: int) -> bool:
        found = await self.session.scalar(
            select(Order.id).where(
                Order.id == order_id, Order.reserved_until.is_(None), Order.deleted_at.is_(None)
            )
        )
        return found is not None

    async def get(self, order_id: int, return_id: int) -> Return | None:
        """The order's return with its lines, read fresh (a caller holding the order's lock
        sees what the last writer committed)."""
        return (
            await self.session.scalars(
                select(Return)
                .where(Return.id == return_id, Return.order_id == order_id)
                .options(selectinload(Return.line_items))
                .execution_options(populate_existing=True)
            )
        ).one_or_none()

    async def of_order(self, order_id: int) -> list[Return]:
        """The order's returns, oldest first, with their lines (two queries in all)."""
        rows = await self.session.scalars(
            select(Return)
            .where(Return.order_id == order_id)
            .order_by(Return.id)
            .options(selectinload(Return.line_items))
        )
        return list(rows)
