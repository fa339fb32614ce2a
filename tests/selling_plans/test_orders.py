"""Order lines under a selling plan: the plan sets the price, the line records the plan, and a
recurring plan opens a subscription contract."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.keys import field_cipher
from shopdb.models import Event, OrderLineItem, SubscriptionContract
from shopdb.models.selling_plans import CONTRACT_PAYMENT_METHOD
from shopdb.services import services_of
from tests.fixtures.catalog import Headers
from tests.orders.helpers import APPROVE, count, level, order_count
from tests.selling_plans.helpers import (
    CONTRACTS,
    GROUPS,
    ORDERS,
    Shop,
    add_months,
    contracts_of_order,
    subscription_order,
)


class TestLinePrice:
    async def test_a_percentage_plan_prices_the_line_and_the_line_records_it(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        plan_id = shop.plan("Monthly, 10% off")

        response = await client.post(ORDERS, json=subscription_order(shop, plan_id), headers=admin)

        assert response.status_code == 201, response.text
        order = response.json()
        [line] = order["lineItems"]
        assert (line["price"], line["sellingPlanId"]) == ("18.00", plan_id)
        assert order["subtotalPrice"] == "36.00"
        assert order["totalPrice"] == "36.00"
        read = await client.get(f"{ORDERS}/{order['id']}", headers=admin)
        assert read.json()["lineItems"][0]["sellingPlanId"] == plan_id
        assert read.json()["lineItems"][0]["price"] == "18.00"
        stored = await db_session.scalar(
            select(OrderLineItem.selling_plan_id).where(OrderLineItem.id == line["id"])
        )
        assert stored == plan_id

    async def test_a_line_without_a_plan_reads_a_null_plan(
        self, client: httpx.AsyncClient, admin: Headers, shop: Shop
    ) -> None:
        response = await client.post(ORDERS, json=subscription_order(shop, None), headers=admin)

        assert response.status_code == 201, response.text
        [line] = response.json()["lineItems"]
        assert (line["price"], line["sellingPlanId"]) == ("20.00", None)

    async def test_a_fixed_amount_off_never_goes_below_zero(
        self, client: httpx.AsyncClient, admin: Headers, shop: Shop
    ) -> None:
        added = await client.post(
            f"{GROUPS}/{shop.group['id']}/plans",
            json={
                "name": "Free sample",
                "billingPolicy": {},
                "deliveryPolicy": {},
                "pricingPolicy": {"adjustmentType": "fixed_amount", "adjustmentValue": "25.00"},
            },
            headers=admin,
        )
        body = subscription_order(shop, added.json()["id"])
        del body["payment"]

        response = await client.post(ORDERS, json=body, headers=admin)

        assert response.status_code == 201, response.text
        assert response.json()["lineItems"][0]["price"] == "0.00"
        assert response.json()["totalPrice"] == "0.00"

    async def test_a_fixed_price_plan_and_a_fixed_amount_plan(
        self, client: httpx.AsyncClient, admin: Headers, shop: Shop
    ) -> None:
        fixed = await client.post(
            f"{GROUPS}/{shop.group['id']}/plans",
            json={
                "name": "Club price",
                "billingPolicy": {},
                "deliveryPolicy": {},
                "pricingPolicy": {"adjustmentType": "price", "adjustmentValue": "12.50"},
            },
            headers=admin,
        )

        at_price = await client.post(
            ORDERS, json=subscription_order(shop, fixed.json()["id"]), headers=admin
        )
        amount_off = await client.post(
            ORDERS, json=subscription_order(shop, shop.plan("Pre-order, 5.00 off")), headers=admin
        )

        assert at_price.json()["lineItems"][0]["price"] == "12.50"
        assert amount_off.json()["lineItems"][0]["price"] == "15.00"
        assert amount_off.json()["totalPrice"] == "30.00"


class TestRefusals:
    async def test_a_plan_the_product_does_not_offer_is_422_and_places_nothing(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        other = await client.post(
            GROUPS,
            json={
                "name": "Other",
                "plans": [
                    {
                        "name": "Weekly",
                        "billingPolicy": {"interval": "week"},
                        "deliveryPolicy": {"interval": "week"},
                    }
                ],
            },
            headers=admin,
        )
        plan_id = other.json()["plans"][0]["id"]
        before = await order_count(db_session)

        response = await client.post(ORDERS, json=subscription_order(shop, plan_id), headers=admin)

        assert response.status_code == 422, response.text
        assert response.json()["code"] == "SELLING_PLAN_NOT_AVAILABLE"
        assert response.json()["details"] == [
            {
                "field": "lineItems[0].sellingPlanId",
                "message": "the product does not offer the plan",
            }
        ]
        assert await order_count(db_session) == before
        assert await level(db_session, shop.item_id, shop.location_id) == (50, 0)

    async def test_an_archived_plan_is_422(
        self, client: httpx.AsyncClient, admin: Headers, shop: Shop
    ) -> None:
        plan_id = shop.plan("Monthly, 10% off")
        await client.put(
            f"{GROUPS}/{shop.group['id']}/plans/{plan_id}",
            json={"status": "archived"},
            headers=admin,
        )

        response = await client.post(ORDERS, json=subscription_order(shop, plan_id), headers=admin)

        assert response.status_code == 422
        assert response.json()["details"][0]["message"] == "the plan is archived"

    async def test_an_unknown_plan_is_400(
        self, client: httpx.AsyncClient, admin: Headers, shop: Shop
    ) -> None:
        response = await client.post(
            ORDERS, json=subscription_order(shop, 987654321), headers=admin
        )

        assert response.status_code == 400
        assert response.json()["details"] == [
            {"field": "lineItems[0].sellingPlanId", "message": "does not exist"}
        ]

    async def test_a_subscription_needs_a_customer(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        body = subscription_order(shop, shop.plan("Monthly, 10% off"), email="guest@example.com")
        del body["customerId"]
        before = await order_count(db_session)

        response = await client.post(ORDERS, json=body, headers=admin)

        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "customerId"
        assert await order_count(db_session) == before
        assert await count(db_session, SubscriptionContract) == 0


class TestContracts:
    async def test_a_recurring_plan_opens_a_contract_with_the_saved_method(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        shop: Shop,
    ) -> None:
        plan_id = shop.plan("Monthly, 10% off")

        response = await client.post(ORDERS, json=subscription_order(shop, plan_id), headers=admin)

        assert response.status_code == 201, response.text
        order = response.json()
        [contract] = await contracts_of_order(db_session, order["id"])
        placed_on = contract.anchor_date
        assert (contract.status, contract.billing_cycle, contract.quantity) == ("active", 1, 2)
        assert contract.next_billing_date == add_months(placed_on, 1)
        assert (contract.selling_plan_id, contract.product_variant_id) == (plan_id, shop.variant_id)
        assert contract.customer_id == shop.customer_id
        # Sealed: the card token is not stored in clear.
        assert APPROVE not in contract.payment_method
        cipher = field_cipher(services_of(app).settings)
        opened = cipher.decrypt(contract.payment_method, context=CONTRACT_PAYMENT_METHOD)
        assert opened == f'{{"token": "{APPROVE}"}}'
        read = await client.get(f"{CONTRACTS}/{contract.id}", headers=admin)
        assert read.status_code == 200
        body = read.json()
        assert body["paymentMethod"] == {"gateway": "test", "kind": "token"}
        assert APPROVE not in read.text
        assert (body["originOrderId"], body["lastOrderId"], body["variantId"]) == (
            order["id"],
            order["id"],
            shop.variant_id,
        )
        assert body["nextBillingDate"] == contract.next_billing_date.isoformat()
        events = await db_session.scalars(
            select(Event.topic).where(
                Event.subject_type == "SubscriptionContract", Event.subject_id == contract.id
            )
        )
        assert list(events) == ["subscription_contracts/create"]
        listed = await client.get(CONTRACTS, params={"customerId": shop.customer_id}, headers=admin)
        assert [c["id"] for c in listed.json()["items"]] == [contract.id]

    async def test_a_one_time_plan_opens_no_contract(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        response = await client.post(
            ORDERS, json=subscription_order(shop, shop.plan("Pre-order, 5.00 off")), headers=admin
        )

        assert response.status_code == 201
        assert await contracts_of_order(db_session, response.json()["id"]) == []

    async def test_a_declined_first_order_opens_no_contract(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, shop: Shop
    ) -> None:
        body = subscription_order(shop, shop.plan("Monthly, 10% off"))
        body["payment"]["token"] = "4000000000000002"

        response = await client.post(ORDERS, json=body, headers=admin)

        assert response.status_code == 402
        assert await count(db_session, SubscriptionContract) == 0

    def test_cycle_dates_and_percentage_rounding(self) -> None:
        from datetime import date

        from shopdb.selling_plans.rules import add_interval, adjusted_price, cycle_date

        assert cycle_date(date(2026, 1, 31), "month", 1, 1) == date(2026, 2, 28)
        assert cycle_date(date(2026, 1, 31), "month", 1, 2) == date(2026, 3, 31)
        assert cycle_date(date(2024, 2, 29), "year", 1, 1) == date(2025, 2, 28)
        assert add_interval(date(2026, 1, 1), "week", 2) == date(2026, 1, 1) + timedelta(weeks=2)
        assert add_interval(date(2026, 1, 1), "day", 3) == date(2026, 1, 4)
        policy = {"adjustmentType": "percentage", "adjustmentValue": "33.333"}
        assert adjusted_price(Decimal("10.00"), policy, Decimal("0.01")) == Decimal("6.67")
