"""POST/GET /api/v1/orders/{id}/transactions on SQLite and PostgreSQL: captures, voids,
refunds, authorizations and sales through the order's gateway, their rules (422 naming each),
the financial status they move, their events and their mirrors; and the Python API the
refunds and cancellation use (refund_payments, void_authorizations)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shopdb.db import Database
from shopdb.models import Order, OrderTransaction, TransactionEnhanced
from shopdb.orders.repository import OrderRepository
from shopdb.orders.transactions import endpoints
from shopdb.orders.transactions.errors import RefundExceedsCaptured
from shopdb.orders.transactions.service import (
    authorized_uncaptured,
    captured_amount,
    financial_status_of,
    refund_payments,
    refundable_amount,
    void_authorizations,
)
from shopdb.payments.gateways.base import PaymentGateway
from shopdb.payments.gateways.manual import ManualGateway
from shopdb.payments.gateways.test import TestGateway
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.gateways import ScriptedGateway, use_gateway
from tests.orders.helpers import (
    APPROVE,
    DECLINE,
    ORDERS,
    count,
    gift_card_balance,
    make_locations,
    make_variant,
    order_body,
    order_events,
    payment_mirror,
    place,
)
from tests.orders.test_adjustments import gift_card

FAIL_CAPTURE = f"{APPROVE}+fail_capture"


def gateways(name: str) -> PaymentGateway:
    return ManualGateway() if name == "manual" else TestGateway()


async def placed(
    client: httpx.AsyncClient,
    headers: Headers,
    database: Database,
    price: str = "30.00",
    *,
    capture: bool = True,
    token: str = APPROVE,
    gateway: str = "test",
    **fields: Any,
) -> dict[str, Any]:
    """A placed order of one unit at `price`, authorized (capture=False) or sold."""
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, price, {loc: 5})
    body = order_body((tee.variant_id, 1), **fields)
    body["payment"] = {"gateway": gateway, "token": token, "capture": capture}
    response = await place(client, headers, body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def post(
    client: httpx.AsyncClient, headers: Headers, order_id: int, **body: Any
) -> httpx.Response:
    return await client.post(f"{ORDERS}/{order_id}/transactions", json=body, headers=headers)


async def created(
    client: httpx.AsyncClient, headers: Headers, order_id: int, **body: Any
) -> dict[str, Any]:
    response = await post(client, headers, order_id, **body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def refused(
    client: httpx.AsyncClient, headers: Headers, order_id: int, code: str, **body: Any
) -> dict[str, Any]:
    """The request is a 422 naming `code`, and the order's transactions did not change."""
    before = await listed(client, headers, order_id)
    response = await post(client, headers, order_id, **body)
    assert response.status_code == 422, response.text
    answer: dict[str, Any] = response.json()
    assert answer["code"] == code, answer
    assert await listed(client, headers, order_id) == before
    return answer


