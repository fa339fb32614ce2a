"""`order_transactions` is the source of truth for an order's payments; `payments` with
`transactions` (the gateway side) and `transactions_enhanced` (Shopify's shape) mirror it in
the same database transaction. After every kind of placement the three agree row for row,
and a released reservation leaves none of them behind. On PostgreSQL these run on a database
that really commits (the `live` fixture), so each placement step's rows are really written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import OrderTransaction, Payment, Transaction, TransactionEnhanced
from shopdb.orders import placement
from tests.orders.conftest import Live
from tests.orders.gateways import ScriptedGateway, use_gateway
from tests.orders.helpers import (
    DECLINE,
    gift_card_balance,
    make_locations,
    make_variant,
    order_body,
    orders_with,
    place,
)
from tests.orders.test_adjustments import gift_card
from tests.orders.test_failures import expire, release_now

postgres_only = pytest.mark.postgres_only


@dataclass(frozen=True)
class Row:
    """One payment transaction as each representation states it."""

    order_transaction_id: int
    order_id: int
    kind: str
    gateway: str
    status: str
    amount: Decimal
    currency: str
    reference: str | None
    processed_at: datetime | None


@dataclass(frozen=True)
class Views:
    truth: list[Row]
    gateway_side: list[Row]
    enhanced: list[Row]


async def views(session: AsyncSession, order_ids: list[int]) -> Views:
    """The orders' transactions read from each table, ordered by the order transaction's id
    (the enhanced rows in their own id order: their creation order must match too)."""
    truth = await session.scalars(
        select(OrderTransaction)
        .where(OrderTransaction.order_id.in_(order_ids))
        .order_by(OrderTransaction.id)
    )
    gateway_side = await session.execute(
        select(
            Transaction.order_transaction_id,
            Payment.order_id,
            Transaction.type,
            Payment.gateway,
            Transaction.status,
            Transaction.amount,
            Transaction.currency,
            Transaction.reference,
            Transaction.processed_at,
        )
        .join(Payment, Payment.id == Transaction.payment_id)
        .where(Payment.order_id.in_(order_ids))
        .order_by(Transaction.order_transaction_id)
    )
    enhanced = await session.scalars(
        select(TransactionEnhanced)
        .where(TransactionEnhanced.order_id.in_(order_ids))
        .order_by(TransactionEnhanced.id)
    )
    return Views(
        truth=[
            Row(
                t.id,
                t.order_id,
                t.kind,
                t.gateway,
                t.status,
                t.amount,
                t.currency,
                t.transaction_id,
                t.processed_at,
            )
            for t in truth
        ],
        gateway_side=[Row(row[0] or -1, *row[1:]) for row in gateway_side],
        enhanced=[
            Row(
                e.receipt["orderTransactionId"] if e.receipt else -1,
                e.order_id,
                e.kind,
                e.gateway,
                e.status,
                e.amount,
                e.currency,
                e.receipt["transactionId"] if e.receipt else None,
                e.processed_at,
            )
            for e in enhanced
        ],
    )


async def sums(session: AsyncSession, order_ids: list[int]) -> list[dict[Any, Any]]:
    """(order, kind, status) -> (count, amount) in each table, summed by the database."""
    truth = select(
        OrderTransaction.order_id,
        OrderTransaction.kind,
        OrderTransaction.status,
        func.count(),
        func.sum(OrderTransaction.amount),
    ).where(OrderTransaction.order_id.in_(order_ids))
    gateway_side = (
        select(
            Payment.order_id,
            Transaction.type,
            Transaction.status,
            func.count(),
            func.sum(Transaction.amount),
        )
        .join(Payment, Payment.id == Transaction.payment_id)
        .where(Payment.order_id.in_(order_ids))
    )
    enhanced = select(
        TransactionEnhanced.order_id,
        TransactionEnhanced.kind,
        TransactionEnhanced.status,
        func.count(),
        func.sum(TransactionEnhanced.amount),
    ).where(TransactionEnhanced.order_id.in_(order_ids))
    found = []
    for statement in (truth, gateway_side, enhanced):
        rows = await session.execute(statement.group_by(*statement.selected_columns[:3]))
        found.append({(r[0], r[1], r[2]): (int(r[3]), Decimal(r[4])) for r in rows})
    return found


async def assert_agree(session: AsyncSession, order_ids: list[int]) -> Views:
    seen = await views(session, order_ids)
    assert seen.truth, "nothing to compare"
    assert seen.gateway_side == seen.truth
    assert seen.enhanced == seen.truth
    truth_sums, gateway_sums, enhanced_sums = await sums(session, order_ids)
    assert gateway_sums == truth_sums
    assert enhanced_sums == truth_sums
    # What only the source of truth and the enhanced row both hold, field for field.
    truth = {
        t.id: t
        for t in await session.scalars(
            select(OrderTransaction).where(OrderTransaction.order_id.in_(order_ids))
        )
    }
    for enhanced in await session.scalars(
        select(TransactionEnhanced).where(TransactionEnhanced.order_id.in_(order_ids))
    ):
        assert enhanced.receipt is not None
        source = truth[enhanced.receipt["orderTransactionId"]]
        assert enhanced.authorization == source.authorization_code
        assert enhanced.error_code == source.error_code
        assert enhanced.receipt["giftCardId"] == source.gift_card_id
        assert enhanced.test == (source.gateway == "test")
        if source.parent_id is None:
            assert enhanced.parent_id is None
        else:
            parent = await session.get(TransactionEnhanced, enhanced.parent_id)
            assert parent is not None
            assert parent.receipt is not None
            assert parent.receipt["orderTransactionId"] == source.parent_id
        card = (
            None
            if source.card_last4 is None and source.card_brand is None
            else {"cardBrand": source.card_brand, "cardLast4": source.card_last4}
        )
        assert enhanced.payment_details == card
    # Each payment holds exactly one transaction, and states it alike.
    payments = await session.execute(
        select(Payment.status, Payment.amount, Payment.transaction_id, func.count(Transaction.id))
        .join(Transaction, Transaction.payment_id == Payment.id)
        .where(Payment.order_id.in_(order_ids))
        .group_by(Payment.id, Payment.status, Payment.amount, Payment.transaction_id)
        .order_by(Payment.id)
    )
    assert [(p[0], p[1], p[2], p[3]) for p in payments] == [
        (row.status, row.amount, row.reference, 1) for row in seen.truth
    ]
    return seen


async def table_counts(session: AsyncSession) -> tuple[int, ...]:
    counted = []
    for model in (OrderTransaction, Payment, Transaction, TransactionEnhanced):
        counted.append(int(await session.scalar(select(func.count()).select_from(model)) or 0))
    return tuple(counted)


async def placed(live: Live, body: dict[str, Any]) -> dict[str, Any]:
    response = await place(live.client, live.headers, body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


class TestEveryPlacementAgrees:
    async def test_sale_authorization_manual_and_gift_card_split(self, live: Live) -> None:
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "30.00", {loc: 20})
        card = await gift_card(live.client, live.headers, "12.50")
        authorize = order_body((tee.variant_id, 1))
        authorize["payment"]["capture"] = False

        sale = await placed(live, order_body((tee.variant_id, 2)))
        authorization = await placed(live, authorize)
        manual = await placed(live, order_body((tee.variant_id, 1), payment={"gateway": "manual"}))
        split = await placed(live, order_body((tee.variant_id, 1), giftCardCodes=[card["code"]]))

        ids = [sale["id"], authorization["id"], manual["id"], split["id"]]
        async with live.database.session() as session:
            seen = await assert_agree(session, ids)
            truth_sums, _, _ = await sums(session, ids)
        assert [(r.order_id, r.kind, r.gateway, r.status, r.amount) for r in seen.truth] == [
            (sale["id"], "sale", "test", "success", Decimal("60.00")),
            (authorization["id"], "authorization", "test", "success", Decimal("30.00")),
            (manual["id"], "sale", "manual", "pending", Decimal("30.00")),
            (split["id"], "sale", "gift_card", "success", Decimal("12.50")),
            (split["id"], "sale", "test", "success", Decimal("17.50")),
        ]
        assert truth_sums[(split["id"], "sale", "success")] == (2, Decimal("30.00"))
        # The API's transactions are the source of truth's.
        for order in (sale, authorization, manual, split):
            assert [t["id"] for t in order["transactions"]] == [
                r.order_transaction_id for r in seen.truth if r.order_id == order["id"]
            ]

    async def test_the_enhanced_row_keeps_the_card_and_the_authorization(self, live: Live) -> None:
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "9.99", {loc: 5})
        body = order_body((tee.variant_id, 1))
        body["payment"]["capture"] = False

        order = await placed(live, body)

        async with live.database.session() as session:
            await assert_agree(session, [order["id"]])
            (enhanced,) = await session.scalars(
                select(TransactionEnhanced).where(TransactionEnhanced.order_id == order["id"])
            )
        (transaction,) = order["transactions"]
        assert enhanced.kind == "authorization"
        assert enhanced.authorization == transaction["authorization"]
        assert enhanced.payment_details == {"cardBrand": "visa", "cardLast4": "4242"}
        assert enhanced.test is True
        assert enhanced.receipt == {
            "orderTransactionId": transaction["id"],
            "transactionId": transaction["authorization"],
            "giftCardId": None,
        }


class TestReleasedReservationsLeaveNothing:
    async def test_a_declined_gift_card_split_leaves_no_row_in_any_table(self, live: Live) -> None:
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "30.00", {loc: 5})
        card = await gift_card(live.client, live.headers, "10.00")
        body = order_body((tee.variant_id, 1), giftCardCodes=[card["code"]])
        body["payment"]["token"] = DECLINE
        async with live.database.session() as session:
            before = await table_counts(session)

        response = await place(live.client, live.headers, body)

        assert response.status_code == 402, response.text
        async with live.database.session() as session:
            assert await table_counts(session) == before
            assert await orders_with(session, tee.variant_id) == []
            assert await gift_card_balance(session, card["id"]) == Decimal("10.00")

    @postgres_only
    async def test_the_release_job_takes_all_three_with_the_reservation(
        self, live: Live, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        if live.database.primary.dialect.name == "sqlite":
            pytest.skip("SQLite: the request's rollback takes the reservation with it")
        # A remote gateway: only a payment between transactions leaves a reservation behind.
        use_gateway(monkeypatch, ScriptedGateway())
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "30.00", {loc: 5})
        card = await gift_card(live.client, live.headers, "10.00")

        async def died(*args: Any, **kwargs: Any) -> None:
            return None  # the process died before it could release the declined reservation

        monkeypatch.setattr(placement, "_release", died)
        body = order_body((tee.variant_id, 1), giftCardCodes=[card["code"]])
        body["payment"]["token"] = DECLINE
        async with live.database.session() as session:
            before = await table_counts(session)
        assert (await place(live.client, live.headers, body)).status_code == 402
        async with live.database.session() as session:
            (reservation,) = await orders_with(session, tee.variant_id)
            # The reservation's gift card debit is written three ways, committed together.
            seen = await assert_agree(session, [reservation.id])
            assert [(r.gateway, r.amount) for r in seen.truth] == [("gift_card", Decimal("10.00"))]
            assert await table_counts(session) == tuple(n + 1 for n in before)

        await expire(live, tee.variant_id)
        await release_now(live)

        async with live.database.session() as session:
            assert await orders_with(session, tee.variant_id) == []
            assert await table_counts(session) == before
            assert await gift_card_balance(session, card["id"]) == Decimal("10.00")


class TestLifecycleTransactionsAgree:
    """Captures, refunds and voids (orders/transactions) keep the mirrors too, and the
    enhanced row's parent_id names the enhanced row of the order transaction's parent."""

    async def test_capture_refund_and_void_are_mirrored_with_their_parents(
        self, live: Live
    ) -> None:
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "30.00", {loc: 5})
        authorize = order_body((tee.variant_id, 1))
        authorize["payment"]["capture"] = False
        captured = await placed(live, authorize)
        voided = await placed(live, authorize)

        async def transaction(order_id: int, **body: Any) -> dict[str, Any]:
            response = await live.client.post(
                f"/api/v1/orders/{order_id}/transactions", json=body, headers=live.headers
            )
            assert response.status_code == 201, response.text
            answer: dict[str, Any] = response.json()
            return answer

        capture = await transaction(captured["id"], kind="capture", amount="25.00")
        refund = await transaction(captured["id"], kind="refund", amount="5.00")
        void = await transaction(voided["id"], kind="void")

        ids = [captured["id"], voided["id"]]
        async with live.database.session() as session:
            seen = await views(session, ids)
            truth_sums, gateway_sums, enhanced_sums = await sums(session, ids)
            enhanced = list(
                await session.scalars(
                    select(TransactionEnhanced).where(TransactionEnhanced.order_id.in_(ids))
                )
            )
        assert seen.gateway_side == seen.truth
        assert seen.enhanced == seen.truth
        assert gateway_sums == enhanced_sums == truth_sums
        assert [(r.kind, r.status, r.amount) for r in seen.truth] == [
            ("authorization", "success", Decimal("30.00")),
            ("authorization", "success", Decimal("30.00")),
            ("capture", "success", Decimal("25.00")),
            ("refund", "success", Decimal("5.00")),
            ("void", "success", Decimal("30.00")),
        ]
        source_of = {e.id: e.receipt["orderTransactionId"] for e in enhanced if e.receipt}
        parents = {
            source_of[e.id]: None if e.parent_id is None else source_of[e.parent_id]
            for e in enhanced
        }
        assert parents == {
            captured["transactions"][0]["id"]: None,
            voided["transactions"][0]["id"]: None,
            capture["id"]: captured["transactions"][0]["id"],
            refund["id"]: capture["id"],
            void["id"]: voided["transactions"][0]["id"],
        }

    async def test_a_capture_and_a_refund_through_the_refunds_keep_every_mirror(
        self, live: Live
    ) -> None:
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "12.00", {loc: 5})
        body = order_body((tee.variant_id, 2))
        body["payment"]["capture"] = False
        order = await placed(live, body)
        authorization = order["transactions"][0]["id"]
        url = f"/api/v1/orders/{order['id']}"

        captured = await live.client.post(
            f"{url}/transactions", json={"kind": "capture"}, headers=live.headers
        )
        assert captured.status_code == 201, captured.text
        refunded = await live.client.post(
            f"{url}/refunds",
            json={
                "refundLineItems": [
                    {
                        "lineItemId": order["lineItems"][0]["id"],
                        "quantity": 1,
                        "restockType": "cancel",
                    }
                ]
            },
            headers=live.headers,
        )
        assert refunded.status_code == 201, refunded.text

        async with live.database.session() as session:
            seen = await assert_agree(session, [order["id"]])
            parents = {
                t.id: t.parent_id
                for t in await session.scalars(
                    select(OrderTransaction).where(OrderTransaction.order_id == order["id"])
                )
            }
        capture_id = captured.json()["id"]
        (refund_transaction,) = refunded.json()["transactions"]
        assert [(r.kind, r.status, r.amount) for r in seen.truth] == [
            ("authorization", "success", Decimal("24.00")),
            ("capture", "success", Decimal("24.00")),
            ("refund", "success", Decimal("12.00")),
        ]
        assert parents == {
            authorization: None,
            capture_id: authorization,
            refund_transaction["id"]: capture_id,
        }
