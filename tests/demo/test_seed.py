"""The demo store's orders record their payments as the app does: one `order_transactions`
row per order (the source of truth) with its `payments`/`transactions` and
`transactions_enhanced` mirrors, all three agreeing."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.demo.seed import DEMO_GATEWAY, seed_demo
from shopdb.keys import field_cipher
from shopdb.models import Order, OrderTransaction, Payment, Transaction, TransactionEnhanced
from shopdb.orders.repository import OrderRepository
from tests.fixtures.database import Backend


async def _count(session: AsyncSession, model: type) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _by_order_and_kind(
    session: AsyncSession, statement: Select[int, str, int, Decimal]
) -> dict[tuple[int, str], tuple[int, Decimal]]:
    """(order, kind) -> (rows, amount), counted and summed by the database."""
    rows = await session.execute(statement.group_by(*statement.selected_columns[:2]))
    return {(int(r[0]), str(r[1])): (int(r[2]), Decimal(r[3])) for r in rows}


class TestDemoPayments:
    async def test_every_order_has_one_sale_mirrored_in_both_representations(
        self, backend: Backend, db_session: AsyncSession
    ) -> None:
        result = await seed_demo(db_session, field_cipher(backend.settings), create_admin=False)

        assert result.orders == 30
        totals = dict((await db_session.execute(select(Order.id, Order.total_price))).all())
        truth = await _by_order_and_kind(
            db_session,
            select(
                OrderTransaction.order_id,
                OrderTransaction.kind,
                func.count(),
                func.sum(OrderTransaction.amount),
            ),
        )
        gateway_side = await _by_order_and_kind(
            db_session,
            select(
                Payment.order_id, Transaction.type, func.count(), func.sum(Transaction.amount)
            ).join(Payment, Payment.id == Transaction.payment_id),
        )
        enhanced = await _by_order_and_kind(
            db_session,
            select(
                TransactionEnhanced.order_id,
                TransactionEnhanced.kind,
                func.count(),
                func.sum(TransactionEnhanced.amount),
            ),
        )
        assert truth == {(order_id, "sale"): (1, total) for order_id, total in totals.items()}
        assert gateway_side == truth
        assert enhanced == truth
        for model in (OrderTransaction, Payment, Transaction, TransactionEnhanced):
            assert await _count(db_session, model) == 30, model

    async def test_the_mirrors_name_the_order_transaction_as_placement_writes_them(
        self, backend: Backend, db_session: AsyncSession
    ) -> None:
        await seed_demo(db_session, field_cipher(backend.settings), create_admin=False)

        sources = {t.id: t for t in await db_session.scalars(select(OrderTransaction))}
        gateway_side = (
            await db_session.execute(
                select(Transaction, Payment).join(Payment, Payment.id == Transaction.payment_id)
            )
        ).all()
        assert len(gateway_side) == len(sources) == 30
        for transaction, payment in gateway_side:
            assert transaction.order_transaction_id is not None
            source = sources[transaction.order_transaction_id]
            assert payment.order_id == source.order_id
            assert payment.gateway == DEMO_GATEWAY
            assert payment.payment_method == DEMO_GATEWAY
            assert transaction.reference == payment.transaction_id == source.transaction_id
            assert transaction.processed_at == payment.processed_at == source.processed_at
        enhanced = list(await db_session.scalars(select(TransactionEnhanced)))
        assert sorted(e.receipt["orderTransactionId"] for e in enhanced if e.receipt) == sorted(
            sources
        )
        for row in enhanced:
            assert row.receipt is not None
            source = sources[row.receipt["orderTransactionId"]]
            assert row.receipt == {
                "orderTransactionId": source.id,
                "transactionId": source.transaction_id,
                "giftCardId": None,
            }
            assert (row.order_id, row.gateway, row.status, row.amount, row.currency) == (
                source.order_id,
                DEMO_GATEWAY,
                "success",
                source.amount,
                "USD",
            )
            assert row.processed_at == source.processed_at
            # A manual payment: no card kept, not a test-gateway transaction.
            assert row.payment_details is None
            assert row.test is False
            assert row.parent_id is None

    async def test_a_second_run_adds_no_payment(
        self, backend: Backend, db_session: AsyncSession
    ) -> None:
        cipher = field_cipher(backend.settings)
        await seed_demo(db_session, cipher, create_admin=False)

        again = await seed_demo(db_session, cipher, create_admin=False)

        assert again.created is False
        for model in (OrderTransaction, Payment, Transaction, TransactionEnhanced):
            assert await _count(db_session, model) == 30, model


class TestDemoOrderNumbers:
    async def test_the_next_placed_order_numbers_after_the_demo_orders(
        self, backend: Backend, db_session: AsyncSession
    ) -> None:
        """The demo orders take their numbers from the app's counter: the first order a user
        places on the demo store got #1001 again before, a 409 on the unique number."""
        await seed_demo(db_session, field_cipher(backend.settings), create_admin=False)
        numbers = (await db_session.execute(select(Order.order_number, Order.number))).all()

        assert all(number == f"#{order_number}" for order_number, number in numbers)
        demo_highest = max(order_number or 0 for order_number, _ in numbers)
        assert await OrderRepository(db_session).next_order_number() == demo_highest + 1
