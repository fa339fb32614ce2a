"""Customer privacy requests: export everything held about a customer, or erase it.

Both find the same rows (`_gather`): the customer, its orders and the guest orders placed with
its email (through the email's blind index), its checkouts and abandoned checkouts (the same
way), its gift cards, and what hangs off the orders.

The export answers in the request (not a job writing a file): it is one customer's history,
read in one transaction, and it holds decrypted personal data that a file in storage would
be one more copy of. It is recorded as the seed's "CustomerData" reads are (a
`customers/data_access` event) and as `customers/data_request` (a webhook topic).

Redaction erases in the request's transaction what rules.py says, keeps every amount, and
records `customers/redact` when it changed something: the first time always; again only if
data of the customer arrived since (an order placed with its id, say). Event bodies carry
ids only, never the personal data: the event log and its webhook outbox outlive a redaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.checkouts.abandonment import ENHANCED_EMAIL, MIRROR_EMAIL
from shopdb.customers import consent
from shopdb.customers.errors import CustomerNotFound
from shopdb.customers.pii import seal_email
from shopdb.customers.schemas import AddressRead, MarketingConsentRead
from shopdb.customers.service import record_data_access, unseal
from shopdb.events.schemas import EventRead
from shopdb.events.service import record_event
from shopdb.kit import journal
from shopdb.kit.crypto import FieldCipher, normalise_email
from shopdb.kit.types import utcnow
from shopdb.models import (
    AbandonedCheckout,
    AbandonedCheckoutEnhanced,
    Checkout,
    Customer,
    GiftCard,
    Order,
    SubscriptionContract,
)
from shopdb.models.checkouts import CHECKOUT_EMAIL
from shopdb.models.orders import ORDER_EMAIL
from shopdb.orders.service import email_of, get_order
from shopdb.privacy.repository import PrivacyRepository
from shopdb.privacy.rules import (
    Needles,
    address_values,
    placeholder_email,
    redact_address,
    scrub_json,
    scrub_text,
)
from shopdb.privacy.schemas import (
    AbandonedCheckoutExport,
    CheckoutExport,
    CustomerExport,
    DataExport,
    GiftCardExport,
    MetafieldExport,
    RedactionRead,
    SubscriptionContractExport,
)
from shopdb.selling_plans.contracts import contract_read
from shopdb.selling_plans.ordering import open_payment_method, seal_payment_method

DATA_REQUEST_TOPIC = "customers/data_request"
REDACT_TOPIC = "customers/redact"
EXPORT_FIELDS = ["email", "phone", "addresses.phone", "orders", "checkouts"]


@dataclass
class Held:
    """The rows that carry a customer's data (see the module's docstring)."""

    customer: Customer
    orders: list[Order]
    checkouts: list[Checkout]
    abandoned: list[AbandonedCheckoutEnhanced]
    mirrors: list[AbandonedCheckout]
    gift_cards: list[GiftCard]
    contracts: list[SubscriptionContract]

    @property
    def order_ids(self) -> list[int]:
        return [o.id for o in self.orders]

    def without(self, seen: Held) -> Held:
        """The rows of this look that an earlier one did not find."""

        def new(rows: list[Any], before: list[Any]) -> list[Any]:
            known = {r.id for r in before}
            return [r for r in rows if r.id not in known]

        return Held(
            customer=self.customer,
            orders=new(self.orders, seen.orders),
            checkouts=new(self.checkouts, seen.checkouts),
            abandoned=new(self.abandoned, seen.abandoned),
            mirrors=new(self.mirrors, seen.mirrors),
            gift_cards=new(self.gift_cards, seen.gift_cards),
            contracts=new(self.contracts, seen.contracts),
        )


async def _gather(repository: PrivacyRepository, customer: Customer, *, lock: bool) -> Held:
    # Guest rows count by the customer's own email only: an order of the customer placed with
    # another address (a gift) makes that address's other orders no business of this customer.
    hashes = [customer.email_hash]
    orders = await repository.orders(customer.id, hashes, lock=lock)
    return Held(
        customer=customer,
        orders=orders,
        checkouts=await repository.checkouts(customer.id, hashes, lock=lock),
        abandoned=await repository.abandoned(customer.id, hashes, lock=lock),
        mirrors=await repository.abandoned_mirrors(customer.id, hashes, lock=lock),
        # Never locked here (redact_customer's docstring says why).
        gift_cards=await repository.gift_cards(customer.id, lock=False),
        contracts=await repository.subscription_contracts(customer.id, lock=lock),
    )


# --- opening sealed values -----------------------------------------------------------------------


def _sealed_or_plain(
    cipher: FieldCipher, value: str | None, hashed: bool, context: str
) -> str | None:
    if value is None:
        return None
    return cipher.decrypt(value, context=context) if hashed else value


def _abandoned_email(cipher: FieldCipher, row: AbandonedCheckoutEnhanced) -> str | None:
    return _sealed_or_plain(cipher, row.email, row.email_hash is not None, ENHANCED_EMAIL)


def _mirror_email(cipher: FieldCipher, row: AbandonedCheckout) -> str | None:
    return _sealed_or_plain(cipher, row.email, row.email_hash is not None, MIRROR_EMAIL)


# --- export --------------------------------------------------------------------------------------


async def export_customer_data(
    session: AsyncSession, cipher: FieldCipher, actor: Subject, customer_id: int, *, via: str
) -> DataExport:
    """Everything held about the customer (soft-deleted ones too: their rows are still held),
    personal data decrypted; 404 for an unknown one. A redacted customer's export shows what
    is left: ids and amounts."""
    repository = PrivacyRepository(session)
    customer = await repository.customer(customer_id, lock=False)
    if customer is None:
        raise CustomerNotFound(customer_id)
    now = utcnow()
    held = await _gather(repository, customer, lock=False)
    opened = unseal(cipher, customer, with_addresses=True)
    placed = [o.id for o in held.orders if o.reserved_until is None and o.deleted_at is None]
    orders = [await get_order(session, cipher, order_id) for order_id in placed]
    metafields = await repository.metafields({"customers": [customer.id], "orders": held.order_ids})
    events = await repository.events_about(await _subjects(repository, held))
    export = DataExport(
        requested_at=now,
        customer=_customer_export(customer, opened.email, opened.phone),
        addresses=[
            AddressRead.model_validate(a).model_copy(
                update={"phone": opened.address_phones.get(a.id)}
            )
            for a in customer.addresses
        ],
        orders=orders,
        checkouts=[_checkout_export(cipher, c) for c in held.checkouts],
        abandoned_checkouts=[_abandoned_export(cipher, a) for a in held.abandoned],
        gift_cards=[GiftCardExport.model_validate(g) for g in held.gift_cards],
        subscription_contracts=[_contract_export(cipher, c) for c in held.contracts],
        metafields=[MetafieldExport.model_validate(m) for m in metafields],
        events=[EventRead.model_validate(e) for e in events],
    )
    await record_data_access(session, actor, [customer.id], via=via, fields=EXPORT_FIELDS)
    record_event(
        session,
        topic=DATA_REQUEST_TOPIC,
        subject_type="Customer",
        subject_id=customer.id,
        # Shopify's payload without the email and phone: the event log is no place for them.
        body={
            "customer": {"id": customer.id},
            "ordersRequested": placed,
            "requestedAt": now.isoformat(),
        },
        actor=actor.principal,
    )
    return export


def _contract_export(
    cipher: FieldCipher, contract: SubscriptionContract
) -> SubscriptionContractExport:
    return SubscriptionContractExport(
        **contract_read(cipher, contract).model_dump(),
        shipping_address=contract.shipping_address,
        billing_address=contract.billing_address,
    )


def _customer_export(customer: Customer, email: str, phone: str | None) -> CustomerExport:
    return CustomerExport(
        id=customer.id,
        email=email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        phone=phone,
        state=customer.state,
        note=customer.note,
        email_marketing_consent=MarketingConsentRead.model_validate(
            consent.current(customer, "email")
        ),
        sms_marketing_consent=MarketingConsentRead.model_validate(consent.current(customer, "sms")),
        tax_exempt=customer.tax_exempt,
        tax_exemptions=list(customer.tax_exemptions),
        tags=sorted(row.tag for row in customer.tag_rows),
        group_ids=sorted(m.customer_group_id for m in customer.group_memberships),
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        redacted_at=customer.redacted_at,
    )


def _checkout_export(cipher: FieldCipher, checkout: Checkout) -> CheckoutExport:
    return CheckoutExport.model_validate(checkout).model_copy(
        update={"email": cipher.decrypt(checkout.email, context=CHECKOUT_EMAIL)}
    )


def _abandoned_export(
    cipher: FieldCipher, row: AbandonedCheckoutEnhanced
) -> AbandonedCheckoutExport:
    exported = AbandonedCheckoutExport.model_validate(row)
    return exported.model_copy(
        update={"email": _abandoned_email(cipher, row), "line_items": row.line_items or []}
    )


async def _subjects(repository: PrivacyRepository, held: Held) -> dict[str, list[int]]:
    """The event subjects that are about the customer, by type."""
    order_ids = held.order_ids
    return {
        "Customer": [held.customer.id],
        "Order": order_ids,
        "Checkout": [c.id for c in held.checkouts],
        "GiftCard": [g.id for g in held.gift_cards],
        "FulfillmentOrder": [
            f.id for f in await repository.fulfillment_orders(order_ids, lock=False)
        ],
        "Fulfillment": [f.id for f in await repository.fulfillments(order_ids, lock=False)],
        "Refund": [r.id for r in await repository.refunds(order_ids, lock=False)],
        "Return": [r.id for r in await repository.returns(order_ids, lock=False)],
        "Metafield": [
            m.id
            for m in await repository.metafields(
                {"customers": [held.customer.id], "orders": order_ids}
            )
        ],
    }


# --- redaction -----------------------------------------------------------------------------------


@dataclass
class _Eraser:
    """Sets what differs and counts it, so a second redaction can tell it changed nothing."""

    changes: int = 0

    def set(self, row: Any, name: str, value: Any) -> None:
        if getattr(row, name) != value:
            setattr(row, name, value)
            self.changes += 1


def _needles(cipher: FieldCipher, held: Held) -> tuple[Needles, Needles]:
    """(every personal value of the customer, the identifying ones: emails and phones)."""
    customer = held.customer
    opened = unseal(cipher, customer, with_addresses=True)
    emails: list[str | None] = [opened.email]
    phones: list[str | None] = [opened.phone, *opened.address_phones.values()]
    # Notes are erased as a whole; as needles they also leave the copies of them (a stored
    # response, an event) that hold them.
    others: list[str | None] = [customer.first_name, customer.last_name, customer.note]
    for a in customer.addresses:
        others += [a.first_name, a.last_name, a.company, a.address1, a.address2, a.city, a.zip]
    for order in held.orders:
        emails.append(email_of(cipher, order))
        others.append(order.note)
        for address in (order.shipping_address, order.billing_address):
            others += address_values(address)
            phones.append((address or {}).get("phone"))
    for checkout in held.checkouts:
        emails.append(cipher.decrypt(checkout.email, context=CHECKOUT_EMAIL))
        others.append(checkout.note)
        for address in (checkout.shipping_address, checkout.billing_address):
            others += address_values(address)
            phones.append((address or {}).get("phone"))
    for row in held.abandoned:
        emails.append(_abandoned_email(cipher, row))
        phones += [row.phone, row.sms_marketing_phone]
        others.append(row.note)
        for address in (row.shipping_address, row.billing_address):
            others += address_values(address)
    for mirror in held.mirrors:
        emails.append(_mirror_email(cipher, mirror))
    for contract in held.contracts:
        for address in (contract.shipping_address, contract.billing_address):
            others += address_values(address)
            phones.append((address or {}).get("phone"))
    placeholder = placeholder_email(customer.id)
    emails = [e for e in emails if e is not None and normalise_email(e) != placeholder]
    identifying = Needles.of([*emails, *phones])
    return identifying | Needles.of(others), identifying


async def redact_customer(
    session: AsyncSession, cipher: FieldCipher, actor: Subject, customer_id: int
) -> RedactionRead:
    """Erase the customer's personal data wherever it is held (a soft-deleted customer's too);
    404 for an unknown one. Idempotent: run again, it finds nothing left, records nothing.

    Two passes around the customer's key lock (PostgreSQL): the rows found under FOR NO KEY
    UPDATE are erased and flushed; then FOR UPDATE waits for every transaction inserting a row
    that references the customer (an order being placed holds FOR KEY SHARE until it commits)
    and keeps new ones out until this commits, so the second look finds every row there will
    be. Gift cards are read only then: a placement debits a card after inserting its order,
    and locking a card before the wait could deadlock with it.
    """
    repository = PrivacyRepository(session)
    customer = await repository.customer(customer_id, lock=True)
    if customer is None:
        raise CustomerNotFound(customer_id)
    now = utcnow()
    placeholder = placeholder_email(customer.id)
    sealed, placeholder_hash = seal_email(cipher, placeholder)
    erase = _Erasure(cipher, repository, placeholder, placeholder_hash)

    held = await _gather(repository, customer, lock=True)
    # Before anything is erased: the customer's metafields (deleted below) are subjects too.
    own_metafields = await repository.metafields({"customers": [customer.id]})
    await erase.add_needles(held, extra=[m.value for m in own_metafields])
    _erase_customer(erase.eraser, customer, sealed, placeholder_hash, now)
    erase.eraser.changes += await repository.delete_metafields("customers", [customer.id])
    await erase.rows(held)
    await session.flush()

    await repository.lock_customer_keys(customer.id)
    late = (await _gather(repository, customer, lock=True)).without(held)
    await erase.add_needles(late)
    await erase.rows(late)
    cards = await repository.gift_cards(customer.id, lock=True)
    erase.subjects["GiftCard"] = [c.id for c in cards]
    for card in cards:
        erase.eraser.set(card, "note", scrub_text(card.note, erase.needles))
    await erase.records()

    first = customer.redacted_at is None
    if first:
        customer.redacted_at = now
    await session.flush()
    order_ids = sorted({*held.order_ids, *late.order_ids})
    # The orders' cached documents (orders/documents.py) must go once this commits.
    journal.note(session, journal.ORDER, order_ids, listing=False)
    changed = first or erase.eraser.changes > 0
    if changed:
        record_event(
            session,
            topic=REDACT_TOPIC,
            subject_type="Customer",
            subject_id=customer.id,
            # Shopify's payload without the email and phone (there are none left to send).
            body={
                "customer": {"id": customer.id},
                "ordersToRedact": order_ids,
                "redactedAt": now.isoformat(),
            },
            actor=actor.principal,
        )
    return RedactionRead(
        customer_id=customer.id,
        redacted_at=customer.redacted_at or now,
        changed=changed,
        order_ids=order_ids,
        checkout_ids=sorted(c.id for c in [*held.checkouts, *late.checkouts]),
        abandoned_checkout_ids=sorted(a.id for a in [*held.abandoned, *late.abandoned]),
    )


class _Erasure:
    """One redaction's state: what it searches for, the event subjects it found, the count
    of values it changed."""

    def __init__(
        self,
        cipher: FieldCipher,
        repository: PrivacyRepository,
        placeholder: str,
        placeholder_hash: str,
    ) -> None:
        self.cipher = cipher
        self.repository = repository
        self.placeholder = placeholder
        self.placeholder_hash = placeholder_hash
        self.eraser = _Eraser()
        self.needles = Needles()
        self.identifying = Needles()
        self.subjects: dict[str, list[int]] = {}

    async def add_needles(self, held: Held, extra: Iterable[str | None] = ()) -> None:
        """Read the rows' personal values and event subjects, before they are erased."""
        needles, identifying = _needles(self.cipher, held)
        self.needles |= needles | Needles.of(extra)
        self.identifying |= identifying
        for subject_type, ids in (await _subjects(self.repository, held)).items():
            self.subjects[subject_type] = sorted({*self.subjects.get(subject_type, []), *ids})

    async def rows(self, held: Held) -> None:
        eraser, cipher, needles = self.eraser, self.cipher, self.needles
        placeholder, placeholder_hash = self.placeholder, self.placeholder_hash
        for order in held.orders:
            if order.email_hash != placeholder_hash:
                eraser.set(order, "email", cipher.encrypt(placeholder, context=ORDER_EMAIL))
                eraser.set(order, "email_hash", placeholder_hash)
            eraser.set(order, "shipping_address", redact_address(order.shipping_address))
            eraser.set(order, "billing_address", redact_address(order.billing_address))
            eraser.set(order, "note", None)
            eraser.set(order, "tags", scrub_text(order.tags, needles))
        for checkout in held.checkouts:
            if checkout.email_hash != placeholder_hash:
                sealed = cipher.encrypt(placeholder, context=CHECKOUT_EMAIL)
                eraser.set(checkout, "email", sealed)
                eraser.set(checkout, "email_hash", placeholder_hash)
            eraser.set(checkout, "shipping_address", redact_address(checkout.shipping_address))
            eraser.set(checkout, "billing_address", redact_address(checkout.billing_address))
            eraser.set(checkout, "note", None)
        for row in held.abandoned:
            _erase_abandoned(eraser, cipher, row, needles, placeholder, placeholder_hash)
        for mirror in held.mirrors:
            if mirror.email_hash != placeholder_hash:
                eraser.set(mirror, "email", cipher.encrypt(placeholder, context=MIRROR_EMAIL))
                eraser.set(mirror, "email_hash", placeholder_hash)
        for contract in held.contracts:
            # A redacted customer is billed no more: the contract ends, its saved payment
            # method and addresses go (the renewals it placed keep their amounts).
            eraser.set(contract, "shipping_address", redact_address(contract.shipping_address))
            eraser.set(contract, "billing_address", redact_address(contract.billing_address))
            if open_payment_method(cipher, contract.payment_method):
                eraser.set(contract, "payment_method", seal_payment_method(cipher, {}))
            if contract.status != "cancelled":
                eraser.set(contract, "status", "cancelled")
                eraser.set(contract, "cancelled_at", utcnow())
        await _erase_order_parts(eraser, self.repository, held.order_ids, needles, placeholder)

    async def records(self) -> None:
        await _erase_records(
            self.eraser,
            self.repository,
            self.subjects,
            self.needles,
            self.identifying,
            self.placeholder,
        )


