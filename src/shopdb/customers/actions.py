"""A customer's account state, changed only by actions named after Shopify's transitions.

    invite    disabled | declined  -> invited   (the invitation email is sent later, from the
                                                 `customers/invite` event, by notifications)
    activate  invited | disabled   -> enabled   (Shopify's account activation)
    disable   enabled | invited | declined -> disabled

Any other pair is a 409 `CUSTOMER_STATE_TRANSITION` naming the current state. Each action
takes the customer's row lock before reading the state, so two racing actions run one after
the other and the second judges the state the first left; `If-Match` is honoured as by every
other write, and each transition gives the customer a new version and records an event.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers.errors import CustomerStateTransition
from shopdb.customers.service import Unsealed, load_customer, record_data_access, unseal
from shopdb.events.service import record_event
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.etags import check_if_match
from shopdb.kit.types import utcnow


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str
    topic: str


# Shopify's webhook topics where it has one (customers/enable, customers/disable).
TRANSITIONS = {
    "invite": Transition(("disabled", "declined"), "invited", "customers/invite"),
    "activate": Transition(("invited", "disabled"), "enabled", "customers/enable"),
    "disable": Transition(("enabled", "invited", "declined"), "disabled", "customers/disable"),
}


async def change_state(
    session: AsyncSession,
    cipher: FieldCipher,
    actor: Subject,
    customer_id: int,
    action: str,
    *,
    if_match: str | None,
    via: str,
) -> Unsealed:
    transition = TRANSITIONS[action]
    customer = await load_customer(session, customer_id, lock=True)
    check_if_match(if_match, customer.version)
    before = customer.state
    if before not in transition.sources:
        raise CustomerStateTransition(customer.id, action, before, transition.sources)
    customer.state = transition.target
    customer.updated_at = utcnow()
    await session.flush()
    record_event(
        session,
        topic=transition.topic,
        subject_type="Customer",
        subject_id=customer.id,
        body={"id": customer.id, "state": customer.state, "previousState": before},
        actor=actor.principal,
    )
    customer = await load_customer(session, customer.id)
    await record_data_access(session, actor, [customer.id], via=via)
    return unseal(cipher, customer, with_addresses=True)
