"""Customers: create, read, update, soft delete, with their personal data sealed at rest.

Email and phone are stored encrypted (shopdb.customers.pii); the email's keyed blind index
carries uniqueness and exact lookup, so a duplicate in any letter case is refused (409).
The seed's "CustomerData" policy: each response that carries a customer's decrypted personal
data writes a `customers/data_access` event (who, which customer, when) in the request's
transaction, so an unrecorded read cannot happen.

Marketing consent follows shopdb.customers.consent; a customer's `state` changes only through
shopdb.customers.actions. A customer with orders is never deleted (redaction is the privacy
path); the check holds the customer's row lock, so an order committed meanwhile is seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers import consent
from shopdb.customers.errors import CustomerHasOrders, CustomerNotFound, EmailTaken
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
from shopdb.customers.tax import TaxStatus
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.crypto import FieldCipher, normalise_email
from shopdb.kit.etags import check_if_match
from shopdb.kit.etags import etag as kit_etag
from shopdb.kit.pagination import Direction, PageRequest, RowsPage
from shopdb.kit.types import utcnow
from shopdb.models import Customer, CustomerAddress, CustomerTag

DATA_ACCESS_TOPIC = "customers/data_access"
# Shopify's webhook topics for consent changes, one per channel.
CONSENT_TOPICS = {
    "email": "customers_email_marketing_consent/update",
    "sms": "customers_marketing_consent/update",
}
CONSENT_FIELDS = {"email": "email_marketing_consent", "sms": "sms_marketing_consent"}
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


@dataclass(frozen=True)
class Contact:
    """How to address a customer (a notification's recipient), personal data opened."""

    first_name: str | None
    last_name: str | None
    email: str
    phone: str | None
    sms_marketing_state: str


async def load_contact(
    session: AsyncSession, cipher: FieldCipher, customer_id: int
) -> Contact | None:
    """The live customer's contact, None when there is none (deleted or redacted); one
    statement, where load_customer's detail takes four."""
    row = await CustomerRepository(session).contact(customer_id)
    if row is None:
        return None
    return Contact(
        first_name=row.first_name,
        last_name=row.last_name,
        email=cipher.decrypt(row.email, context=CUSTOMER_EMAIL),
        phone=open_optional(cipher, row.phone, context=CUSTOMER_PHONE),
        sms_marketing_state=row.sms_marketing_state,
    )


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
    direction: Direction,
    request: PageRequest,
    via: str,
) -> RowsPage[Unsealed]:
    where = CustomerFilter(
        email_hash=cipher.blind_index(normalise_email(email)) if email else None,
        state=state,
        tag=tag,
        group_id=group_id,
        q=q,
    )
    found = await CustomerRepository(session).page(
        where, sort_by=sort_by, direction=direction, request=request
    )
    customers: list[Customer] = found.rows
    unsealed = [unseal(cipher, c, with_addresses=False) for c in customers]
    await record_data_access(
        session, actor, [c.id for c in customers], via=via, fields=SUMMARY_FIELDS
    )
    return RowsPage(unsealed, found.next_cursor, found.total)


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
    now = utcnow()
    consents = {
        channel: consent.apply(
            consent.NEVER_ASKED,
            requested.model_dump(by_alias=False),
            field=consent_field_name(channel),
            now=now,
        )
        for channel in ("email", "sms")
        if (requested := getattr(data, CONSENT_FIELDS[channel])) is not None
    }
    if "sms" in consents:
        consent.check_sms_reachable(consents["sms"], data.phone, field="smsMarketingConsent")
    if await repository.email_hash_taken(email_hash):
        raise EmailTaken
    customer = Customer(
        email=sealed_email,
        email_hash=email_hash,
        first_name=data.first_name,
        last_name=data.last_name,
        phone=seal_optional(cipher, data.phone, context=CUSTOMER_PHONE),
        state="enabled",
        note=data.note,
        tax_exempt=data.tax_exempt,
        tax_exemptions=list(data.tax_exemptions),
        tag_rows=[CustomerTag(tag=tag) for tag in data.tags],
        addresses=_new_addresses(cipher, data.addresses),
        group_memberships=[],
    )
    for channel in ("email", "sms"):
        consent.store(customer, channel, consents.get(channel, consent.NEVER_ASKED))
    customer = await repository.add(customer)
    record_event(
        session,
        topic="customers/create",
        subject_type="Customer",
        subject_id=customer.id,
        body={"id": customer.id, "state": customer.state, "tags": data.tags},
        actor=actor.principal,
    )
    for channel, record in consents.items():
        if record != consent.NEVER_ASKED:
            _record_consent(session, actor, customer, channel)
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
    for field in ("email", "tax_exempt", "tax_exemptions", *CONSENT_FIELDS.values()):
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(camel(field), "must not be null")
    now = utcnow()
    consents = {
        channel: consent.apply(
            consent.current(customer, channel),
            changes[CONSENT_FIELDS[channel]],
            field=consent_field_name(channel),
            now=now,
        )
        for channel in ("email", "sms")
        if CONSENT_FIELDS[channel] in changes
    }
    if "sms" in consents or "phone" in changes:
        consent.check_sms_reachable(
            consents.get("sms") or consent.current(customer, "sms"),
            changes["phone"] if "phone" in changes else customer.phone,
            field="smsMarketingConsent" if "sms" in consents else "phone",
        )
    if "email" in changes:
        sealed_email, email_hash = seal_email(cipher, changes["email"])
        if email_hash != customer.email_hash:
            if await repository.email_hash_taken(email_hash, except_id=customer.id):
                raise EmailTaken
            customer.email, customer.email_hash = sealed_email, email_hash
    if "phone" in changes:
        customer.phone = seal_optional(cipher, changes["phone"], context=CUSTOMER_PHONE)
    for field in ("first_name", "last_name", "note", "tax_exempt"):
        if field in changes:
            setattr(customer, field, changes[field])
    if "tax_exemptions" in changes:
        customer.tax_exemptions = list(changes["tax_exemptions"])
    changed_consent = [
        channel
        for channel, after in consents.items()
        if after != consent.current(customer, channel)
    ]
    for channel in changed_consent:
        consent.store(customer, channel, consents[channel])
    # Tags are part of what the ETag covers: the customer row changes (and its version with
    # it) in the same flush as the first tag change, so one update is one new version.
    customer.updated_at = now
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
    for channel in changed_consent:
        _record_consent(session, actor, customer, channel)
    customer = await load_customer(session, customer.id)
    await record_data_access(session, actor, [customer.id], via=via)
    return unseal(cipher, customer, with_addresses=True)


