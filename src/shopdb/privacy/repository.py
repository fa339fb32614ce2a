"""Where a customer's personal data is held: every query of the privacy requests.

The customer's own rows, and the rows that carry their data without belonging to the
customers domain: orders (by customer or by the email's blind index, so guest orders with
the customer's email count too), their fulfillments, refunds, returns and transactions,
checkouts and abandoned checkouts, gift cards, metafields, the event log about all of these,
the webhook outbox of those events, and stored idempotent responses.

Locks (`lock=True`, PostgreSQL; SQLite runs one writer at a time) are taken in one order:
the customer (FOR NO KEY UPDATE), then orders, checkouts, abandoned checkouts, fulfillment
orders, fulfillments, transactions, refunds, returns, each by id (order actions lock an order
before its fulfillments and refunds, as here); then the customer again, FOR UPDATE
(lock_customer_keys), and gift cards last. The first lock serialises redactions and leaves
the FOR KEY SHARE of a row being inserted for the customer alone: a checkout completing
holds its checkout while it waits for that key share, and FOR UPDATE first would deadlock
with it. service.redact_customer says why the second one comes when it does.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from sqlalchemy import Select, Text, and_, cast, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.models import (
    AbandonedCheckout,
    AbandonedCheckoutEnhanced,
    Checkout,
    Customer,
    Event,
    FulfillmentEnhanced,
    FulfillmentOrder,
    GiftCard,
    IdempotencyKey,
    Metafield,
    Order,
    OrderRefund,
    Return,
    SubscriptionContract,
    TransactionEnhanced,
    WebhookDelivery,
)

T = TypeVar("T")


def _like_escaped(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class PrivacyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def _all(self, statement: Select[T], *, lock: bool, of: Any) -> list[T]:
        statement = statement.execution_options(populate_existing=True)
        if lock and self._postgres:
            statement = statement.with_for_update(of=of)
        return list((await self.session.scalars(statement)).all())

    # --- the customer -----------------------------------------------------------------------

    async def customer(self, customer_id: int, *, lock: bool) -> Customer | None:
        """The customer, soft-deleted or not (a deleted row still holds its personal data),
        with addresses, tags and memberships loaded."""
        statement = (
            select(Customer)
            .where(Customer.id == customer_id)
            .options(
                selectinload(Customer.addresses),
                selectinload(Customer.tag_rows),
                selectinload(Customer.group_memberships),
            )
            .execution_options(populate_existing=True)
        )
        if lock and self._postgres:
            statement = statement.with_for_update(key_share=True, of=Customer)
        return (await self.session.scalars(statement)).one_or_none()

    async def lock_customer_keys(self, customer_id: int) -> None:
        """FOR UPDATE on the customer (PostgreSQL): waits for every transaction holding the
        FOR KEY SHARE of a row it is inserting that references the customer (an order, a
        checkout), and keeps new ones waiting until this transaction ends."""
        if self._postgres:
            await self.session.execute(
                select(Customer.id).where(Customer.id == customer_id).with_for_update()
            )

    # --- rows found by customer or by email ----------------------------------------------------

    async def orders(
        self, customer_id: int, email_hashes: Collection[str], *, lock: bool
    ) -> list[Order]:
        """Every order row of the customer or of these emails: placed, reserved, deleted."""
        statement = (
            select(Order)
            .where(or_(Order.customer_id == customer_id, Order.email_hash.in_(email_hashes)))
            .order_by(Order.id)
        )
        return await self._all(statement, lock=lock, of=Order)

    async def checkouts(
        self, customer_id: int, email_hashes: Collection[str], *, lock: bool
    ) -> list[Checkout]:
        statement = (
            select(Checkout)
            .where(or_(Checkout.customer_id == customer_id, Checkout.email_hash.in_(email_hashes)))
            .order_by(Checkout.id)
        )
        return await self._all(statement, lock=lock, of=Checkout)

    async def abandoned(
        self, customer_id: int, email_hashes: Collection[str], *, lock: bool
    ) -> list[AbandonedCheckoutEnhanced]:
        model = AbandonedCheckoutEnhanced
        statement = (
            select(model)
            .where(or_(model.customer_id == customer_id, model.email_hash.in_(email_hashes)))
            .order_by(model.id)
        )
        return await self._all(statement, lock=lock, of=model)

    async def abandoned_mirrors(
        self, customer_id: int, email_hashes: Collection[str], *, lock: bool
    ) -> list[AbandonedCheckout]:
        model = AbandonedCheckout
        statement = (
            select(model)
            .where(or_(model.customer_id == customer_id, model.email_hash.in_(email_hashes)))
            .order_by(model.id)
        )
        return await self._all(statement, lock=lock, of=model)

    async def gift_cards(self, customer_id: int, *, lock: bool) -> list[GiftCard]:
        statement = (
            select(GiftCard).where(GiftCard.customer_id == customer_id).order_by(GiftCard.id)
        )
        return await self._all(statement, lock=lock, of=GiftCard)

    async def subscription_contracts(
        self, customer_id: int, *, lock: bool
    ) -> list[SubscriptionContract]:
        statement = (
            select(SubscriptionContract)
            .where(SubscriptionContract.customer_id == customer_id)
            .order_by(SubscriptionContract.id)
        )
        return await self._all(statement, lock=lock, of=SubscriptionContract)

    # --- what hangs off the orders -------------------------------------------------------------

    async def fulfillment_orders(
        self, order_ids: Collection[int], *, lock: bool
    ) -> list[FulfillmentOrder]:
        statement = (
            select(FulfillmentOrder)
            .where(FulfillmentOrder.order_id.in_(order_ids))
            .order_by(FulfillmentOrder.id)
        )
        return await self._all(statement, lock=lock, of=FulfillmentOrder)

    async def fulfillments(
        self, order_ids: Collection[int], *, lock: bool
    ) -> list[FulfillmentEnhanced]:
        statement = (
            select(FulfillmentEnhanced)
            .where(FulfillmentEnhanced.order_id.in_(order_ids))
            .order_by(FulfillmentEnhanced.id)
        )
        return await self._all(statement, lock=lock, of=FulfillmentEnhanced)

    async def transactions(
        self, order_ids: Collection[int], *, lock: bool
    ) -> list[TransactionEnhanced]:
        statement = (
            select(TransactionEnhanced)
            .where(TransactionEnhanced.order_id.in_(order_ids))
            .order_by(TransactionEnhanced.id)
        )
        return await self._all(statement, lock=lock, of=TransactionEnhanced)

    async def refunds(self, order_ids: Collection[int], *, lock: bool) -> list[OrderRefund]:
        statement = (
            select(OrderRefund).where(OrderRefund.order_id.in_(order_ids)).order_by(OrderRefund.id)
        )
        return await self._all(statement, lock=lock, of=OrderRefund)

    async def returns(self, order_ids: Collection[int], *, lock: bool) -> list[Return]:
        statement = (
            select(Return)
            .where(Return.order_id.in_(order_ids))
            .options(selectinload(Return.line_items))
            .order_by(Return.id)
        )
        return await self._all(statement, lock=lock, of=Return)

    # --- metafields ----------------------------------------------------------------------------

    async def metafields(self, owners: Mapping[str, Collection[int]]) -> list[Metafield]:
        conditions = [
            and_(Metafield.owner_resource == resource, Metafield.owner_id.in_(ids))
            for resource, ids in owners.items()
            if ids
        ]
        if not conditions:
            return []
        statement = select(Metafield).where(or_(*conditions)).order_by(Metafield.id)
        return list((await self.session.scalars(statement)).all())

    async def delete_metafields(self, owner_resource: str, owner_ids: Collection[int]) -> int:
        result = await self.session.execute(
            delete(Metafield).where(
                Metafield.owner_resource == owner_resource, Metafield.owner_id.in_(owner_ids)
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- the event log, its outbox, stored responses --------------------------------------------

    async def events_about(self, subjects: Mapping[str, Collection[int]]) -> list[Event]:
        """Events whose subject is one of these: each (type, ids) is a range of the
        (subject_type, subject_id, id) index."""
        conditions = [
            and_(Event.subject_type == subject_type, Event.subject_id.in_(ids))
            for subject_type, ids in subjects.items()
            if ids
        ]
        if not conditions:
            return []
        statement = select(Event).where(or_(*conditions)).order_by(Event.id)
        return list((await self.session.scalars(statement)).all())

    async def deliveries_of(self, event_ids: Collection[int]) -> list[WebhookDelivery]:
        if not event_ids:
            return []
        statement = (
            select(WebhookDelivery)
            .where(WebhookDelivery.event_id.in_(event_ids))
            .order_by(WebhookDelivery.id)
        )
        return list((await self.session.scalars(statement)).all())

    async def stored_responses_holding(self, terms: Collection[str]) -> list[IdempotencyKey]:
        """Stored idempotent responses whose JSON holds one of `terms` (lower-cased), in any
        case; expired ones too, until they are purged.

        A scan of the table: it holds a day of keyed requests (rules.TTL), and a redaction is
        rare. No index could answer a substring of a JSON document on both databases.
        """
        if not terms:
            return []
        text = func.lower(cast(IdempotencyKey.response_body, Text))
        statement = (
            select(IdempotencyKey)
            .where(or_(*(text.like(_like_escaped(t), escape="\\") for t in terms)))
            .order_by(IdempotencyKey.id)
        )
        return list((await self.session.scalars(statement)).all())
