"""A refund transaction made by itself (POST /orders/{id}/transactions, kind `refund`) belongs
to a refund, as in Shopify, on SQLite and PostgreSQL: a refund with no line items, linked to
its transaction and mirrored as the refunds' own are, listed by GET /orders/{id}/refunds with
its `refunds/create` event; and the money refunded reads the same whichever way it was made."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select

from shopdb.db import Database
from shopdb.jobs.kinds import REFUNDS_NOTIFICATION_EMAIL
from shopdb.models import (
    Event,
    OrderLineItem,
    OrderRefund,
    OrderRefundTransaction,
    OrderTransaction,
    Refund,
)
from tests.fixtures.catalog import Headers
from tests.orders.helpers import APPROVE, ORDERS, count, jobs_of, level, order_events
from tests.orders.test_refunds import (
    both_refund_tables,
    financial_status,
    line_units,
    lines_of,
    refund,
    refund_rows,
    topics,
)
from tests.orders.test_transactions import placed, post

FAIL_REFUND = f"{APPROVE}+fail_refund"


async def refunds_of(client: httpx.AsyncClient, admin: Headers, order_id: int) -> list[Any]:
    response = await client.get(f"{ORDERS}/{order_id}/refunds", headers=admin)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def links(database: Database, order_id: int) -> list[tuple[int, int, Decimal, str]]:
    """(refund id, order transaction id, mirrored amount, mirrored status) of the order's
    refund transactions, each through its link to its refund."""
    async with database.session() as session:
        rows = await session.execute(
            select(
                OrderRefundTransaction.order_refund_id,
                OrderRefundTransaction.order_transaction_id,
                Refund.amount,
                Refund.status,
            )
            .join(OrderRefund, OrderRefund.id == OrderRefundTransaction.order_refund_id)
            .join(Refund, Refund.id == OrderRefundTransaction.refund_id)
            .where(OrderRefund.order_id == order_id)
            .order_by(OrderRefundTransaction.order_transaction_id)
        )
        return [(r[0], r[1], Decimal(r[2]), r[3]) for r in rows]


async def refund_transaction_ids(database: Database, order_id: int) -> list[int]:
    async with database.session() as session:
        rows = await session.scalars(
            select(OrderTransaction.id)
            .where(OrderTransaction.order_id == order_id, OrderTransaction.kind == "refund")
            .order_by(OrderTransaction.id)
        )
        return list(rows)


def comparable(read: dict[str, Any]) -> dict[str, Any]:
    """A refund as read, without what differs between two orders (ids, times, references)."""
    return {
        "note": read["note"],
        "reason": read["reason"],
        "refundLineItems": read["refundLineItems"],
        "transactions": [
            (t["kind"], t["gateway"], t["status"], t["amount"], t["currency"])
            for t in read["transactions"]
        ],
        "shipping": read["shipping"],
        "subtotal": read["subtotal"],
        "totalTax": read["totalTax"],
        "totalAmount": read["totalAmount"],
        "currency": read["currency"],
    }


class TestARefundTransactionBelongsToARefund:
    async def test_a_bare_refund_is_listed_as_a_refund_without_line_items(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, "30.00")
        (sale,) = order["transactions"]
        (line_id,) = lines_of(order)

        response = await post(client, admin, order["id"], kind="refund", amount="12.50")

        assert response.status_code == 201, response.text
        money = response.json()
        (listed,) = await refunds_of(client, admin, order["id"])
        assert listed["orderId"] == order["id"]
        assert comparable(listed) == {
            "note": None,
            "reason": None,
            "refundLineItems": [],
            "transactions": [("refund", "test", "success", "12.50", "USD")],
            "shipping": {"amount": "0.00"},
            "subtotal": "0.00",
            "totalTax": "0.00",
            "totalAmount": "12.50",
            "currency": "USD",
        }
        (linked,) = listed["transactions"]
        assert linked["id"] == money["id"]
        assert linked["parentId"] == sale["id"]
        one = await client.get(f"{ORDERS}/{order['id']}/refunds/{listed['id']}", headers=admin)
        assert one.status_code == 200
        assert one.json() == listed
        detail = await client.get(f"{ORDERS}/{order['id']}", headers=admin)
        assert detail.json()["refunds"] == [listed]
        assert detail.json()["financialStatus"] == "partially_refunded"
        assert await links(database, order["id"]) == [
            (listed["id"], money["id"], Decimal("12.50"), "success")
        ]
        assert await both_refund_tables(database, order["id"]) == (
            Decimal("12.50"),
            Decimal("12.50"),
        )
        # A refund of money only: no units taken, no stock moved, no email.
        assert await line_units(database, line_id) == (1, 0, 0)
        assert await topics(database, "Refund", listed["id"]) == ["refunds/create"]
        async with database.session() as session:
            body = await session.scalar(
                select(Event.body).where(
                    Event.topic == "refunds/create", Event.subject_id == listed["id"]
                )
            )
            assert body == {
                "id": listed["id"],
                "orderId": order["id"],
                "amount": "12.50",
                "currency": "USD",
                "refundLineItems": [],
                "transactions": [money["id"]],
            }
            assert await order_events(session, order["id"]) == [
                "orders/create",
                "orders/paid",
                "orders/updated",
            ]
            assert await jobs_of(session, REFUNDS_NOTIFICATION_EMAIL.name, order["id"]) == 0

    async def test_a_failed_refund_has_a_refund_that_gave_back_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, "30.00", token=FAIL_REFUND)

        response = await post(client, admin, order["id"], kind="refund", amount="10.00")

        assert response.status_code == 201, response.text
        failed = response.json()
        assert (failed["status"], failed["errorCode"]) == ("error", "processing_error")
        (listed,) = await refunds_of(client, admin, order["id"])
        assert listed["totalAmount"] == "0.00"
        assert [(t["id"], t["status"]) for t in listed["transactions"]] == [(failed["id"], "error")]
        assert await links(database, order["id"]) == [
            (listed["id"], failed["id"], Decimal("10.00"), "error")
        ]
        assert await both_refund_tables(database, order["id"]) == (Decimal(0), Decimal(0))
        assert await financial_status(database, order["id"]) == "paid"

    async def test_a_refused_refund_writes_no_refund(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, "30.00")
        async with database.session() as session:
            events = await count(session, Event)

        response = await post(client, admin, order["id"], kind="refund", amount="30.01")

        assert response.status_code == 422
        assert response.json()["code"] == "REFUND_EXCEEDS_CAPTURED"
        assert await refund_rows(database, order["id"]) == 0
        assert await refund_transaction_ids(database, order["id"]) == []
        async with database.session() as session:
            assert await count(session, Event) == events

    async def test_a_retry_with_its_idempotency_key_makes_one_refund(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, "30.00")
        headers = {**admin, "Idempotency-Key": "refund-transaction-once-1"}

        first = await post(client, headers, order["id"], kind="refund", amount="5.00")
        again = await post(client, headers, order["id"], kind="refund", amount="5.00")

        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        (listed,) = await refunds_of(client, admin, order["id"])
        assert [t["id"] for t in listed["transactions"]] == [first.json()["id"]]
        assert await refund_transaction_ids(database, order["id"]) == [first.json()["id"]]
        async with database.session() as session:
            assert (
                await count(
                    session,
                    Event,
                    Event.topic == "refunds/create",
                    Event.subject_id == listed["id"],
                )
                == 1
            )
        assert await financial_status(database, order["id"]) == "partially_refunded"


class TestBothWaysAgree:
    async def test_a_money_refund_reads_the_same_whichever_way_it_was_made(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        by_transaction = await placed(client, admin, database, "30.00")
        by_refund = await placed(client, admin, database, "30.00")

        made = await post(client, admin, by_transaction["id"], kind="refund", amount="12.00")
        also = await refund(client, admin, by_refund["id"], transactions=[{"amount": "12.00"}])

        assert made.status_code == also.status_code == 201, (made.text, also.text)
        (first,) = await refunds_of(client, admin, by_transaction["id"])
        (second,) = await refunds_of(client, admin, by_refund["id"])
        assert comparable(first) == comparable(second)
        assert comparable(first)["totalAmount"] == "12.00"
        for order in (by_transaction, by_refund):
            assert await financial_status(database, order["id"]) == "partially_refunded"
            assert await both_refund_tables(database, order["id"]) == (
                Decimal("12.00"),
                Decimal("12.00"),
            )
        assert await topics(database, "Refund", first["id"]) == await topics(
            database, "Refund", second["id"]
        )
        async with database.session() as session:
            assert await order_events(session, by_transaction["id"]) == await order_events(
                session, by_refund["id"]
            )

    async def test_refunds_made_both_ways_add_up_to_the_refunded_order(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, "30.00")
        (line_id,) = lines_of(order)
        item_id, location_id = await _stock_of(database, line_id)
        async with database.session() as session:
            stock = await level(session, item_id, location_id)

        first = await refund(
            client,
            admin,
            order["id"],
            refundLineItems=[{"lineItemId": line_id, "quantity": 1, "restockType": "cancel"}],
            transactions=[{"amount": "20.00"}],
        )
        second = await post(client, admin, order["id"], kind="refund")

        assert first.status_code == second.status_code == 201, (first.text, second.text)
        assert second.json()["amount"] == "10.00"
        listed = await refunds_of(client, admin, order["id"])
        assert [(len(r["refundLineItems"]), r["totalAmount"]) for r in listed] == [
            (1, "20.00"),
            (0, "10.00"),
        ]
        assert sorted(t for _, t, _, _ in await links(database, order["id"])) == (
            await refund_transaction_ids(database, order["id"])
        )
        assert await financial_status(database, order["id"]) == "refunded"
        assert await both_refund_tables(database, order["id"]) == (
            Decimal("30.00"),
            Decimal("30.00"),
        )
        # Only the refund with the line restocked: its one unit back on sale.
        async with database.session() as session:
            assert await level(session, item_id, location_id) == (stock[0] + 1, stock[1] - 1)


async def _stock_of(database: Database, line_id: int) -> tuple[int, int]:
    async with database.session() as session:
        line = await session.get(OrderLineItem, line_id)
        assert line is not None
        assert line.inventory_item_id is not None
        assert line.location_id is not None
        return line.inventory_item_id, line.location_id
