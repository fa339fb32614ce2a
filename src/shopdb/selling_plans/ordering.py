"""Selling plans in an order: the line's price, and the contracts a recurring plan opens.

Two hooks, each called by the orders domain at one place:

- `apply_selling_plans` (orders.quoting, when a line names a `sellingPlanId`): the plan must
  exist (400), be active and be offered by the line's product (422
  SELLING_PLAN_NOT_AVAILABLE); its pricing policy sets the line's unit price. A recurring
  plan needs someone to bill (`customerId`) and a method to bill with (`payment.token`).
- `contract_opener` (POST /orders' `on_record`, in the transaction that records the order):
  one subscription contract per line of a recurring plan, with the order's payment method
  saved sealed. Renewal orders (billing.py) are placed without it, so they open none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.types import utcnow
from shopdb.models import Order, SubscriptionContract
from shopdb.models.selling_plans import CONTRACT_PAYMENT_METHOD
from shopdb.orders.placement import OnRecord
from shopdb.orders.pricing import CatalogLine, quantum
from shopdb.orders.schemas import OrderCreate
from shopdb.selling_plans import rules
from shopdb.selling_plans.errors import SellingPlanNotAvailable
from shopdb.selling_plans.repository import ContractRepository, SellingPlanRepository


def seal_payment_method(cipher: FieldCipher, method: dict[str, str]) -> str:
    return cipher.encrypt(json.dumps(method, sort_keys=True), context=CONTRACT_PAYMENT_METHOD)


def open_payment_method(cipher: FieldCipher, sealed: str) -> dict[str, str]:
    opened: dict[str, str] = json.loads(cipher.decrypt(sealed, context=CONTRACT_PAYMENT_METHOD))
    return opened


async def apply_selling_plans(
    session: AsyncSession, data: OrderCreate, lines: Sequence[CatalogLine], currency: str
) -> list[CatalogLine]:
    """`lines` priced by the selling plans their requests name (see the module docstring)."""
    requested = {i.selling_plan_id for i in data.line_items if i.selling_plan_id is not None}
    plans = await SellingPlanRepository(session).offered_plans(requested)
    step = quantum(currency)
    priced: list[CatalogLine] = []
    for request, line in zip(data.line_items, lines, strict=True):
        plan_id = request.selling_plan_id
        if plan_id is None:
            priced.append(line)
            continue
        field = f"{line.field}.sellingPlanId"
        plan = plans.get(plan_id)
        if plan is None:
            raise ValidationFailed.on(field, "does not exist")
        if plan.status != "active":
            raise SellingPlanNotAvailable(field, plan_id, f"the plan is {plan.status}")
        if line.product_id not in plan.product_ids:
            raise SellingPlanNotAvailable(field, plan_id, "the product does not offer the plan")
        if rules.recurring_interval(plan.billing_policy) is not None:
            if data.customer_id is None:
                raise ValidationFailed.on("customerId", f"is required by a subscription ({field})")
            if data.payment is None or not data.payment.token:
                raise ValidationFailed.on(
                    "payment.token", f"is required by a subscription ({field}): it is saved"
                )
        price = rules.adjusted_price(line.price, plan.pricing_policy, step)
        priced.append(replace(line, price=price, selling_plan_id=plan_id))
    return priced


def contract_opener(data: OrderCreate, cipher: FieldCipher, actor: str | None) -> OnRecord | None:
    """POST /orders' `on_record`: None unless a line names a selling plan."""
    if all(i.selling_plan_id is None for i in data.line_items):
        return None

    async def open_contracts(session: AsyncSession, order: Order) -> None:
        await open_subscription_contracts(session, cipher, data, order, actor=actor)

    return open_contracts


async def open_subscription_contracts(
    session: AsyncSession,
    cipher: FieldCipher,
    data: OrderCreate,
    order: Order,
    *,
    actor: str | None,
    now: datetime | None = None,
) -> list[SubscriptionContract]:
    """A contract for each of the order's lines sold under a recurring plan; its first
    renewal one interval after the order's date."""
    now = now or utcnow()
    contracts = []
    for line in await SellingPlanRepository(session).recurring_lines(order.id):
        recurring = rules.recurring_interval(line.billing_policy)
        if recurring is None:
            continue
        assert data.payment is not None  # apply_selling_plans requires it
        assert data.payment.token
        interval, count = recurring
        anchor = (order.processed_at or now).date()
        next_date = rules.cycle_date(anchor, interval, count, 1)
        contracts.append(
            SubscriptionContract(
                customer_id=order.customer_id,
                origin_order_id=order.id,
                last_order_id=order.id,
                selling_plan_id=line.selling_plan_id,
                product_variant_id=line.variant_id,
                quantity=line.quantity,
                currency=order.currency,
                status="active",
                billing_interval=interval,
                billing_interval_count=count,
                anchor_date=anchor,
                billing_cycle=1,
                next_billing_date=next_date,
                next_attempt_at=rules.start_of(next_date),
                billing_attempt_count=0,
                shipping_address=order.shipping_address,
                billing_address=order.billing_address,
                shipping_rate_id=data.shipping_rate_id,
                payment_gateway=data.payment.gateway,
                payment_method=seal_payment_method(cipher, {"token": data.payment.token}),
            )
        )
    if not contracts:
        return []
    await ContractRepository(session).add_all(contracts)
    for contract in contracts:
        record_event(
            session,
            topic="subscription_contracts/create",
            subject_type="SubscriptionContract",
            subject_id=contract.id,
            body={
                "id": contract.id,
                "originOrderId": order.id,
                "sellingPlanId": contract.selling_plan_id,
                "customerId": contract.customer_id,
                "nextBillingDate": contract.next_billing_date.isoformat(),
            },
            actor=actor,
        )
    return contracts