async def listed(client: httpx.AsyncClient, headers: Headers, order_id: int) -> list[Any]:
    response = await client.get(f"{ORDERS}/{order_id}/transactions", headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def financial_status(client: httpx.AsyncClient, headers: Headers, order_id: int) -> str:
    response = await client.get(f"{ORDERS}/{order_id}", headers=headers)
    assert response.status_code == 200, response.text
    status: str = response.json()["financialStatus"]
    return status


async def enhanced_parents(database: Database, order_id: int) -> dict[int, int | None]:
    """order transaction id -> its parent's order transaction id, as transactions_enhanced
    states it (parent_id names the parent's enhanced row)."""
    async with database.session() as session:
        rows = list(
            await session.scalars(
                select(TransactionEnhanced).where(TransactionEnhanced.order_id == order_id)
            )
        )
    by_id = {row.id: row for row in rows}
    found: dict[int, int | None] = {}
    for row in rows:
        assert row.receipt is not None
        parent = by_id[row.parent_id] if row.parent_id is not None else None
        found[row.receipt["orderTransactionId"]] = (
            None
            if parent is None or parent.receipt is None
            else parent.receipt["orderTransactionId"]
        )
    return found


class TestCapture:
    async def test_partial_then_remaining_capture_pays_the_order(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        (authorization,) = order["transactions"]
        assert order["financialStatus"] == "authorized"

        first = await created(client, admin, order["id"], kind="capture", amount="10.00")

        assert first["kind"] == "capture"
        assert first["status"] == "success"
        assert first["amount"] == "10.00"
        assert first["currency"] == "USD"
        assert first["parentId"] == authorization["id"]
        assert first["orderId"] == order["id"]
        assert first["gateway"] == "test"
        assert first["transactionId"] == authorization["authorization"]
        assert first["authorizationCode"] == authorization["authorization"]
        assert (first["cardBrand"], first["cardLast4"]) == ("visa", "4242")
        assert first["errorCode"] is None
        assert await financial_status(client, admin, order["id"]) == "partially_paid"

        rest = await created(client, admin, order["id"], kind="capture")

        assert (rest["amount"], rest["status"], rest["parentId"]) == (
            "20.00",
            "success",
            authorization["id"],
        )
        assert await financial_status(client, admin, order["id"]) == "paid"
        async with database.session() as session:
            assert await order_events(session, order["id"]) == [
                "orders/create",
                "orders/updated",
                "orders/paid",
            ]
            truth, mirror = await payment_mirror(session, order["id"])
        assert mirror == truth
        assert [(t[1], t[3], t[4]) for t in truth] == [
            ("authorization", "success", Decimal("30.00")),
            ("capture", "success", Decimal("10.00")),
            ("capture", "success", Decimal("20.00")),
        ]
        assert await enhanced_parents(database, order["id"]) == {
            authorization["id"]: None,
            first["id"]: authorization["id"],
            rest["id"]: authorization["id"],
        }

    async def test_capturing_beyond_the_authorization_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        (authorization,) = order["transactions"]

        answer = await refused(
            client, admin, order["id"], "CAPTURE_EXCEEDS_AUTHORIZED", kind="capture", amount="30.01"
        )
        assert answer["details"] == [{"field": "amount", "message": answer["message"]}]
        assert "30.00" in answer["message"]
        await created(client, admin, order["id"], kind="capture", amount="30.00")
        await refused(client, admin, order["id"], "NOTHING_TO_CAPTURE", kind="capture")
        await refused(
            client,
            admin,
            order["id"],
            "CAPTURE_EXCEEDS_AUTHORIZED",
            kind="capture",
            amount="0.01",
            parentId=authorization["id"],
        )
        assert await financial_status(client, admin, order["id"]) == "paid"

    async def test_amounts_must_be_positive_in_cents_and_in_the_orders_currency(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)

        for amount in ("0", "-5.00", "1.005"):
            await refused(
                client, admin, order["id"], "INVALID_AMOUNT", kind="capture", amount=amount
            )
        # Not a number at all is the request's shape, refused before any rule: 400.
        malformed = await post(client, admin, order["id"], kind="capture", amount="NaN")
        assert malformed.status_code == 400
        assert malformed.json()["details"][0]["field"] == "amount"
        await refused(
            client,
            admin,
            order["id"],
            "CURRENCY_MISMATCH",
            kind="capture",
            amount="5.00",
            currency="EUR",
        )
        # The same currency in lower case, and cents written with a trailing zero, are fine.
        done = await created(
            client, admin, order["id"], kind="capture", amount="5.000", currency="usd"
        )
        assert done["amount"] == "5.00"

    async def test_a_parent_that_is_not_a_capturable_authorization_is_422(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        sale = await placed(client, admin, database)
        other = await placed(client, admin, database, capture=False)

        await refused(
            client,
            admin,
            sale["id"],
            "TRANSACTION_PARENT_INVALID",
            kind="capture",
            parentId=sale["transactions"][0]["id"],
        )
        # Another order's authorization is not this order's.
        await refused(
            client,
            admin,
            sale["id"],
            "TRANSACTION_PARENT_INVALID",
            kind="capture",
            parentId=other["transactions"][0]["id"],
        )
        await refused(client, admin, sale["id"], "NOTHING_TO_CAPTURE", kind="capture")

    async def test_a_gateway_error_is_recorded_and_the_status_does_not_move(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False, token=FAIL_CAPTURE)

        failed = await created(client, admin, order["id"], kind="capture", amount="10.00")

        assert (failed["status"], failed["errorCode"]) == ("error", "processing_error")
        assert failed["message"] == "The test gateway was told to fail this operation."
        assert await financial_status(client, admin, order["id"]) == "authorized"
        # A failed capture used up nothing: the whole authorization is still capturable.
        await refused(
            client,
            admin,
            order["id"],
            "CAPTURE_EXCEEDS_AUTHORIZED",
            kind="capture",
            amount="30.01",
        )
        (_, listed_failure) = await listed(client, admin, order["id"])
        assert listed_failure == failed

    async def test_unknown_order_is_404(self, client: httpx.AsyncClient, admin: Headers) -> None:
        response = await post(client, admin, 987654321, kind="capture")
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
        response = await client.get(f"{ORDERS}/987654321/transactions", headers=admin)
        assert response.status_code == 404


class TestListing:
    async def test_the_list_takes_the_same_statements_for_2_or_6_transactions(
        self, client: httpx.AsyncClient, admin: Headers, database: Database, backend: Backend
    ) -> None:
        few = await placed(client, admin, database, capture=False)
        await created(client, admin, few["id"], kind="capture", amount="1.00")
        many = await placed(client, admin, database, capture=False)
        for _ in range(4):
            await created(client, admin, many["id"], kind="capture", amount="1.00")
        await created(client, admin, many["id"], kind="refund", amount="1.00")
        await listed(client, admin, few["id"])  # the same authentication work for both

        with statements_sent(backend.engine) as small:
            assert len(await listed(client, admin, few["id"])) == 2
        with statements_sent(backend.engine) as large:
            items = await listed(client, admin, many["id"])

        assert len(large) == len(small)
        assert [t["kind"] for t in items] == ["authorization"] + ["capture"] * 4 + ["refund"]
        assert [t["id"] for t in items] == sorted(t["id"] for t in items)
        assert items[-1]["parentId"] == items[-2]["id"]


class TestVoid:
    async def test_voiding_the_authorization_voids_the_order(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        (authorization,) = order["transactions"]

        void = await created(client, admin, order["id"], kind="void")

        assert (void["kind"], void["status"], void["amount"], void["parentId"]) == (
            "void",
            "success",
            "30.00",
            authorization["id"],
        )
        assert await financial_status(client, admin, order["id"]) == "voided"
        await refused(
            client,
            admin,
            order["id"],
            "AUTHORIZATION_VOIDED",
            kind="void",
            parentId=authorization["id"],
        )
        await refused(client, admin, order["id"], "NOTHING_TO_VOID", kind="void")
        await refused(client, admin, order["id"], "NOTHING_TO_CAPTURE", kind="capture")
        await refused(
            client,
            admin,
            order["id"],
            "AUTHORIZATION_VOIDED",
            kind="capture",
            parentId=authorization["id"],
        )
        async with database.session() as session:
            assert await order_events(session, order["id"]) == ["orders/create", "orders/updated"]

    async def test_an_authorization_with_a_capture_cannot_be_voided(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        await created(client, admin, order["id"], kind="capture", amount="1.00")

        await refused(client, admin, order["id"], "VOID_CAPTURED_AUTHORIZATION", kind="void")
        await refused(
            client,
            admin,
            order["id"],
            "VOID_CAPTURED_AUTHORIZATION",
            kind="void",
            parentId=order["transactions"][0]["id"],
        )
        assert await financial_status(client, admin, order["id"]) == "partially_paid"


class TestRefund:
    async def test_partial_then_full_refund_of_a_sale(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, "60.00")
        (sale,) = order["transactions"]

        part = await created(client, admin, order["id"], kind="refund", amount="20.00")

        assert (part["kind"], part["status"], part["parentId"], part["amount"]) == (
            "refund",
            "success",
            sale["id"],
            "20.00",
        )
        assert part["transactionId"].startswith("tst_refund_")
        assert await financial_status(client, admin, order["id"]) == "partially_refunded"
        await refused(
            client, admin, order["id"], "REFUND_EXCEEDS_CAPTURED", kind="refund", amount="40.01"
        )

        rest = await created(client, admin, order["id"], kind="refund")

        assert rest["amount"] == "40.00"
        assert await financial_status(client, admin, order["id"]) == "refunded"
        await refused(client, admin, order["id"], "REFUND_EXCEEDS_CAPTURED", kind="refund")
        async with database.session() as session:
            truth, mirror = await payment_mirror(session, order["id"])
        assert mirror == truth
        assert await enhanced_parents(database, order["id"]) == {
            sale["id"]: None,
            part["id"]: sale["id"],
            rest["id"]: sale["id"],
        }

    async def test_only_what_was_captured_is_refunded(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        (authorization,) = order["transactions"]
        await refused(client, admin, order["id"], "REFUND_EXCEEDS_CAPTURED", kind="refund")
        await refused(
            client,
            admin,
            order["id"],
            "TRANSACTION_PARENT_INVALID",
            kind="refund",
            parentId=authorization["id"],
        )
        capture = await created(client, admin, order["id"], kind="capture", amount="12.00")

        await refused(
            client, admin, order["id"], "REFUND_EXCEEDS_CAPTURED", kind="refund", amount="12.01"
        )
        refund = await created(
            client, admin, order["id"], kind="refund", amount="12.00", parentId=capture["id"]
        )

        assert refund["parentId"] == capture["id"]
        assert await financial_status(client, admin, order["id"]) == "refunded"


class TestManualGateway:
    async def test_a_pending_manual_sale_is_captured_when_the_money_comes_then_refunded(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, gateway="manual", token="")
        (sale,) = order["transactions"]
        assert (sale["status"], order["financialStatus"]) == ("pending", "pending")
        await refused(client, admin, order["id"], "REFUND_EXCEEDS_CAPTURED", kind="refund")

        capture = await created(client, admin, order["id"], kind="capture")

        assert (capture["status"], capture["amount"], capture["parentId"]) == (
            "success",
            "30.00",
            sale["id"],
        )
        assert await financial_status(client, admin, order["id"]) == "paid"
        refund = await created(client, admin, order["id"], kind="refund", amount="5.00")
        assert (refund["status"], refund["parentId"]) == ("success", capture["id"])
        assert await financial_status(client, admin, order["id"]) == "partially_refunded"

    async def test_a_pending_manual_authorization_is_voided(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False, gateway="manual", token="")

        void = await created(client, admin, order["id"], kind="void")

        assert (void["status"], void["gateway"]) == ("success", "manual")
        assert await financial_status(client, admin, order["id"]) == "voided"


class TestNewPayments:
    async def test_after_a_void_a_new_authorization_is_captured(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        await created(client, admin, order["id"], kind="void")
        await refused(client, admin, order["id"], "PAYMENT_TOKEN_REQUIRED", kind="authorization")
        await refused(
            client,
            admin,
            order["id"],
            "AMOUNT_EXCEEDS_OUTSTANDING",
            kind="authorization",
            amount="30.01",
            token=APPROVE,
        )
        declined = await created(client, admin, order["id"], kind="sale", token=DECLINE)
        assert (declined["status"], declined["errorCode"], declined["message"]) == (
            "failure",
            "card_declined",
            "The card was declined.",
        )
        assert await financial_status(client, admin, order["id"]) == "voided"

        authorization = await created(
            client, admin, order["id"], kind="authorization", token=APPROVE
        )

        assert (authorization["status"], authorization["amount"]) == ("success", "30.00")
        assert authorization["authorizationCode"] == authorization["transactionId"]
        assert authorization["parentId"] is None
        assert await financial_status(client, admin, order["id"]) == "authorized"
        await refused(
            client, admin, order["id"], "AMOUNT_EXCEEDS_OUTSTANDING", kind="sale", token=APPROVE
        )
        capture = await created(client, admin, order["id"], kind="capture")
        assert capture["parentId"] == authorization["id"]
        assert await financial_status(client, admin, order["id"]) == "paid"
        kinds = [(t["kind"], t["status"]) for t in await listed(client, admin, order["id"])]
        assert kinds == [
            ("authorization", "success"),
            ("void", "success"),
            ("sale", "failure"),
            ("authorization", "success"),
            ("capture", "success"),
        ]

    async def test_a_cancelled_order_takes_no_new_money(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        async with database.session() as session:
            row = await session.get(Order, order["id"])
            assert row is not None
            row.cancelled_at = row.created_at

        await refused(client, admin, order["id"], "ORDER_CANCELLED", kind="capture")
        await refused(client, admin, order["id"], "ORDER_CANCELLED", kind="sale", token=APPROVE)
        void = await created(client, admin, order["id"], kind="void")
        assert void["status"] == "success"


class TestIdempotency:
    async def test_a_retried_capture_with_its_key_captures_once(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        headers = {**admin, "Idempotency-Key": "capture-once-1"}

        first = await post(client, headers, order["id"], kind="capture", amount="10.00")
        again = await post(client, headers, order["id"], kind="capture", amount="10.00")

        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        async with database.session() as session:
            captures = await count(
                session,
                OrderTransaction,
                OrderTransaction.order_id == order["id"],
                OrderTransaction.kind == "capture",
            )
        assert captures == 1


class TestPythonApi:
    async def test_refund_payments_spreads_over_card_then_gift_card(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        card = await gift_card(client, admin, "12.50")
        order = await placed(client, admin, database, giftCardCodes=[card["code"]])
        assert [(t["gateway"], t["amount"]) for t in order["transactions"]] == [
            ("gift_card", "12.50"),
            ("test", "17.50"),
        ]

        async with database.session() as session:
            locked = await OrderRepository(session).lock_placed(order["id"])
            assert locked is not None
            assert captured_amount(locked) == Decimal("30.00")
            assert refundable_amount(locked) == Decimal("30.00")
            refunds = await refund_payments(
                session, gateways, locked, Decimal("20.00"), now=locked.created_at, actor="t"
            )
            assert [(r.gateway, r.status, r.amount) for r in refunds] == [
                ("test", "success", Decimal("17.50")),
                ("gift_card", "success", Decimal("2.50")),
            ]
            assert [r.parent_id for r in refunds] == [t["id"] for t in order["transactions"]][::-1]
            assert refundable_amount(locked) == Decimal("10.00")
            assert financial_status_of(locked) == "partially_refunded"
            assert locked.financial_status == "partially_refunded"

        async with database.session() as session:
            assert await gift_card_balance(session, card["id"]) == Decimal("2.50")
            truth, mirror = await payment_mirror(session, order["id"])
            assert mirror == truth
            assert await order_events(session, order["id"]) == [
                "orders/create",
                "orders/paid",
                "orders/updated",
            ]
        assert await financial_status(client, admin, order["id"]) == "partially_refunded"

    async def test_refund_payments_refunds_the_shares_it_is_given(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        card = await gift_card(client, admin, "12.50")
        order = await placed(client, admin, database, giftCardCodes=[card["code"]])
        gift, sale = (t["id"] for t in order["transactions"])

        async with database.session() as session:
            locked = await OrderRepository(session).lock_placed(order["id"])
            assert locked is not None
            with pytest.raises(RefundExceedsCaptured):
                await refund_payments(
                    session, gateways, locked, Decimal("13.00"), now=locked.created_at,
                    actor=None, shares=[(gift, Decimal("13.00"))],
                )  # fmt: skip
            refunds = await refund_payments(
                session, gateways, locked, Decimal("7.00"), now=locked.created_at, actor=None,
                shares=[(gift, Decimal("5.00")), (sale, Decimal("2.00"))],
            )  # fmt: skip
            # The card's gateway first, then the gift card (whose row lock is taken last).
            assert [(r.parent_id, r.gateway, r.amount) for r in refunds] == [
                (sale, "test", Decimal("2.00")),
                (gift, "gift_card", Decimal("5.00")),
            ]
        async with database.session() as session:
            assert await gift_card_balance(session, card["id"]) == Decimal("5.00")

    async def test_refund_payments_refuses_more_than_refundable(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database)
        async with database.session() as session:
            locked = await OrderRepository(session).lock_placed(order["id"])
            assert locked is not None
            with pytest.raises(RefundExceedsCaptured):
                await refund_payments(
                    session, gateways, locked, Decimal("30.01"), now=locked.created_at, actor=None
                )
            assert refundable_amount(locked) == Decimal("30.00")
            assert len(locked.transactions) == 1

    async def test_void_authorizations_voids_what_has_nothing_captured(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order = await placed(client, admin, database, capture=False)
        async with database.session() as session:
            locked = await OrderRepository(session).lock_placed(order["id"])
            assert locked is not None
            assert authorized_uncaptured(locked) == Decimal("30.00")

            voids = await void_authorizations(
                session, gateways, locked, now=locked.created_at, actor=None
            )

            assert [(v.kind, v.status, v.amount) for v in voids] == [
                ("void", "success", Decimal("30.00"))
            ]
            assert authorized_uncaptured(locked) == Decimal(0)
            assert financial_status_of(locked) == "voided"
            again = await void_authorizations(
                session, gateways, locked, now=locked.created_at, actor=None
            )
            assert again == []
        assert await financial_status(client, admin, order["id"]) == "voided"
        async with database.session() as session:
            assert await order_events(session, order["id"]) == ["orders/create", "orders/updated"]


class TestGatewayKeys:
    async def test_an_error_is_asked_again_with_the_same_key_then_recorded(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        gateway = ScriptedGateway()
        use_gateway(monkeypatch, gateway)
        monkeypatch.setattr(endpoints, "registry_gateways", lambda settings: lambda name: gateway)
        order = await placed(client, admin, database, capture=False)
        gateway.errors.add("capture")

        failed = await created(client, admin, order["id"], kind="capture", amount="10.00")

        assert (failed["status"], failed["errorCode"]) == ("error", "gateway_unavailable")
        captures = [arguments for name, arguments in gateway.calls if name == "capture"]
        assert len(captures) == 2
        assert captures[0]["idempotency_key"] == captures[1]["idempotency_key"]
        assert await financial_status(client, admin, order["id"]) == "authorized"

    async def test_a_request_that_died_is_retried_with_the_key_of_its_gateway_call(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        gateway = ScriptedGateway()
        use_gateway(monkeypatch, gateway)
        monkeypatch.setattr(endpoints, "registry_gateways", lambda settings: lambda name: gateway)
        order = await placed(client, admin, database, capture=False)
        gateway.raises.add("capture")

        died = await post(client, admin, order["id"], kind="capture", amount="10.00")

        assert died.status_code == 500
        assert await listed(client, admin, order["id"]) == order_transactions(order)
        gateway.raises.clear()
        done = await created(client, admin, order["id"], kind="capture", amount="10.00")
        assert done["status"] == "success"
        first, second = (a for name, a in gateway.calls if name == "capture")
        # The gateway answers the retry with the first call's outcome: money moves once.
        assert first["idempotency_key"] == second["idempotency_key"]
        assert first["idempotency_key"].startswith(f"shopdb-order-{order['id']}-capture-")


def order_transactions(order: dict[str, Any]) -> list[Any]:
    """The placement's transactions as GET /transactions lists them."""
    return [
        {
            "id": t["id"],
            "orderId": order["id"],
            "kind": t["kind"],
            "gateway": t["gateway"],
            "status": t["status"],
            "amount": t["amount"],
            "currency": t["currency"],
            "parentId": None,
            "authorizationCode": t["authorization"],
            "transactionId": t["authorization"],
            "errorCode": t["errorCode"],
            "message": None,
            "cardBrand": t["cardBrand"],
            "cardLast4": t["cardLast4"],
            "processedAt": t["processedAt"],
            "createdAt": t["createdAt"],
        }
        for t in order["transactions"]
    ]