def _erase_customer(
    eraser: _Eraser,
    customer: Customer,
    sealed: str,
    placeholder_hash: str,
    now: datetime,
) -> None:
    if customer.email_hash != placeholder_hash:
        eraser.set(customer, "email", sealed)
        eraser.set(customer, "email_hash", placeholder_hash)
    for name in ("first_name", "last_name", "phone", "note"):
        eraser.set(customer, name, None)
    # No account any more: there is no one to sign in or to invite.
    eraser.set(customer, "state", "disabled")
    for channel in ("email", "sms"):
        if consent.current(customer, channel).state != "redacted":
            consent.store(customer, channel, consent.Consent("redacted", None, now))
            eraser.changes += 1
    if customer.addresses:
        eraser.changes += len(customer.addresses)
        customer.addresses.clear()  # delete-orphan: the rows go
    if customer.tag_rows:
        eraser.changes += len(customer.tag_rows)
        customer.tag_rows.clear()
    if eraser.changes:
        customer.updated_at = now


def _erase_abandoned(
    eraser: _Eraser,
    cipher: FieldCipher,
    row: AbandonedCheckoutEnhanced,
    needles: Needles,
    placeholder: str,
    placeholder_hash: str,
) -> None:
    if row.email is not None and row.email_hash != placeholder_hash:
        eraser.set(row, "email", cipher.encrypt(placeholder, context=ENHANCED_EMAIL))
        eraser.set(row, "email_hash", placeholder_hash)
    for name in ("phone", "sms_marketing_phone", "note"):
        eraser.set(row, name, None)
    eraser.set(row, "shipping_address", redact_address(row.shipping_address))
    eraser.set(row, "billing_address", redact_address(row.billing_address))
    for name in ("name", "landing_site", "referring_site", "source_url", "source_identifier"):
        eraser.set(row, name, scrub_text(getattr(row, name), needles))
    eraser.set(row, "line_items", scrub_json(row.line_items, needles, email=placeholder))


