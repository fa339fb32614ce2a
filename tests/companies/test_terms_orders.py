"""Orders on B2B payment terms on SQLite and PostgreSQL: placed pending against the
company's credit (409 beyond it, changing nothing), paid later with an early-payment discount
or a late fee, their credit released when paid or cancelled; the company's balance and its
orders on terms."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.kit.types import utcnow
from shopdb.models import Event, InventoryItem, InventoryLevel, Order
from tests.companies.conftest import (
    COMPANIES,
    balance,
    create_company,
    create_term,
    place_on_terms,
    stocked_variant,
    stored_balance,
    terms_body,
)
from tests.fixtures.catalog import Headers
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import ORDERS


async def order_row(session: AsyncSession, order_id: int) -> Order:
    found = await session.scalar(
        select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def orders_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


async def available(session: AsyncSession, variant_id: int) -> int:
    found = await session.scalar(
        select(func.sum(InventoryLevel.available))
        .join(InventoryItem, InventoryItem.id == InventoryLevel.inventory_item_id)
        .where(InventoryItem.product_variant_id == variant_id)
    )
    return int(found or 0)


async def pay(
    client: httpx.AsyncClient, headers: Headers, order_id: int, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{ORDERS}/{order_id}/transactions",
        json={"kind": "sale", "gateway": "manual", **body},
        headers=headers,
    )


async def age(session: AsyncSession, order_id: int, days: int) -> None:
    """The order as if placed `days` earlier (its processing and due dates moved back)."""
    order = await order_row(session, order_id)
    assert order.processed_at is not None
    assert order.payment_due_at is not None
    await session.execute(
        update(Order)
        .where(Order.id == order_id)
        .values(
            processed_at=order.processed_at - timedelta(days=days),
            payment_due_at=order.payment_due_at - timedelta(days=days),
        )
    )


async def terms_company(
    client: httpx.AsyncClient, headers: Headers, credit: str = "1000.00", **term: Any
) -> tuple[int, int]:
    company = await create_company(client, headers, creditLimit=credit)
    made = await create_term(
        client,
        headers,
        company["id"],
        **{
            "netDays": 30,
            "discountPercentage": "2",
            "earlyPaymentDiscountDays": 10,
            "latePaymentFeePercentage": "1.5",
            **term,
        },
    )
    return company["id"], made["id"]


class TestPlacing:
    async def test_an_order_on_terms_is_pending_due_after_net_days_and_holds_credit(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, term_id = await terms_company(client, admin)
        variant = await stocked_variant(database, "100.00")
        before = utcnow()

        order = await place_on_terms(client, admin, variant, 3, company_id)

        assert (order["financialStatus"], order["totalPrice"], order["gateway"]) == (
            "pending",
            "300.00",
            None,
        )
        assert order["transactions"] == []
        assert (order["companyId"], order["paymentTermsId"]) == (company_id, term_id)
        read = (await client.get(f"{ORDERS}/{order['id']}", headers=admin)).json()
        assert read["paymentDueAt"] == order["paymentDueAt"]
        assert (read["companyId"], read["paymentTermsId"]) == (company_id, term_id)
        row = await order_row(db_session, order["id"])
        assert (row.company_id, row.payment_terms_id, row.credit_held) == (
            company_id,
            term_id,
            Decimal("300.00"),
        )
        assert row.processed_at is not None
        assert row.payment_due_at is not None
        assert row.payment_due_at - row.processed_at == timedelta(days=30)
        assert datetime.fromisoformat(order["paymentDueAt"]) == row.payment_due_at
        assert row.processed_at >= before
        assert row.payment_terms == {
            "netDays": 30,
            "discountPercentage": "2.00",
            "earlyPaymentDiscountDays": 10,
            "latePaymentFeePercentage": "1.50",
        }
        assert await stored_balance(db_session, company_id) == (
            Decimal("300.00"),
            Decimal("300.00"),
        )
        assert await available(db_session, variant) == 97
        account = await balance(client, admin, company_id)
        assert {k: v for k, v in account.items() if k != "asOf"} == {
            "companyId": company_id,
            "currency": "USD",
            "creditLimit": "1000.00",
            "outstanding": "300.00",
            "overdue": "0.00",
            "lateFees": "0.00",
            "availableCredit": "700.00",
            "outstandingOrders": 1,
            "overdueOrders": 0,
        }

    async def test_the_default_term_is_the_companys_first_and_another_may_be_named(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, first = await terms_company(client, admin)
        second = (await create_term(client, admin, company_id, netDays=60))["id"]
        variant = await stocked_variant(database, "10.00")

        default = await place_on_terms(client, admin, variant, 1, company_id)
        named = await place_on_terms(client, admin, variant, 1, company_id, paymentTermsId=second)

        default_row = await order_row(db_session, default["id"])
        named_row = await order_row(db_session, named["id"])
        assert default_row.payment_terms_id == first
        assert named_row.payment_terms_id == second
        assert named_row.payment_due_at is not None
        assert named_row.processed_at is not None
        assert named_row.payment_due_at - named_row.processed_at == timedelta(days=60)

    async def test_orders_beyond_the_credit_limit_are_409_and_change_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin, credit="250.00")
        variant = await stocked_variant(database, "100.00")
        await place_on_terms(client, admin, variant, 2, company_id)
        orders_before = await orders_count(db_session)
        events_before = await db_session.scalar(select(func.count()).select_from(Event))

        response = await client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=admin)

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "CREDIT_LIMIT_EXCEEDED"
        assert response.json()["details"] == [
            {"field": "companyId", "message": "credit available 50.00, order total 100.00"}
        ]
        assert await orders_count(db_session) == orders_before
        assert await available(db_session, variant) == 98
        assert await db_session.scalar(select(func.count()).select_from(Event)) == events_before
        assert await stored_balance(db_session, company_id) == (
            Decimal("200.00"),
            Decimal("200.00"),
        )

    async def test_an_order_exactly_at_the_limit_fits(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        company_id, _ = await terms_company(client, admin, credit="300.00")
        variant = await stocked_variant(database, "100.00")

        await place_on_terms(client, admin, variant, 3, company_id)

        account = await balance(client, admin, company_id)
        assert (account["outstanding"], account["availableCredit"]) == ("300.00", "0.00")

    async def test_refusals_name_the_field(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        other_id, other_term = await terms_company(client, admin)
        bare = await create_company(client, admin, companyName="No terms")
        variant = await stocked_variant(database, "10.00")

        cases = [
            (
                terms_body(variant, 1, company_id, payment={"gateway": "manual", "capture": True}),
                400,
                "companyId",
            ),
            (terms_body(variant, 1, company_id, paymentTermsId=other_term), 400, "paymentTermsId"),
            (terms_body(variant, 1, bare["id"]), 400, "companyId"),
            (terms_body(variant, 1, 987654), 400, "companyId"),
            (
                {
                    "email": "b@x.example",
                    "lineItems": [{"variantId": variant, "quantity": 1}],
                    "paymentTermsId": other_term,
                },
                400,
                "paymentTermsId",
            ),
        ]
        for body, status, field in cases:
            response = await client.post(ORDERS, json=body, headers=admin)
            assert response.status_code == status, (body, response.text)
            assert [d["field"] for d in response.json()["details"]] == [field], response.text
        assert (await balance(client, admin, other_id))["outstanding"] == "0.00"

    async def test_an_inactive_company_may_not_order_on_terms(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        await client.put(f"{COMPANIES}/{company_id}", json={"status": "inactive"}, headers=admin)
        variant = await stocked_variant(database, "10.00")

        response = await client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=admin)

        assert (response.status_code, response.json()["code"]) == (409, "COMPANY_INACTIVE")

    async def test_a_company_owing_money_is_not_deleted(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        variant = await stocked_variant(database, "10.00")
        await place_on_terms(client, admin, variant, 1, company_id)

        response = await client.delete(f"{COMPANIES}/{company_id}", headers=admin)

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "COMPANY_HAS_OUTSTANDING_BALANCE"
        assert (await client.get(f"{COMPANIES}/{company_id}", headers=admin)).status_code == 200


class TestPaying:
    async def test_paying_in_full_makes_it_paid_and_releases_the_credit(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin, earlyPaymentDiscountDays=None)
        variant = await stocked_variant(database, "100.00")
        order = await place_on_terms(client, admin, variant, 2, company_id)

        response = await pay(client, admin, order["id"], gateway="test", token="4242424242424242")

        assert response.status_code == 201, response.text
        assert (response.json()["amount"], response.json()["status"]) == ("200.00", "success")
        row = await order_row(db_session, order["id"])
        assert (row.financial_status, row.credit_held, row.early_payment_discount) == (
            "paid",
            Decimal("0.00"),
            Decimal("0.00"),
        )
        assert await stored_balance(db_session, company_id) == (Decimal("0.00"), Decimal("0"))
        account = await balance(client, admin, company_id)
        assert (account["outstanding"], account["availableCredit"]) == ("0.00", "1000.00")

    async def test_a_partial_payment_releases_what_it_paid(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        variant = await stocked_variant(database, "100.00")
        order = await place_on_terms(client, admin, variant, 2, company_id)
        await age(db_session, order["id"], 15)  # past the discount, not yet due

        sale = await pay(
            client, admin, order["id"], gateway="test", token="4242424242424242", amount="50"
        )

        assert sale.status_code == 201, sale.text
        row = await order_row(db_session, order["id"])
        assert (row.financial_status, row.credit_held) == ("partially_paid", Decimal("150.00"))
        assert await stored_balance(db_session, company_id) == (
            Decimal("150.00"),
            Decimal("150.00"),
        )

    async def test_paid_within_the_discount_window_the_discount_comes_off(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        variant = await stocked_variant(database, "100.00")
        order = await place_on_terms(client, admin, variant, 3, company_id)
        await age(db_session, order["id"], 9)  # within the 10 days
        listed = await client.get(f"{COMPANIES}/{company_id}/orders", headers=admin)
        too_much = await pay(client, admin, order["id"], amount="300.00")

        sale = await pay(client, admin, order["id"])  # manual: pending until captured
        captured = await client.post(
            f"{ORDERS}/{order['id']}/transactions",
            json={"kind": "capture", "parentId": sale.json()["id"]},
            headers=admin,
        )

        assert listed.json()["items"][0]["amountDue"] == "294.00"
        assert listed.json()["items"][0]["earlyPaymentDiscount"] == "6.00"
        assert too_much.status_code == 422
        assert (sale.status_code, sale.json()["amount"]) == (201, "294.00")
        assert (captured.status_code, captured.json()["amount"]) == (201, "294.00")
        row = await order_row(db_session, order["id"])
        assert (row.financial_status, row.early_payment_discount, row.late_fee) == (
            "paid",
            Decimal("6.00"),
            Decimal("0.00"),
        )
        assert row.total_price == Decimal("300.00")  # the order's own amounts stay
        assert await stored_balance(db_session, company_id) == (Decimal("0.00"), Decimal("0"))

    async def test_paid_after_the_window_no_discount(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        variant = await stocked_variant(database, "100.00")
        order = await place_on_terms(client, admin, variant, 3, company_id)
        await age(db_session, order["id"], 11)

        sale = await pay(client, admin, order["id"], gateway="test", token="4242424242424242")

        assert (sale.status_code, sale.json()["amount"]) == (201, "300.00")
        row = await order_row(db_session, order["id"])
        assert (row.financial_status, row.early_payment_discount) == ("paid", Decimal("0.00"))

    async def test_an_overdue_order_shows_in_the_balance_and_pays_its_late_fee(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        variant = await stocked_variant(database, "100.00")
        late = await place_on_terms(client, admin, variant, 2, company_id)
        current = await place_on_terms(client, admin, variant, 1, company_id)
        await age(db_session, late["id"], 31)

        account = await balance(client, admin, company_id)
        overdue_list = await client.get(
            f"{COMPANIES}/{company_id}/orders", params={"state": "overdue"}, headers=admin
        )
        sale = await pay(client, admin, late["id"], gateway="test", token="4242424242424242")

        assert {k: account[k] for k in ("outstanding", "overdue", "lateFees")} == {
            "outstanding": "300.00",
            "overdue": "200.00",
            "lateFees": "3.00",
        }
        assert (account["overdueOrders"], account["availableCredit"]) == (1, "700.00")
        assert [
            (o["id"], o["overdue"], o["lateFee"], o["amountDue"])
            for o in overdue_list.json()["items"]
        ] == [(late["id"], True, "3.00", "203.00")]
        assert (sale.status_code, sale.json()["amount"]) == (201, "203.00")
        row = await order_row(db_session, late["id"])
        assert (row.financial_status, row.late_fee, row.credit_held) == (
            "paid",
            Decimal("3.00"),
            Decimal("0.00"),
        )
        after = await balance(client, admin, company_id)
        assert {k: after[k] for k in ("outstanding", "overdue", "lateFees")} == {
            "outstanding": "100.00",
            "overdue": "0.00",
            "lateFees": "0.00",
        }
        assert current["id"] != late["id"]

    async def test_a_declined_payment_changes_no_balance(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        variant = await stocked_variant(database, "100.00")
        order = await place_on_terms(client, admin, variant, 1, company_id)

        sale = await pay(client, admin, order["id"], gateway="test", token="4000000000000002")

        assert (sale.status_code, sale.json()["status"]) == (201, "failure")
        row = await order_row(db_session, order["id"])
        assert (row.financial_status, row.credit_held) == ("pending", Decimal("100.00"))
        assert await stored_balance(db_session, company_id) == (
            Decimal("100.00"),
            Decimal("100.00"),
        )


class TestReleasing:
    async def test_cancelling_an_unpaid_order_releases_its_credit(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        company_id, _ = await terms_company(client, admin, credit="500.00")
        variant = await stocked_variant(database, "100.00")
        order = await place_on_terms(client, admin, variant, 5, company_id)
        refused = await client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=admin)

        cancelled = await client.post(
            f"{ORDERS}/{order['id']}/cancel", json={"reason": "customer"}, headers=admin
        )
        again = await client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=admin)

        assert refused.status_code == 409
        assert cancelled.status_code == 200, cancelled.text
        assert again.status_code == 201, again.text
        row = await order_row(db_session, order["id"])
        assert row.credit_held == Decimal("0.00")
        assert await stored_balance(db_session, company_id) == (
            Decimal("100.00"),
            Decimal("100.00"),
        )
        settled = await client.get(
            f"{COMPANIES}/{company_id}/orders", params={"state": "settled"}, headers=admin
        )
        assert [(o["id"], o["amountDue"]) for o in settled.json()["items"]] == [
            (order["id"], "0.00")
        ]

    async def test_lowering_the_limit_below_the_balance_stops_new_orders_only(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        variant = await stocked_variant(database, "100.00")
        await place_on_terms(client, admin, variant, 3, company_id)

        lowered = await client.put(
            f"{COMPANIES}/{company_id}", json={"creditLimit": "200"}, headers=admin
        )
        refused = await client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=admin)

        assert lowered.status_code == 200
        assert refused.status_code == 409
        account = await balance(client, admin, company_id)
        assert (account["outstanding"], account["availableCredit"]) == ("300.00", "0.00")


class TestCompanyOrders:
    async def test_a_page_of_terms_orders_costs_the_same_whatever_its_size(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
    ) -> None:
        company_id, _ = await terms_company(client, admin)
        variant = await stocked_variant(database, "10.00")
        url = f"{COMPANIES}/{company_id}/orders"
        await place_on_terms(client, admin, variant, 1, company_id)
        await client.get(url, headers=admin)  # warm the caller's authentication

        with statements_sent(database.primary, first_word=True) as one:
            small = await client.get(url, headers=admin)
        for _ in range(4):
            await place_on_terms(client, admin, variant, 1, company_id)
        with statements_sent(database.primary, first_word=True) as five:
            large = await client.get(url, params={"state": "outstanding"}, headers=admin)

        assert (len(small.json()["items"]), len(large.json()["items"])) == (1, 5)
        assert len(one) == len(five), (one, five)
        assert [o["amountDue"] for o in large.json()["items"]] == ["9.80"] * 5
