"""A subscription saved on a Stripe customer renews through the Stripe gateway (localstripe, a
real process): the renewal's PaymentIntent is the customer's, placed in steps (reserve, pay,
record) with the contract advanced in the record's transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.config import Settings
from shopdb.db import Database
from shopdb.keys import field_cipher
from shopdb.models import Order, OrderTransaction
from shopdb.orders import gates
from shopdb.payments.gateways.base import PaymentGateway
from shopdb.payments.gateways.stripe import StripeGateway
from shopdb.selling_plans.billing import Billing, bill_due
from shopdb.services import services_of
from tests.fixtures.catalog import Headers
from tests.orders.test_transactions_stripe import RunKeyed
from tests.payments.conftest import API_KEY, localstripe_url
from tests.payments.test_stripe_gateway import stripe_get
from tests.selling_plans.helpers import (
    CONTRACTS,
    ORDERS,
    Shop,
    contract_row,
    contracts_of_order,
    due_time,
    subscription_order,
)

__all__ = ["localstripe_url"]  # the session's localstripe process, a fixture

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
async def stripe(localstripe_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RunKeyed]:
    inner = StripeGateway(api_key=API_KEY, api_base=localstripe_url, max_network_retries=0)
    gateway = RunKeyed(inner)

    def gateways(settings: Settings) -> Callable[[str], PaymentGateway]:
        return lambda name: gateway

    monkeypatch.setattr(gates, "registry_gateways", gateways)
    try:
        yield gateway
    finally:
        await inner.aclose()


async def stripe_customer(url: str) -> str:
    async with httpx.AsyncClient(auth=(API_KEY, ""), timeout=5.0) as http:
        answer = await http.post(f"{url}/v1/customers", data={"email": "sub@example.com"})
    answer.raise_for_status()
    customer: str = answer.json()["id"]
    return customer


class TestStripeRenewal:
    async def test_a_saved_stripe_customer_is_charged_for_the_next_cycle(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
        shop: Shop,
        stripe: RunKeyed,
        localstripe_url: str,
    ) -> None:
        body = subscription_order(shop, shop.plan("Monthly, 10% off"))
        body["payment"] = {"gateway": "stripe", "token": "pm_card_visa", "capture": True}
        placed = await client.post(ORDERS, json=body, headers=admin)
        assert placed.status_code == 201, placed.text
        [contract] = await contracts_of_order(db_session, placed.json()["id"])
        customer = await stripe_customer(localstripe_url)
        saved = await client.put(
            f"{CONTRACTS}/{contract.id}/payment-method",
            json={
                "gateway": "stripe",
                "stripeCustomerId": customer,
                "stripePaymentMethodId": "pm_card_visa",
            },
            headers=admin,
        )
        assert saved.status_code == 200, saved.text
        settings = services_of(app).settings
        billing = Billing(database, settings, field_cipher(settings), lambda name: stripe)

        counts = await bill_due(billing, now=due_time(contract))

        assert counts["billed"] == 1, counts
        renewal = await db_session.scalar(
            select(Order)
            .where(Order.customer_id == shop.customer_id, Order.id != placed.json()["id"])
            .execution_options(populate_existing=True)
        )
        assert renewal is not None
        assert (renewal.financial_status, renewal.reserved_until) == ("paid", None)
        reference = await db_session.scalar(
            select(OrderTransaction.transaction_id).where(OrderTransaction.order_id == renewal.id)
        )
        assert reference is not None
        intent = await stripe_get(localstripe_url, f"/v1/payment_intents/{reference}")
        assert (intent["customer"], intent["status"], intent["amount"]) == (
            customer,
            "succeeded",
            int(renewal.total_price * 100),
        )
        advanced = await contract_row(db_session, contract.id)
        assert (advanced.billing_cycle, advanced.last_order_id) == (2, renewal.id)