async def _erase_order_parts(
    eraser: _Eraser,
    repository: PrivacyRepository,
    order_ids: list[int],
    needles: Needles,
    placeholder: str,
) -> None:
    for fulfillment_order in await repository.fulfillment_orders(order_ids, lock=True):
        eraser.set(fulfillment_order, "destination", redact_address(fulfillment_order.destination))
    for fulfillment in await repository.fulfillments(order_ids, lock=True):
        eraser.set(fulfillment, "destination", redact_address(fulfillment.destination))
        eraser.set(
            fulfillment, "receipt", scrub_json(fulfillment.receipt, needles, email=placeholder)
        )
        eraser.set(fulfillment, "name", scrub_text(fulfillment.name, needles))
    for transaction in await repository.transactions(order_ids, lock=True):
        for name in ("payment_details", "receipt"):
            value = getattr(transaction, name)
            eraser.set(transaction, name, scrub_json(value, needles, email=placeholder))
        eraser.set(transaction, "message", scrub_text(transaction.message, needles))
    for refund in await repository.refunds(order_ids, lock=True):
        eraser.set(refund, "note", scrub_text(refund.note, needles))
        eraser.set(refund, "reason", scrub_text(refund.reason, needles))
    for return_ in await repository.returns(order_ids, lock=True):
        eraser.set(return_, "note", scrub_text(return_.note, needles))
        for line in return_.line_items:
            eraser.set(line, "note", scrub_text(line.note, needles))
    for metafield in await repository.metafields({"orders": order_ids}):
        eraser.set(metafield, "value", scrub_text(metafield.value, needles))
        eraser.set(metafield, "description", scrub_text(metafield.description, needles))