async def delete_customer(
    session: AsyncSession, actor: Subject, customer_id: int, *, if_match: str | None
) -> None:
    """Soft delete: the row stays for audit; its email may be used again. Refused (409
    `CUSTOMER_HAS_ORDERS`) while an order belongs to the customer.

    The row lock is FOR UPDATE, the one lock an order's foreign key check (FOR KEY SHARE)
    waits for and is waited for by: an order inserted for the customer but not yet committed
    makes this wait and then be seen, and an order started after this lock waits until the
    deletion has committed (the orders service must then find the customer deleted).
    """
    repository = CustomerRepository(session)
    customer = await load_customer(session, customer_id, lock=True)
    check_if_match(if_match, customer.version)
    if await repository.has_live_orders(customer.id):
        raise CustomerHasOrders(customer.id)
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


async def tax_status(session: AsyncSession, customer_id: int) -> TaxStatus:
    """What a live customer is exempt from, for the checkout's tax calculation.

    404 (`CustomerNotFound`) for an unknown or deleted customer.
    """
    found = await CustomerRepository(session).tax_status(customer_id)
    if found is None:
        raise CustomerNotFound(customer_id)
    exempt, exemptions = found
    return TaxStatus(exempt=exempt, exemptions=tuple(exemptions))


def _record_consent(
    session: AsyncSession, actor: Subject, customer: Customer, channel: str
) -> None:
    record = consent.current(customer, channel)
    record_event(
        session,
        topic=CONSENT_TOPICS[channel],
        subject_type="Customer",
        subject_id=customer.id,
        body={
            "id": customer.id,
            "state": record.state,
            "optInLevel": record.opt_in_level,
            "consentUpdatedAt": (
                record.consent_updated_at.isoformat() if record.consent_updated_at else None
            ),
        },
        actor=actor.principal,
    )


def consent_field_name(channel: str) -> str:
    return camel(CONSENT_FIELDS[channel])


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
