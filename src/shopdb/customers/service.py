"""Customers: create, read, update, soft delete, with their personal data sealed at rest.

Email and phone are stored encrypted (shopdb.customers.pii); the email's keyed blind index
carries uniqueness and exact lookup, so a duplicate in any letter case is refused (409).
The seed's "CustomerData" policy: each response that carries a customer's decrypted personal
data writes a `customers/data_access` event (who, which customer, when) in the request's
transaction, so an unrecorded read cannot happen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers.errors import CustomerNotFound, EmailTaken
from shopdb.customers.pii import (
    ADDRESS_PHONE,
    CUSTOMER_EMAIL,
    CUSTOMER_PHONE,
    open_optional,
    seal_email,
    seal_optional,
)
from shopdb.customers.repository import CustomerFilter, CustomerRepository, DataAccessLog
from shopdb.customers.schemas import AddressInput, CustomerCreate
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.crypto import FieldCipher, normalise_email
from shopdb.kit.etags import check_if_match
from shopdb.kit.etags import etag as kit_etag
from shopdb.kit.types import utcnow
from shopdb.models import Customer, CustomerAddress, CustomerTag

DATA_ACCESS_TOPIC = "customers/data_access"
SUMMARY_FIELDS = ["email", "phone"]
DETAIL_FIELDS = ["email", "phone", "addresses.phone"]


@dataclass(frozen=True)
class Unsealed:
    """A customer with its personal data decrypted, ready for a response."""

    customer: Customer
    email: str
    phone: str | None
    address_phones: dict[int, str | None]


def unseal(cipher: FieldCipher, customer: Customer, *, with_addresses: bool) -> Unsealed:
    phones: dict[int, str | None] = {}
    if with_addresses:
        phones = {
            a.id: open_optional(cipher, a.phone, context=ADDRESS_PHONE) for a in customer.addresses
        }
    return Unsealed(
        customer=customer,
        email=cipher.decrypt(customer.email, context=CUSTOMER_EMAIL),
        phone=open_optional(cipher, customer.phone, context=CUSTOMER_PHONE),
        address_phones=phones,
    )


async def record_data_access(
    session: AsyncSession,
    actor: Subject,
    customer_ids: Sequence[int],
    *,
    via: str,
    fields: Sequence[str] = DETAIL_FIELDS,
) -> None:
    await DataAccessLog(session).add_many(
        topic=DATA_ACCESS_TOPIC,
        verb="data_access",
        actor=actor.principal,
        body={"fields": list(fields), "via": via},
        ids=list(customer_ids),
    )


def etag(customer: Customer) -> str:
    return kit_etag(customer.version)


async def load_customer(session: AsyncSession, customer_id: int, *, lock: bool = False) -> Customer:
    customer = await CustomerRepository(session).get(customer_id, lock=lock)
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


async def list_customers(
    session: AsyncSession,
    cipher: FieldCipher,
    actor: Subject,
    *,
    email: str | None,
    state: str | None,
    tag: str | None,
    group_id: int | None,
    q: str | None,
    sort_by: str,
    direction: str,
    page: int,
    page_size: int,
    via: str,
) -> tuple[list[Unsealed], int]:
    where = CustomerFilter(
        email_hash=cipher.blind_index(normalise_email(email)) if email else None,
        state=state,
        tag=tag,
        group_id=group_id,
        q=q,
    )
    customers, total = await CustomerRepository(session).page(
        where,
        sort_by=sort_by,
        direction=direction,
        offset=(page - 1) * page_size,
        limit=page_size,
    )
    unsealed = [unseal(cipher, c, with_addresses=False) for c in customers]
    await record_data_access(
        session, actor, [c.id for c in customers], via=via, fields=SUMMARY_FIELDS
    )
    return unsealed, total


async def read_customer(
    session: AsyncSession, cipher: FieldCipher, actor: Subject, customer_id: int, *, via: str
) -> Unsealed:
    customer = await load_customer(session, customer_id)
    await record_data_access(session, actor, [customer.id], via=via)
    return unseal(cipher, customer, with_addresses=True)


def _new_addresses(cipher: FieldCipher, addresses: list[AddressInput]) -> list[CustomerAddress]:
    flagged = [i for i, a in enumerate(addresses) if a.is_default]
    if len(flagged) > 1:
        raise ValidationFailed.on("addresses", "at most one address can be the default")
    default_index = flagged[0] if flagged else 0
    return [
        CustomerAddress(
            **address.model_dump(by_alias=False, exclude={"phone", "is_default"}),
            phone=seal_optional(cipher, address.phone, context=ADDRESS_PHONE),
            is_default=index == default_index,
        )
        for index, address in enumerate(addresses)
    ]


async def create_customer(
    session: AsyncSession, cipher: FieldCipher, actor: Subject, data: CustomerCreate, *, via: str
) -> Unsealed:
    sealed_email, email_hash = seal_email(cipher, data.email)
    repository = CustomerRepository(session)
    if await repository.email_hash_taken(email_hash):
        raise EmailTaken
    customer = await repository.add(
        Customer(
            email=sealed_email,
            email_hash=email_hash,
            first_name=data.first_name,
            last_name=data.last_name,
            phone=seal_optional(cipher, data.phone, context=CUSTOMER_PHONE),
            state=data.state,
            accepts_marketing=data.accepts_marketing,
            note=data.note,
            tag_rows=[CustomerTag(tag=tag) for tag in data.tags],
            addresses=_new_addresses(cipher, data.addresses),
            group_memberships=[],
        )
    )
    record_event(
        session,
        topic="customers/create",
        subject_type="Customer",
        subject_id=customer.id,
        body={"id": customer.id, "state": customer.state, "tags": data.tags},
        actor=actor.principal,
    )
    await record_data_access(session, actor, [customer.id], via=via)
    return unseal(cipher, customer, with_addresses=True)


async def update_customer(
    session: AsyncSession,
    cipher: FieldCipher,
    actor: Subject,
    customer_id: int,
    changes: dict[str, Any],
    *,
    if_match: str | None,
    via: str,
) -> Unsealed:
    """Apply the fields present in `changes` (snake_case, as sent); `tags` replaces the set."""
    repository = CustomerRepository(session)
    customer = await load_customer(session, customer_id)
    check_if_match(if_match, customer.version)
    for field in ("email", "state", "accepts_marketing"):
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(camel(field), "must not be null")
    if "email" in changes:
        sealed_email, email_hash = seal_email(cipher, changes["email"])
        if email_hash != customer.email_hash:
            if await repository.email_hash_taken(email_hash, except_id=customer.id):
                raise EmailTaken
            customer.email, customer.email_hash = sealed_email, email_hash
    if "phone" in changes:
        customer.phone = seal_optional(cipher, changes["phone"], context=CUSTOMER_PHONE)
    for field in ("first_name", "last_name", "state", "accepts_marketing", "note"):
        if field in changes:
            setattr(customer, field, changes[field])
    # Tags are part of what the ETag covers: the customer row changes (and its version with
    # it) in the same flush as the first tag change, so one update is one new version.
    customer.updated_at = utcnow()
    if "tags" in changes:
        await repository.replace_tags(customer, changes["tags"])
    await session.flush()
    record_event(
        session,
        topic="customers/update",
        subject_type="Customer",
        subject_id=customer.id,
        # Names of the changed fields only: the event log must not become a copy of the PII.
        body={"id": customer.id, "changed": sorted(camel(f) for f in changes)},
        actor=actor.principal,
    )
    customer = await load_customer(session, customer.id)
    await record_data_access(session, actor, [customer.id], via=via)
    return unseal(cipher, customer, with_addresses=True)


async def delete_customer(
    session: AsyncSession, actor: Subject, customer_id: int, *, if_match: str | None
) -> None:
    """Soft delete: the row stays for orders and audit; its email may be used again."""
    customer = await load_customer(session, customer_id)
    check_if_match(if_match, customer.version)
    customer.deleted_at = utcnow()
    await session.flush()
    record_event(
        session,
        topic="customers/delete",
        subject_type="Customer",
        subject_id=customer.id,
        body={"id": customer.id},
        actor=actor.principal,
    )


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