async def _erase_records(
    eraser: _Eraser,
    repository: PrivacyRepository,
    subjects: dict[str, list[int]],
    needles: Needles,
    identifying: Needles,
    placeholder: str,
) -> None:
    """The event log about the customer, its webhook outbox, and stored responses."""
    if not needles:
        return
    events = await repository.events_about(subjects)
    for event in events:
        eraser.set(event, "body", scrub_json(event.body, needles, email=placeholder))
    for delivery in await repository.deliveries_of([e.id for e in events]):
        eraser.set(delivery, "payload", scrub_json(delivery.payload, needles, email=placeholder))
        eraser.set(delivery, "last_error", scrub_text(delivery.last_error, needles))
        log = delivery.attempt_log
        eraser.set(delivery, "attempt_log", scrub_json(log, needles, email=placeholder))
    for stored in await repository.stored_responses_holding(identifying.values):
        eraser.set(
            stored, "response_body", _scrub_stored(stored.response_body, needles, placeholder)
        )


def _scrub_stored(saved: Any, needles: Needles, placeholder: str) -> Any:
    """A stored response (idempotency.rules.stored) with its JSON body scrubbed, so that a
    replay answers what a read would now: the body stays valid JSON."""
    if not isinstance(saved, dict):
        return scrub_json(saved, needles, email=placeholder)
    body = saved.get("body")
    if isinstance(body, str):
        try:
            parsed = _loads(body)
        except ValueError:
            return {**saved, "body": scrub_text(body, needles)}
        scrubbed = scrub_json(parsed, needles, email=placeholder)
        return saved if scrubbed is parsed else {**saved, "body": _dumps(scrubbed)}
    return scrub_json(saved, needles, email=placeholder)


def _loads(text: str) -> Any:
    return json.loads(text)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
