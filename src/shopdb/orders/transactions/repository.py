"""The SQL of a refund's own rows: the `order_refunds` row with its line items, and the links
of its refund transactions with their payment-side mirror. Here, below both the transactions
and the refunds, because both write a refund (see refund_records.py)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit import prepared
from shopdb.kit.models import insert_rows
from shopdb.kit.sql import one_of
from shopdb.models import (
    OrderRefund,
    OrderRefundLineItem,
    OrderRefundTransaction,
    OrderTransaction,
    Refund,
    Transaction,
)


class RefundRecordRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, refund: OrderRefund, lines: Sequence[OrderRefundLineItem]) -> OrderRefund:
        """The refund and its line items, persistent with their ids (by Core: every refund
        writes them; kit.models.insert_rows)."""
        await insert_rows(self.session, [refund])
        for line in lines:
            line.order_refund_id = refund.id
        await insert_rows(self.session, lines)
        return refund

    async def link_transactions(
        self, refund: OrderRefund, transactions: Sequence[OrderTransaction], reason: str | None
    ) -> None:
        """Each refund transaction is linked to the refund, and mirrored on the payment side:
        a `refunds` row of the payment its parent (the capture or sale refunded) was recorded
        as, with the transaction's amount and status (payment-side `refunds` follow
        order_refunds, the source of truth, in the same transaction)."""
        if not transactions:
            return
        payments = await self._payments_of({t.parent_id for t in transactions if t.parent_id})
        mirrors: dict[int, Refund] = {}
        for transaction in transactions:
            payment_id = payments.get(transaction.parent_id) if transaction.parent_id else None
            if payment_id is not None:
                mirrors[transaction.id] = Refund(
                    payment_id=payment_id,
                    amount=transaction.amount,
                    currency=transaction.currency,
                    reason=reason,
                    status=transaction.status,
                    processed_at=transaction.processed_at,
                )
        await insert_rows(self.session, list(mirrors.values()))
        links = [
            OrderRefundTransaction(
                order_refund_id=refund.id,
                order_transaction_id=transaction.id,
                refund_id=mirrors[transaction.id].id if transaction.id in mirrors else None,
            )
            for transaction in transactions
        ]
        await insert_rows(self.session, links)

    async def _payments_of(self, transaction_ids: Collection[int]) -> dict[int, int]:
        """The `payments` row each order transaction was mirrored as (its one `transactions`
        row names it)."""
        if not transaction_ids:
            return {}
        postgresql = self.session.get_bind().dialect.name == "postgresql"
        rows = await prepared.fetch_in_transaction(
            self.session, _payments_of(postgresql), {"ids": sorted(transaction_ids)}
        )
        return {row[0]: row[1] for row in rows if row[0] is not None}


@functools.cache
def _payments_of(postgresql: bool) -> Any:
    return select(Transaction.order_transaction_id, Transaction.payment_id).where(
        one_of(Transaction.order_transaction_id, "ids", postgresql=postgresql)
    )
