"""Billing due subscription contracts: the worker's periodic sweep (`subscriptions/bill_due`).

Each due contract (active, `next_attempt_at` passed) is billed on its own:

1. Claimed, in a short transaction: one guarded UPDATE sets `billing_lease_until` if the
   contract is still active and due and no live claim holds it, so two workers never bill
   it at once (the second gets nothing and moves on).
2. The cycle's order is placed through the same placement as POST /orders
   (orders.placement.place_order), for the contract's customer, variant and quantity under
   its selling plan (the plan's price today), to its shipping address, paid with the saved
   method. Its idempotency token is derived from the contract and the cycle's date, and the
   orders' unique index on it lets one order exist per cycle, whatever retries or crashes
   happen: an order already placed for the cycle is taken as the cycle's (no second order).
3. Success: in the transaction that records the order (`on_record`), the contract moves to
   the next cycle (one guarded UPDATE on the cycle it billed, still active: if it was
   cancelled or paused meanwhile, the order is undone with the placement's own rollback):
   `next_billing_date` advances by the interval, failures are cleared.
4. Refusal (a declined card, no stock, a rate gone...): the failure is counted for the
   cycle; the next attempt is RETRY_DELAYS after it (1 day, then 3 days); the failure after
   the last retry pauses the contract (a merchant resumes it, usually after the customer
   saves another payment method).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.config import Settings
from shopdb.db import Database
from shopdb.errors import ShopdbError
from shopdb.idempotency.errors import IdempotencyKeyInUse
from shopdb.jobs.runner import JobContext
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.types import utcnow
from shopdb.models import Order, SubscriptionContract
from shopdb.orders.payments import GatewayFor, registry_gateways
from shopdb.orders.placement import Placement, keyed_order, place_order, transactions_for
from shopdb.orders.schemas import AddressInput, LineItemInput, OrderCreate, PaymentInput
from shopdb.payments.gateways.base import GatewayResult, PaymentGateway
from shopdb.selling_plans import rules
from shopdb.selling_plans.contracts import contract_event
from shopdb.selling_plans.errors import ContractBillingMoved, ContractUnbillable
from shopdb.selling_plans.ordering import open_payment_method
from shopdb.selling_plans.repository import ContractRepository

log = structlog.get_logger(__name__)

ACTOR = "system:subscription-billing"
# After the first failure of a cycle, then after the second; the next failure pauses.
RETRY_DELAYS = (timedelta(days=1), timedelta(days=3))
MAX_FAILURES = len(RETRY_DELAYS) + 1
# How long a claim holds a contract: far longer than a placement takes; a worker that dies
# mid-billing leaves it to the next sweep after that.
LEASE = timedelta(minutes=10)
BATCH = 50
MAX_BATCHES = 20
SWEEP_SECONDS = 300.0


def billing_token(contract_id: int, cycle_date: date) -> str:
    """The idempotency token of a cycle's order (orders.idempotency_token, 64 characters):
    the same contract and cycle always give the same token."""
    raw = f"subscription-contract:{contract_id}:{cycle_date.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Billing:
    """What billing needs beyond the database: the settings, the cipher, the gateways."""

    database: Database
    settings: Settings
    cipher: FieldCipher
    gateway_for: GatewayFor

    @classmethod
    def of(cls, context: JobContext) -> Billing:
        return cls(
            context.database,
            context.settings,
            field_cipher(context.settings),
            registry_gateways(context.settings),
        )


async def bill_due_contracts(context: JobContext) -> Mapping[str, Any] | None:
    """The periodic task: bill every contract due now (see the module docstring)."""
    return await bill_due(Billing.of(context))


async def bill_due(billing: Billing, *, now: datetime | None = None) -> dict[str, int]:
    now = now or utcnow()
    counts = {"billed": 0, "failed": 0, "paused": 0, "skipped": 0}
    for _ in range(MAX_BATCHES):
        async with billing.database.session() as session:
            due = await ContractRepository(session).due_ids(now, BATCH)
        for contract_id in due:
            counts[await bill_contract(billing, contract_id, now=now)] += 1
        if len(due) < BATCH:
            break
    return counts


class _SavedCustomer:
    """The Stripe gateway charging a payment method saved on a Stripe customer: the same
    calls, each payment with the customer (Stripe refuses a customer's method without it)."""

    name = "stripe"

    def __init__(self, inner: PaymentGateway, customer: str) -> None:
        self.inner: Any = inner  # a StripeGateway: its payments take `customer`
        self.customer = customer
        self.local = inner.local

    async def authorize(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> GatewayResult:
        result: GatewayResult = await self.inner.authorize(
            amount=amount,
            currency=currency,
            token=token,
            idempotency_key=idempotency_key,
            customer=self.customer,
        )
        return result

    async def sale(
        self, *, amount: Decimal, currency: str, token: str, idempotency_key: str
    ) -> GatewayResult:
        result: GatewayResult = await self.inner.sale(
            amount=amount,
            currency=currency,
            token=token,
            idempotency_key=idempotency_key,
            customer=self.customer,
        )
        return result

    async def capture(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        result: GatewayResult = await self.inner.capture(
            reference=reference, amount=amount, currency=currency, idempotency_key=idempotency_key
        )
        return result

    async def void(self, *, reference: str, idempotency_key: str) -> GatewayResult:
        result: GatewayResult = await self.inner.void(
            reference=reference, idempotency_key=idempotency_key
        )
        return result

    async def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        result: GatewayResult = await self.inner.refund(
            reference=reference, amount=amount, currency=currency, idempotency_key=idempotency_key
        )
        return result


def _gateways(billing: Billing, method: dict[str, str]) -> GatewayFor:
    """The gateways a renewal pays through: a saved Stripe customer's method is charged
    with its customer."""
    customer = method.get("customerId")
    if customer is None:
        return billing.gateway_for

    def find(name: str) -> PaymentGateway:
        gateway = billing.gateway_for(name)
        return _SavedCustomer(gateway, customer) if name == "stripe" else gateway

    return find


def _renewal(method: dict[str, str], contract: SubscriptionContract) -> OrderCreate:
    token = method.get("token") or method.get("paymentMethodId")
    address = contract.shipping_address
    billing_address = contract.billing_address
    return OrderCreate(
        customer_id=contract.customer_id,
        line_items=[
            LineItemInput(
                variant_id=contract.product_variant_id or 0,
                quantity=contract.quantity,
                selling_plan_id=contract.selling_plan_id,
            )
        ],
        shipping_address=None if address is None else AddressInput.model_validate(address),
        billing_address=(
            None if billing_address is None else AddressInput.model_validate(billing_address)
        ),
        shipping_rate_id=contract.shipping_rate_id,
        payment=PaymentInput(gateway=contract.payment_gateway, token=token, capture=True),
        tags=["subscription"],
        note=f"Subscription contract {contract.id}, cycle {contract.billing_cycle}",
    )


async def bill_contract(billing: Billing, contract_id: int, *, now: datetime) -> str:
    """Bill one contract's due cycle: `billed`, `failed`, `paused`, or `skipped` (not due,
    or claimed by another worker, or its order is still being paid by another)."""
    async with billing.database.session() as session:
        contract = await ContractRepository(session).claim(contract_id, now, now + LEASE)
    if contract is None:
        return "skipped"
    cycle, cycle_date = contract.billing_cycle, contract.next_billing_date
    token = billing_token(contract.id, cycle_date)
    try:
        if contract.product_variant_id is None or contract.customer_id is None:
            raise ContractUnbillable("its variant or its customer was deleted")
        method = open_payment_method(billing.cipher, contract.payment_method)
        data = _renewal(method, contract)
        async with billing.database.session() as session:
            placed = await keyed_order(session, billing.cipher, token)
            if placed is not None:
                # Placed for this cycle already: it is the cycle's order.
                await _advance(session, contract, placed.order, now)
                return "billed"
            placement = Placement(
                transactions=transactions_for(billing.database, session),
                settings=billing.settings,
                cipher=billing.cipher,
                gateway_for=_gateways(billing, method),
                actor=ACTOR,
                session=session,
            )

            async def advance(tx: AsyncSession, order: Order) -> None:
                await _advance(tx, contract, order, now)

            await place_order(placement, data, now=now, on_record=advance, idempotency_token=token)
        return "billed"
    except IdempotencyKeyInUse:
        # Another attempt's payment for this cycle is under way: it decides the cycle.
        return "skipped"
    except ContractBillingMoved:
        return "skipped"
    except ShopdbError as exc:
        code, message = _failure_code(exc), _failure_message(exc)
    except Exception as exc:
        if isinstance(exc, IntegrityError) and "idempotency_token" in str(exc.orig):
            # Another attempt placed this cycle's order first (its lease had lapsed).
            return "skipped"
        log.exception("subscription_billing_failed", contract_id=contract_id)
        code, message = "internal_error", type(exc).__name__
    async with billing.database.session() as session:
        return await _fail(session, contract, cycle, code, message, now)


def _failure_code(exc: ShopdbError) -> str:
    """The gateway's decline code when it gave one (card_declined...), else the error's."""
    reason = getattr(exc, "reason", None)  # PaymentDeclined
    return str(reason) if reason else exc.code.lower()


def _failure_message(exc: ShopdbError) -> str:
    details = "; ".join(
        f"{d.get('field')}: {d.get('message')}" for d in exc.details if isinstance(d, dict)
    )
    return f"{exc.message} ({details})" if details else exc.message


async def _advance(
    session: AsyncSession, contract: SubscriptionContract, order: Order, now: datetime
) -> None:
    cycle = contract.billing_cycle
    next_date = rules.cycle_date(
        contract.anchor_date, contract.billing_interval, contract.billing_interval_count, cycle + 1
    )
    advanced = await ContractRepository(session).in_cycle(
        contract.id,
        cycle,
        active_only=True,
        billing_cycle=cycle + 1,
        next_billing_date=next_date,
        next_attempt_at=rules.start_of(next_date),
        billing_attempt_count=0,
        last_attempt_at=now,
        last_failure_code=None,
        last_failure_message=None,
        billing_lease_until=None,
        last_order_id=order.id,
    )
    if advanced is None:
        raise ContractBillingMoved(contract.id)
    contract_event(
        session,
        "subscription_billing_attempts/success",
        advanced,
        ACTOR,
        orderId=order.id,
        cycle=cycle,
    )


async def _fail(
    session: AsyncSession,
    contract: SubscriptionContract,
    cycle: int,
    code: str,
    message: str,
    now: datetime,
) -> str:
    failures = contract.billing_attempt_count + 1
    values: dict[str, Any] = {
        "billing_attempt_count": failures,
        "last_attempt_at": now,
        "last_failure_code": code[:100],
        "last_failure_message": message,
        "billing_lease_until": None,
    }
    paused = failures >= MAX_FAILURES
    if paused:
        values.update(status="paused", paused_at=now)
    else:
        values["next_attempt_at"] = now + RETRY_DELAYS[failures - 1]
    failed = await ContractRepository(session).in_cycle(
        contract.id, cycle, active_only=True, **values
    )
    if failed is None:
        return "skipped"  # cancelled or paused meanwhile: nothing to retry
    contract_event(
        session,
        "subscription_billing_attempts/failure",
        failed,
        ACTOR,
        cycle=cycle,
        errorCode=failed.last_failure_code,
        attempts=failures,
    )
    if paused:
        contract_event(session, "subscription_contracts/pause", failed, ACTOR, reason=code)
        return "paused"
    return "failed"
