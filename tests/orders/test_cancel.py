"""Cancel, close and reopen on SQLite and PostgreSQL: a cancellation restocks what was not
shipped, voids what is only authorized, refunds what was captured when asked, and is refused
(changing nothing) for a shipped or already cancelled order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from shopdb.db import Database
from shopdb.models import Order, OrderRefund, OrderRefundLineItem, OrderTransaction
from tests.fixtures.catalog import Headers
from tests.orders.helpers import APPROVE, ORDERS, level, make_locations, make_variant
from tests.orders.test_adjustments import shipping_rate
from tests.orders.test_refunds import (
    TEXAS,
    both_refund_tables,
    financial_status,
    item,
    line_units,
    lines_of,
    placed,
    refund,
    refund_rows,
    refund_transactions,
    ship,
    topics,
)


async def cancel(
    client: httpx.AsyncClient, headers: Headers, order_id: int, **body: Any
) -> httpx.Response:
    return await client.post(f"{ORDERS}/{order_id}/cancel", json=body, headers=headers)


async def stored_order(database: Database, order_id: int) -> Order:
    async with database.session() as session:
        found = await session.get(Order, order_id)
        assert found is not None
        return found


async def transaction_kinds(database: Database, order_id: int) -> list[tuple[str, str, Decimal]]:
    async with database.session() as session:
        rows = await session.execute(
            select(OrderTransaction.kind, OrderTransaction.status, OrderTransaction.amount)
            .where(OrderTransaction.order_id == order_id)
            .order_by(OrderTransaction.id)
        )
        return [(r[0], r[1], Decimal(r[2])) for r in rows]


async def refund_lines(database: Database, order_id: int) -> list[tuple[str, int, int]]:
    async with database.session() as session:
        rows = await session.execute(
            select(
                OrderRefundLineItem.restock_type,
                OrderRefundLineItem.quantity,
                OrderRefundLineItem.removed_quantity,
            )
            .join(OrderRefund, OrderRefund.id == OrderRefundLineItem.order_refund_id)
            .where(OrderRefund.order_id == order_id)
            .order_by(OrderRefundLineItem.id)
        )
        return [(r[0], r[1], r[2]) for r in rows]


class TestCancel:
    async def test_a_paid_order_cancelled_with_refund_gets_its_money_and_stock_back(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        mug = await make_variant(database, "4.50", {loc: 5}, title="Mug")
        rate_id = await shipping_rate(client, admin, "5.00")
        order = await placed(
            client,
            admin,
            (tee.variant_id, 3),
            (mug.variant_id, 2),
            shippingRateId=rate_id,
            shippingAddress=TEXAS,
        )
        tee_line, mug_line = lines_of(order)

        response = await cancel(client, admin, order["id"], reason="customer", refund=True)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == order["id"]
        assert body["cancelReason"] == "customer"
        assert body["cancelledAt"] is not None
        assert body["status"] == "cancelled"
        assert body["closedAt"] is None  # cancelling does not close, as in Shopify
        assert body["financialStatus"] == "refunded"
        assert [(t["kind"], t["status"], t["amount"]) for t in body["transactions"]] == [
            ("sale", "success", "44.00"),
            ("refund", "success", "44.00"),
        ]
        assert await line_units(database, tee_line) == (3, 0, 3)
        assert await line_units(database, mug_line) == (2, 0, 2)
        assert await refund_lines(database, order["id"]) == [("cancel", 3, 3), ("cancel", 2, 2)]
        assert await both_refund_tables(database, order["id"]) == (
            Decimal("44.00"),
            Decimal("44.00"),
        )
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (10, 0)
            assert await level(session, mug.item_id, loc) == (5, 0)
        stored = await stored_order(database, order["id"])
        assert (stored.cancel_reason, stored.financial_status) == ("customer", "refunded")
        assert stored.cancelled_at is not None
        events = await topics(database, "Order", order["id"])
        assert events[-2:] == ["orders/cancelled", "orders/updated"]

    async def test_an_authorized_order_is_voided_and_restocked(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        payment = {"gateway": "test", "token": APPROVE, "capture": False}
        order = await placed(client, admin, (tee.variant_id, 2), payment=payment)
        (line,) = lines_of(order)

        response = await cancel(client, admin, order["id"], reason="fraud", refund=True)

        assert response.status_code == 200, response.text
        assert response.json()["financialStatus"] == "voided"
        assert await transaction_kinds(database, order["id"]) == [
            ("authorization", "success", Decimal("20.00")),
            ("void", "success", Decimal("20.00")),
        ]
        assert await refund_transactions(database, order["id"]) == []
        assert await refund_lines(database, order["id"]) == [("cancel", 2, 2)]
        assert await line_units(database, line) == (2, 0, 2)
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (10, 0)

    async def test_without_refund_no_money_moves_and_a_later_refund_can_give_it_back(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line,) = lines_of(order)

        response = await cancel(client, admin, order["id"], reason="inventory")

        assert response.status_code == 200, response.text
        assert response.json()["financialStatus"] == "paid"
        assert await refund_transactions(database, order["id"]) == []
        assert await refund_lines(database, order["id"]) == [("cancel", 2, 2)]
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (10, 0)

        # The units are off the order already; the money is refunded on its own.
        again = await refund(client, admin, order["id"], refundLineItems=[item(line, 1)])
        money = await refund(client, admin, order["id"], transactions=[{"amount": "20.00"}])

        assert again.status_code == 422
        assert again.json()["code"] == "REFUND_QUANTITY_EXCEEDED"
        assert money.status_code == 201, money.text
        assert await financial_status(database, order["id"]) == "refunded"

    async def test_without_restock_the_units_leave_committed_but_are_not_back_on_sale(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))

        response = await cancel(client, admin, order["id"], reason="other", restock=False)

        assert response.status_code == 200, response.text
        assert await refund_lines(database, order["id"]) == [("no_restock", 3, 3)]
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (7, 0)

    async def test_a_shipped_order_is_422_and_nothing_changes(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)
        await ship(database, line, 1)

        response = await cancel(client, admin, order["id"], reason="customer", refund=True)

        assert response.status_code == 422, response.text
        assert response.json()["code"] == "ORDER_FULFILLED"
        stored = await stored_order(database, order["id"])
        assert (stored.cancelled_at, stored.financial_status) == (None, "paid")
        assert await refund_rows(database, order["id"]) == 0
        assert await line_units(database, line) == (3, 1, 0)
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (7, 2)

    async def test_once_the_shipped_units_are_returned_the_order_can_be_cancelled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)
        await ship(database, line, 1)
        returned = await refund(
            client, admin, order["id"], refundLineItems=[item(line, 1, "return")]
        )
        assert returned.status_code == 201, returned.text

        response = await cancel(client, admin, order["id"], reason="customer", refund=True)

        assert response.status_code == 200, response.text
        assert response.json()["financialStatus"] == "refunded"
        assert await refund_lines(database, order["id"]) == [("return", 1, 0), ("cancel", 2, 2)]
        assert await line_units(database, line) == (3, 1, 2)
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (10, 0)

    async def test_a_cancelled_order_cannot_be_cancelled_again(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 1))
        first = await cancel(client, admin, order["id"], reason="customer")
        assert first.status_code == 200, first.text

        second = await cancel(client, admin, order["id"], reason="fraud", refund=True)

        assert second.status_code == 422
        assert second.json()["code"] == "ORDER_CANCELLED"
        stored = await stored_order(database, order["id"])
        assert (stored.cancel_reason, stored.financial_status) == ("customer", "paid")
        assert await refund_rows(database, order["id"]) == 1

    async def test_an_unknown_reason_is_400_and_an_unknown_order_404(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 1))

        bad = await cancel(client, admin, order["id"], reason="boredom")
        missing = await cancel(client, admin, 999_999_999, reason="other")

        assert bad.status_code == 400
        assert missing.status_code == 404
        assert (await stored_order(database, order["id"])).cancelled_at is None


class TestCloseAndOpen:
    async def test_close_sets_closed_at_and_open_clears_it(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 1))

        closed = await client.post(f"{ORDERS}/{order['id']}/close", headers=admin)
        closed_again = await client.post(f"{ORDERS}/{order['id']}/close", headers=admin)

        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed"
        assert closed.json()["closedAt"] is not None
        assert closed_again.json()["closedAt"] == closed.json()["closedAt"]
        assert (await stored_order(database, order["id"])).closed_at is not None

        opened = await client.post(f"{ORDERS}/{order['id']}/open", headers=admin)

        assert opened.status_code == 200, opened.text
        assert opened.json()["status"] == "open"
        assert opened.json()["closedAt"] is None
        assert (await stored_order(database, order["id"])).closed_at is None
        # One event per change: closing a closed order changed nothing.
        events = await topics(database, "Order", order["id"])
        assert events.count("orders/updated") == 2

    async def test_an_unknown_order_is_404(self, client: httpx.AsyncClient, admin: Headers) -> None:
        for action in ("close", "open"):
            response = await client.post(f"{ORDERS}/999999999/{action}", headers=admin)
            assert response.status_code == 404
