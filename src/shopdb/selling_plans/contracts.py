"""Subscription contracts: reading them, and the transitions a merchant makes. Services never
commit.

    active --pause--> paused --resume--> active;  active | paused --cancel--> cancelled

Each transition is one guarded UPDATE on the status it leaves, so two concurrent requests
cannot both pass (the loser gets 409 INVALID_CONTRACT_STATUS). Resuming starts the cycle's
billing afresh: no failures counted, due at once if its date has passed (the worker bills
it on its next sweep), else on its date. A paused or cancelled contract is never billed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import utcnow
from shopdb.models import SubscriptionContract
from shopdb.selling_plans import rules
from shopdb.selling_plans.errors import ContractStatusConflict, SubscriptionContractNotFound
from shopdb.selling_plans.ordering import open_payment_method, seal_payment_method
from shopdb.selling_plans.repository import ContractRepository
from shopdb.selling_plans.schemas import ContractRead, PaymentMethodRead, PaymentMethodUpdate


def contract_read(cipher: FieldCipher, contract: SubscriptionContract) -> ContractRead:
    method = open_payment_method(cipher, contract.payment_method)
    kind: Any = "stripe_customer" if "customerId" in method else "token" if method else "none"
    return ContractRead(
        id=contract.id,
        status=contract.status,
        customer_id=contract.customer_id,
        origin_order_id=contract.origin_order_id,
        last_order_id=contract.last_order_id,
        selling_plan_id=contract.selling_plan_id,
        variant_id=contract.product_variant_id,
        quantity=contract.quantity,
        currency=contract.currency,
        billing_interval=contract.billing_interval,
        billing_interval_count=contract.billing_interval_count,
        billing_cycle=contract.billing_cycle,
        next_billing_date=contract.next_billing_date,
        next_attempt_at=contract.next_attempt_at if contract.status == "active" else None,
        billing_attempt_count=contract.billing_attempt_count,
        last_attempt_at=contract.last_attempt_at,
        last_failure_code=contract.last_failure_code,
        last_failure_message=contract.last_failure_message,
        payment_method=PaymentMethodRead(gateway=contract.payment_gateway, kind=kind),
        paused_at=contract.paused_at,
        cancelled_at=contract.cancelled_at,
        created_at=contract.created_at,
        updated_at=contract.updated_at,
    )


def contract_event(
    session: AsyncSession,
    topic: str,
    contract: SubscriptionContract,
    actor: str | None,
    **body: Any,
) -> None:
    record_event(
        session,
        topic=topic,
        subject_type="SubscriptionContract",
        subject_id=contract.id,
        body={
            "id": contract.id,
            "status": contract.status,
            "customerId": contract.customer_id,
            "nextBillingDate": contract.next_billing_date.isoformat(),
            **body,
        },
        actor=actor,
    )


async def get_contract(session: AsyncSession, contract_id: int) -> SubscriptionContract:
    contract = await ContractRepository(session).get(contract_id)
    if contract is None:
        raise SubscriptionContractNotFound(contract_id)
    return contract


async def list_contracts(
    session: AsyncSession,
    request: PageRequest,
    *,
    status: str | None = None,
    customer_id: int | None = None,
) -> RowsPage[SubscriptionContract]:
    return await ContractRepository(session).page(request, status=status, customer_id=customer_id)


async def _transition(
    session: AsyncSession,
    actor: Subject,
    contract_id: int,
    from_statuses: Collection[str],
    action: str,
    topic: str,
    values: dict[str, Any],
) -> SubscriptionContract:
    changed = await ContractRepository(session).transition(contract_id, from_statuses, **values)
    if changed is None:
        contract = await get_contract(session, contract_id)
        raise ContractStatusConflict(contract_id, contract.status, action)
    contract_event(session, topic, changed, actor.principal)
    return changed


async def pause_contract(
    session: AsyncSession, actor: Subject, contract_id: int, *, now: datetime | None = None
) -> SubscriptionContract:
    values = {"status": "paused", "paused_at": now or utcnow()}
    return await _transition(
        session, actor, contract_id, ("active",), "paused", "subscription_contracts/pause", values
    )


async def resume_contract(
    session: AsyncSession, actor: Subject, contract_id: int, *, now: datetime | None = None
) -> SubscriptionContract:
    now = now or utcnow()
    contract = await get_contract(session, contract_id)
    due = max(now, rules.start_of(contract.next_billing_date))
    values = {
        "status": "active",
        "paused_at": None,
        "billing_attempt_count": 0,
        "next_attempt_at": due,
    }
    return await _transition(
        session,
        actor,
        contract_id,
        ("paused",),
        "resumed",
        "subscription_contracts/activate",
        values,
    )


async def cancel_contract(
    session: AsyncSession, actor: Subject, contract_id: int, *, now: datetime | None = None
) -> SubscriptionContract:
    values = {"status": "cancelled", "cancelled_at": now or utcnow()}
    return await _transition(
        session,
        actor,
        contract_id,
        ("active", "paused"),
        "cancelled",
        "subscription_contracts/cancel",
        values,
    )


async def update_payment_method(
    session: AsyncSession,
    cipher: FieldCipher,
    actor: Subject,
    contract_id: int,
    data: PaymentMethodUpdate,
) -> SubscriptionContract:
    """Save another payment method (after a declined card, say); a cancelled contract keeps
    its own. Stripe: a customer and its payment method (both), or a token; any other
    gateway: a token."""
    if data.stripe_customer_id or data.stripe_payment_method_id:
        if data.gateway != "stripe":
            raise ValidationFailed.on("gateway", "must be stripe with Stripe ids")
        if not (data.stripe_customer_id and data.stripe_payment_method_id) or data.token:
            raise ValidationFailed.on(
                "stripePaymentMethodId",
                "stripeCustomerId and stripePaymentMethodId go together, without a token",
            )
        method = {
            "customerId": data.stripe_customer_id,
            "paymentMethodId": data.stripe_payment_method_id,
        }
    elif data.token:
        method = {"token": data.token}
    else:
        raise ValidationFailed.on("token", "is required")
    values = {
        "payment_gateway": data.gateway,
        "payment_method": seal_payment_method(cipher, method),
    }
    changed = await ContractRepository(session).transition(
        contract_id, ("active", "paused"), **values
    )
    if changed is None:
        contract = await get_contract(session, contract_id)
        raise ContractStatusConflict(contract_id, contract.status, "changed")
    contract_event(
        session, "subscription_contracts/update", changed, actor.principal, paymentMethod=True
    )
    return changed
