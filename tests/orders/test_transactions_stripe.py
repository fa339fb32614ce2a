"""Transactions through the Stripe gateway against localstripe (a real process): capture once
(a partial capture releases the rest), refund in parts, void, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from shopdb.config import Settings
from shopdb.db import Database
from shopdb.orders import gates
from shopdb.orders.transactions import endpoints
from shopdb.payments.gateways.base import GatewayResult, PaymentGateway
from shopdb.payments.gateways.stripe import StripeGateway
from tests.fixtures.catalog import Headers
from tests.orders.helpers import ORDERS, make_locations, make_variant, order_body, place
from tests.payments.conftest import API_KEY, localstripe_url

__all__ = ["localstripe_url"]  # the session's localstripe process, a fixture


class RunKeyed:
    """The Stripe gateway with this test's prefix on every idempotency key: localstripe
    outlives a test, and order ids repeat across rolled-back tests and backends."""

    name = "stripe"
    local = False

    def __init__(self, inner: StripeGateway) -> None:
        self.inner = inner
        self.prefix = uuid.uuid4().hex[:12]

    async def authorize(self, *, idempotency_key: str, **arguments: Any) -> GatewayResult:
        return await self.inner.authorize(idempotency_key=self._key(idempotency_key), **arguments)

    async def sale(self, *, idempotency_key: str, **arguments: Any) -> GatewayResult:
        return await self.inner.sale(idempotency_key=self._key(idempotency_key), **arguments)

    async def capture(self, *, idempotency_key: str, **arguments: Any) -> GatewayResult:
        return await self.inner.capture(idempotency_key=self._key(idempotency_key), **arguments)

    async def void(self, *, idempotency_key: str, **arguments: Any) -> GatewayResult:
        return await self.inner.void(idempotency_key=self._key(idempotency_key), **arguments)

    async def refund(self, *, idempotency_key: str, **arguments: Any) -> GatewayResult:
        return await self.inner.refund(idempotency_key=self._key(idempotency_key), **arguments)

    def _key(self, key: str) -> str:
        return f"{self.prefix}-{key}"


@pytest.fixture
async def stripe_orders(
    localstripe_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunKeyed]:
    """Orders (placement and transactions) pay through Stripe at localstripe."""
    inner = StripeGateway(api_key=API_KEY, api_base=localstripe_url, max_network_retries=0)
    gateway = RunKeyed(inner)

    def gateways(settings: Settings) -> Callable[[str], PaymentGateway]:
        return lambda name: gateway

    monkeypatch.setattr(gates, "registry_gateways", gateways)
    monkeypatch.setattr(endpoints, "registry_gateways", gateways)
    try:
        yield gateway
    finally:
        await inner.aclose()


async def stripe_order(
    client: httpx.AsyncClient, headers: Headers, database: Database, *, capture: bool
) -> dict[str, Any]:
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "30.00", {loc: 5})
    body = order_body((tee.variant_id, 1))
    body["payment"] = {"gateway": "stripe", "token": "pm_card_visa", "capture": capture}
    response = await place(client, headers, body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def transaction(
    client: httpx.AsyncClient, headers: Headers, order_id: int, **body: Any
) -> httpx.Response:
    return await client.post(f"{ORDERS}/{order_id}/transactions", json=body, headers=headers)


async def intent(localstripe_url: str, reference: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        answer = await http.get(
            f"{localstripe_url}/v1/payment_intents/{reference}", auth=(API_KEY, "")
        )
    answer.raise_for_status()
    found: dict[str, Any] = answer.json()
    return found


async def financial_status(client: httpx.AsyncClient, headers: Headers, order_id: int) -> str:
    status: str = (await client.get(f"{ORDERS}/{order_id}", headers=headers)).json()[
        "financialStatus"
    ]
    return status


class TestStripe:
    async def test_capture_once_then_refund_in_parts(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        stripe_orders: RunKeyed,
        localstripe_url: str,
    ) -> None:
        order = await stripe_order(client, admin, database, capture=False)
        (authorization,) = order["transactions"]
        reference = authorization["authorization"]
        assert reference.startswith("pi_")

        capture = await transaction(client, admin, order["id"], kind="capture", amount="10.00")

        assert capture.status_code == 201, capture.text
        assert (capture.json()["status"], capture.json()["transactionId"]) == ("success", reference)
        assert (await intent(localstripe_url, reference))["status"] == "succeeded"
        assert await financial_status(client, admin, order["id"]) == "partially_paid"
        # Stripe captures once: the 20.00 left was released, nothing is left to capture.
        again = await transaction(client, admin, order["id"], kind="capture")
        assert (again.status_code, again.json()["code"]) == (422, "NOTHING_TO_CAPTURE")
        named = await transaction(
            client, admin, order["id"], kind="capture", parentId=authorization["id"]
        )
        assert (named.status_code, named.json()["code"]) == (422, "CAPTURE_EXCEEDS_AUTHORIZED")

        refund = await transaction(client, admin, order["id"], kind="refund", amount="4.00")

        assert refund.status_code == 201, refund.text
        assert refund.json()["status"] == "success"
        assert refund.json()["transactionId"].startswith("re_")
        assert refund.json()["parentId"] == capture.json()["id"]
        assert await financial_status(client, admin, order["id"]) == "partially_refunded"
        beyond = await transaction(client, admin, order["id"], kind="refund", amount="6.01")
        assert (beyond.status_code, beyond.json()["code"]) == (422, "REFUND_EXCEEDS_CAPTURED")
        rest = await transaction(client, admin, order["id"], kind="refund")
        assert (rest.status_code, rest.json()["amount"]) == (201, "6.00")
        assert await financial_status(client, admin, order["id"]) == "refunded"

    async def test_void_cancels_the_payment_intent(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        stripe_orders: RunKeyed,
        localstripe_url: str,
    ) -> None:
        order = await stripe_order(client, admin, database, capture=False)
        reference = order["transactions"][0]["authorization"]

        void = await transaction(client, admin, order["id"], kind="void")

        assert void.status_code == 201, void.text
        assert (void.json()["status"], void.json()["amount"]) == ("success", "30.00")
        assert (await intent(localstripe_url, reference))["status"] == "canceled"
        assert await financial_status(client, admin, order["id"]) == "voided"

    async def test_a_sale_is_refunded_in_full(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        stripe_orders: RunKeyed,
    ) -> None:
        order = await stripe_order(client, admin, database, capture=True)
        assert order["financialStatus"] == "paid"

        refund = await transaction(client, admin, order["id"], kind="refund")

        assert refund.status_code == 201, refund.text
        assert (refund.json()["status"], refund.json()["amount"]) == ("success", "30.00")
        assert await financial_status(client, admin, order["id"]) == "refunded"
        assert Decimal(refund.json()["amount"]) == Decimal(order["totalPrice"])
