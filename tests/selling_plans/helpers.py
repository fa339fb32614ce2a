"""A shop with a subscribable product, shared by the selling plans tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.config import Settings
from shopdb.db import Database
from shopdb.keys import field_cipher
from shopdb.models import SubscriptionContract
from shopdb.orders.payments import registry_gateways
from shopdb.selling_plans.billing import Billing
from shopdb.selling_plans.rules import start_of
from tests.fixtures.catalog import Headers
from tests.orders.helpers import APPROVE, make_locations, make_variant

GROUPS = "/api/v1/selling-plan-groups"
CONTRACTS = "/api/v1/subscription-contracts"
ORDERS = "/api/v1/orders"

MONTHLY_10: dict[str, Any] = {
    "name": "Monthly, 10% off",
    "billingPolicy": {"interval": "month", "intervalCount": 1},
    "deliveryPolicy": {"interval": "month", "intervalCount": 1},
    "pricingPolicy": {"adjustmentType": "percentage", "adjustmentValue": "10"},
}
ONCE_FIXED_5 = {
    "name": "Pre-order, 5.00 off",
    "billingPolicy": {},
    "deliveryPolicy": {},
    "pricingPolicy": {"adjustmentType": "fixed_amount", "adjustmentValue": "5.00"},
}


@dataclass(frozen=True)
class Shop:
    variant_id: int
    product_id: int
    item_id: int
    location_id: int
    customer_id: int
    group: dict[str, Any]

    def plan(self, name: str) -> int:
        return int(next(p["id"] for p in self.group["plans"] if p["name"] == name))


async def product_of(database: Database, variant_id: int) -> int:
    from shopdb.models import ProductVariant

    async with database.session() as session:
        found = await session.scalar(
            select(ProductVariant.product_id).where(ProductVariant.id == variant_id)
        )
    assert found is not None
    return int(found)


async def make_shop(
    client: httpx.AsyncClient,
    headers: Headers,
    database: Database,
    *,
    plans: list[dict[str, Any]] | None = None,
    price: str = "20.00",
    stock: int = 50,
) -> Shop:
    [location_id] = await make_locations(database, "Warehouse")
    stocked = await make_variant(database, price, {location_id: stock}, title="Coffee")
    product_id = await product_of(database, stocked.variant_id)
    customer = await client.post(
        "/api/v1/customers",
        json={"email": f"subscriber-{uuid.uuid4().hex[:8]}@example.com"},
        headers=headers,
    )
    assert customer.status_code == 201, customer.text
    created = await client.post(
        GROUPS,
        json={"name": "Subscribe and save", "plans": plans or [MONTHLY_10, ONCE_FIXED_5]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    attached = await client.post(
        f"{GROUPS}/{group_id}/products", json={"productIds": [product_id]}, headers=headers
    )
    assert attached.status_code == 200, attached.text
    return Shop(
        stocked.variant_id,
        product_id,
        stocked.item_id,
        location_id,
        customer.json()["id"],
        attached.json(),
    )


def subscription_order(shop: Shop, plan_id: int | None, **fields: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"variantId": shop.variant_id, "quantity": 2}
    if plan_id is not None:
        line["sellingPlanId"] = plan_id
    body: dict[str, Any] = {
        "customerId": shop.customer_id,
        "lineItems": [line],
        "payment": {"gateway": "test", "token": APPROVE, "capture": True},
    }
    body.update(fields)
    return body


def billing_for(database: Database, settings: Settings) -> Billing:
    return Billing(database, settings, field_cipher(settings), registry_gateways(settings))


async def contract_row(session: AsyncSession, contract_id: int) -> SubscriptionContract:
    row = await session.scalar(
        select(SubscriptionContract)
        .where(SubscriptionContract.id == contract_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def contracts_of_order(session: AsyncSession, order_id: int) -> list[SubscriptionContract]:
    rows = await session.scalars(
        select(SubscriptionContract)
        .where(SubscriptionContract.origin_order_id == order_id)
        .order_by(SubscriptionContract.id)
    )
    return list(rows)


def add_months(day: date, months: int) -> date:
    from shopdb.selling_plans.rules import add_interval

    return add_interval(day, "month", months)


def due_time(contract: SubscriptionContract) -> datetime:
    """An hour into the day the contract's next cycle is due."""
    return start_of(contract.next_billing_date) + timedelta(hours=1)
