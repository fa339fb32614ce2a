"""Customer privacy requests: the data export and redaction (POST /api/v1/customers/{id}/
data-request and /redact), on SQLite and PostgreSQL.

A customer with everything a customer can have (addresses, a tag, a metafield, an order placed
with an Idempotency-Key and then fulfilled and refunded, a guest order with the same email, a
checkout, an abandoned checkout) is exported, then redacted; afterwards every text and JSON
column of every table is read, sealed values opened with the application's cipher, and none
holds any of the customer's values, while the orders' amounts are what they were.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.checkouts.abandonment import ENHANCED_EMAIL, MIRROR_EMAIL, mark_abandoned_checkouts
from shopdb.checkouts.settings import CheckoutSettings
from shopdb.db import Database
from shopdb.jobs.kinds import ORDERS_CONFIRMATION_EMAIL
from shopdb.keys import field_cipher
from shopdb.kit.crypto import DecryptionError, FieldCipher
from shopdb.kit.models import Base
from shopdb.kit.types import utcnow
from shopdb.models import Customer, Event, Order, OrderRefund, OrderTransaction, Webhook
from shopdb.models.checkouts import CHECKOUT_EMAIL, CHECKOUT_GIFT_CARD_CODES
from shopdb.models.orders import ORDER_EMAIL
from shopdb.notifications.outbox import GIFT_CARD_CODE
from shopdb.privacy import service
from shopdb.privacy.rules import (
    REDACTED,
    Needles,
    placeholder_email,
    redact_address,
    scrub_json,
)
from shopdb.services import services_of
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.notifications.test_jobs import eml_path, forget, reread, run_notifications, the_job
from tests.orders.helpers import APPROVE, make_locations, make_variant
from tests.selling_plans.helpers import (
    CONTRACTS,
    MONTHLY_10,
    contract_row,
    contracts_of_order,
    make_shop,
    subscription_order,
)

CUSTOMERS = "/api/v1/customers"
ORDERS = "/api/v1/orders"
CHECKOUTS = "/api/v1/checkouts"
SHOP = CheckoutSettings(storefront_url="https://shop.example/")
# Every cipher context shopdb seals with: the columns' own (`table.column`) are tried too.
CONTEXTS = (
    CHECKOUT_EMAIL,
    CHECKOUT_GIFT_CARD_CODES,
    ENHANCED_EMAIL,
    MIRROR_EMAIL,
    ORDER_EMAIL,
    GIFT_CARD_CODE,
)


def _token() -> str:
    return uuid.uuid4().hex[:10]


@dataclass(frozen=True)
class Person:
    """Personal values no other test writes: each is a distinct random word."""

    email: str
    first_name: str
    last_name: str
    phone: str
    company: str
    address1: str
    address2: str
    city: str
    zip: str
    address_phone: str
    note: str
    order_note: str
    metafield_value: str

    @classmethod
    def new(cls) -> Person:
        digits = str(uuid.uuid4().int)[:8]
        return cls(
            email=f"Priv.{_token()}@Example.com",
            first_name=f"Zora{_token()}",
            last_name=f"Quill{_token()}",
            phone=f"+1555{digits}",
            company=f"Acme{_token()}",
            address1=f"12 Lane{_token()}",
            address2=f"Flat{_token()}",
            city=f"Vex{_token()}",
            zip=f"Z{_token()}",
            address_phone=f"+1666{digits}",
            note=f"met at {_token()}",
            order_note=f"leave with {_token()}",
            metafield_value=f"size {_token()}",
        )

    def values(self) -> list[str]:
        return [str(v) for v in self.__dict__.values()]

    def address(self) -> dict[str, str]:
        return {
            "firstName": self.first_name,
            "lastName": self.last_name,
            "company": self.company,
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "province": "Ontario",
            "provinceCode": "ON",
            "country": "Canada",
            "countryCode": "CA",
            "zip": self.zip,
            "phone": self.address_phone,
        }


@dataclass(frozen=True)
class Shopper:
    person: Person
    customer_id: int
    order_id: int
    guest_order_id: int
    checkout_token: str
    order_key: str
    order_body: dict[str, Any]


async def _post(
    client: httpx.AsyncClient, path: str, headers: Headers, body: dict[str, Any], status: int = 201
) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == status, response.text
    found: dict[str, Any] = response.json()
    return found


async def make_shopper(
    app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
) -> Shopper:
    person = Person.new()
    customer = await _post(
        client,
        CUSTOMERS,
        admin,
        {
            "email": person.email,
            "firstName": person.first_name,
            "lastName": person.last_name,
            "phone": person.phone,
            "note": person.note,
            "tags": ["vip"],
            "addresses": [{k: v for k, v in person.address().items() if "Code" not in k}],
        },
    )
    (location,) = await make_locations(database, "Main")
    tee = await make_variant(database, "25.00", {location: 10})
    await _post(
        client,
        "/api/v1/metafields",
        admin,
        {
            "ownerResource": "customers",
            "ownerId": customer["id"],
            "namespace": "custom",
            "key": "fit",
            "type": "single_line_text_field",
            "value": person.metafield_value,
        },
    )
    key = f"privacy-{_token()}"
    order_body = {
        "customerId": customer["id"],
        "email": person.email,
        "lineItems": [{"variantId": tee.variant_id, "quantity": 2}],
        "shippingAddress": person.address(),
        "billingAddress": person.address(),
        "note": person.order_note,
        "payment": {"gateway": "test", "token": APPROVE, "capture": True},
    }
    order = await _post(client, ORDERS, {**admin, "Idempotency-Key": key}, order_body)
    line_id = order["lineItems"][0]["id"]
    await _post(
        client,
        f"{ORDERS}/{order['id']}/fulfillments",
        admin,
        {"lineItems": [{"id": line_id, "quantity": 1}]},
    )
    await _post(
        client,
        f"{ORDERS}/{order['id']}/refunds",
        admin,
        {
            "refundLineItems": [{"lineItemId": line_id, "quantity": 1}],
            "note": f"asked by {person.first_name} on {person.phone}",
        },
    )
    guest = await _post(
        client,
        ORDERS,
        admin,
        {
            "email": person.email.lower(),
            "lineItems": [{"variantId": tee.variant_id, "quantity": 1}],
            "shippingAddress": person.address(),
            "payment": {"gateway": "test", "token": APPROVE, "capture": True},
        },
    )
    checkout = await _post(
        client,
        CHECKOUTS,
        admin,
        {
            "customerId": customer["id"],
            "email": person.email,
            "lineItems": [{"variantId": tee.variant_id, "quantity": 1}],
            "shippingAddress": person.address(),
            "note": person.order_note,
        },
    )
    cipher = field_cipher(services_of(app).settings)
    async with database.session() as session:
        abandoned = await mark_abandoned_checkouts(
            session, cipher, SHOP, now=utcnow() + timedelta(days=2)
        )
    assert abandoned
    return Shopper(
        person, customer["id"], order["id"], guest["id"], checkout["token"], key, order_body
    )


async def subscribe(db_session: AsyncSession, *topics: str) -> None:
    db_session.add_all(
        Webhook(topic=topic, address=f"https://hooks.example.com/{_token()}") for topic in topics
    )
    await db_session.flush()


def cipher_of(app: FastAPI) -> FieldCipher:
    return field_cipher(services_of(app).settings)


# --- searching every table ---------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _opened(cipher: FieldCipher, table: str, column: str, text: str) -> str | None:
    if not text.startswith("v1:"):
        return None
    for context in (f"{table}.{column}", *CONTEXTS):
        try:
            return cipher.decrypt(text, context=context)
        except (DecryptionError, ValueError):
            continue
    return None


@dataclass
class Search:
    hits: list[str]
    opened: int  # sealed values the cipher opened: proof the search read through the sealing


async def search_everywhere(
    session: AsyncSession, cipher: FieldCipher, values: list[str]
) -> Search:
    """Each text and JSON column of every table, sealed values opened, searched for `values`."""
    needles = [v.lower() for v in values]
    found = Search([], 0)
    for table in Base.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, sa.String | sa.Text | sa.JSON)]
        if not columns:
            continue
        rows = (await session.execute(select(*columns))).all()
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                if value is None:
                    continue
                texts = (
                    [json.dumps(value, ensure_ascii=False)] if not isinstance(value, str) else []
                )
                for text in _strings(value):
                    texts.append(text)
                    opened = _opened(cipher, table.name, column.name, text)
                    if opened is not None:
                        found.opened += 1
                        texts.append(opened)
                for text in texts:
                    lowered = text.lower()
                    found.hits += [
                        f"{table.name}.{column.name}: {n}" for n in needles if n in lowered
                    ]
    return found


async def amounts(session: AsyncSession, order_ids: list[int]) -> tuple[Any, ...]:
    orders = (
        await session.execute(
            select(
                func.sum(Order.total_price),
                func.sum(Order.subtotal_price),
                func.sum(Order.total_tax),
                func.sum(Order.total_discounts),
                func.sum(Order.total_shipping),
                func.count(),
            ).where(Order.id.in_(order_ids))
        )
    ).one()
    transactions = await session.scalar(
        select(func.sum(OrderTransaction.amount)).where(OrderTransaction.order_id.in_(order_ids))
    )
    refunds = await session.scalar(
        select(func.sum(OrderRefund.amount)).where(OrderRefund.order_id.in_(order_ids))
    )
    return (*tuple(orders), transactions, refunds)


async def events_of(session: AsyncSession, topic: str, customer_id: int) -> list[Event]:
    found = await session.scalars(
        select(Event)
        .where(
            Event.topic == topic, Event.subject_type == "Customer", Event.subject_id == customer_id
        )
        .order_by(Event.id)
    )
    return list(found)


# --- the export ------------------------------------------------------------------------------


class TestDataRequest:
    async def test_exports_every_part_with_personal_data_opened(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        shopper = await make_shopper(app, client, admin, database)
        person = shopper.person
        await subscribe(db_session, "customers/data_request")

        response = await client.post(
            f"{CUSTOMERS}/{shopper.customer_id}/data-request", headers=admin
        )

        assert response.status_code == 200, response.text
        assert response.headers["Cache-Control"] == "no-store"
        export = response.json()
        assert set(export) == {
            "requestedAt",
            "customer",
            "addresses",
            "orders",
            "checkouts",
            "abandonedCheckouts",
            "giftCards",
            "subscriptionContracts",
            "metafields",
            "events",
        }
        customer = export["customer"]
        assert (customer["id"], customer["email"], customer["phone"]) == (
            shopper.customer_id,
            person.email.lower(),
            person.phone,
        )
        assert (customer["firstName"], customer["lastName"], customer["note"]) == (
            person.first_name,
            person.last_name,
            person.note,
        )
        assert customer["tags"] == ["vip"]
        assert customer["redactedAt"] is None
        (address,) = export["addresses"]
        assert (address["address1"], address["city"], address["phone"]) == (
            person.address1,
            person.city,
            person.address_phone,
        )
        orders = {o["id"]: o for o in export["orders"]}
        assert set(orders) == {shopper.order_id, shopper.guest_order_id}
        order = orders[shopper.order_id]
        assert order["email"] == person.email.lower()
        assert order["shippingAddress"]["address1"] == person.address1
        assert order["note"] == person.order_note
        assert [line["quantity"] for line in order["lineItems"]] == [2]
        assert [t["kind"] for t in order["transactions"]] == ["sale", "refund"]
        assert len(order["fulfillments"]) == 1
        assert len(order["refunds"]) == 1
        assert order["refunds"][0]["note"] == f"asked by {person.first_name} on {person.phone}"
        (checkout,) = export["checkouts"]
        assert (checkout["email"], checkout["note"]) == (person.email.lower(), person.order_note)
        assert "token" not in checkout
        (abandoned,) = export["abandonedCheckouts"]
        assert abandoned["email"] == person.email.lower()
        assert abandoned["shippingAddress"]["address1"] == person.address1
        assert [(m["ownerResource"], m["value"]) for m in export["metafields"]] == [
            ("customers", person.metafield_value)
        ]
        subjects = {(e["subjectType"], e["subjectId"], e["topic"]) for e in export["events"]}
        assert ("Customer", shopper.customer_id, "customers/create") in subjects
        assert ("Order", shopper.order_id, "orders/create") in subjects
        assert ("Order", shopper.guest_order_id, "orders/create") in subjects
        assert ("Checkout", checkout["id"], "checkouts/create") in subjects
        assert any(t == "refunds/create" for _, _, t in subjects)

        (recorded,) = await events_of(db_session, "customers/data_request", shopper.customer_id)
        assert recorded.body["customer"] == {"id": shopper.customer_id}
        assert recorded.body["ordersRequested"] == [shopper.order_id, shopper.guest_order_id]
        access = await events_of(db_session, "customers/data_access", shopper.customer_id)
        assert access[-1].body["via"] == f"POST {CUSTOMERS}/{shopper.customer_id}/data-request"
        deliveries = await db_session.execute(
            sa.text("SELECT topic, payload FROM webhook_deliveries WHERE event_id = :id"),
            {"id": recorded.id},
        )
        ((topic, payload),) = deliveries.all()
        payload = payload if isinstance(payload, dict) else json.loads(payload)
        assert topic == "customers/data_request"
        assert payload["customer"] == {"id": shopper.customer_id}

    async def test_an_unknown_customer_is_404_and_records_nothing(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        before = await db_session.scalar(select(func.count(Event.id)))

        response = await client.post(f"{CUSTOMERS}/999999999/data-request", headers=admin)

        assert response.status_code == 404
        assert await db_session.scalar(select(func.count(Event.id))) == before

    async def test_needs_customers_and_orders_read(
        self, client: httpx.AsyncClient, token_for: Any, admin: Headers
    ) -> None:
        created = await _post(client, CUSTOMERS, admin, {"email": f"p-{_token()}@example.com"})
        url = f"{CUSTOMERS}/{created['id']}/data-request"

        only_customers = await client.post(url, headers=token_for("customers:read"))
        both = await client.post(url, headers=token_for("customers:read", "orders:read"))

        assert only_customers.status_code == 403
        assert only_customers.json()["details"] == [
            {"field": "permissions", "message": "requires orders:read"}
        ]
        assert both.status_code == 200


# --- redaction ---------------------------------------------------------------------------------


class TestRedact:
    async def test_leaves_no_personal_value_in_any_table_and_keeps_the_amounts(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        shopper = await make_shopper(app, client, admin, database)
        other = await make_shopper(app, client, admin, database)
        await subscribe(db_session, "customers/redact", "orders/create", "customers/create")
        # Exported first: the export's events and deliveries are searched too.
        exported = await client.post(
            f"{CUSTOMERS}/{shopper.customer_id}/data-request", headers=admin
        )
        assert exported.status_code == 200
        order_ids = [shopper.order_id, shopper.guest_order_id]
        before = await amounts(db_session, order_ids)
        cipher = cipher_of(app)
        seen = await search_everywhere(db_session, cipher, shopper.person.values())
        assert {h.split(":")[0] for h in seen.hits} >= {
            "customers.email",
            "customer_addresses.address1",
            "orders.email",
            "orders.shipping_address",
            "checkouts.email",
            "abandoned_checkouts_enhanced.email",
            "metafields.value",
            "idempotency_keys.response_body",
        }

        response = await client.post(f"{CUSTOMERS}/{shopper.customer_id}/redact", headers=admin)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["customerId"] == shopper.customer_id
        assert body["changed"] is True
        assert body["orderIds"] == order_ids
        assert len(body["checkoutIds"]) == 1
        assert len(body["abandonedCheckoutIds"]) == 1
        after = await search_everywhere(db_session, cipher, shopper.person.values())
        assert "\n".join(after.hits) == ""
        assert after.opened > 0
        assert await amounts(db_session, order_ids) == before
        # The other customer keeps everything.
        kept = await search_everywhere(db_session, cipher, other.person.values())
        assert {h.split(":")[0] for h in kept.hits} >= {
            "customers.email",
            "customer_addresses.address1",
            "orders.email",
            "checkouts.email",
            "idempotency_keys.response_body",
        }

    async def test_the_customer_is_no_longer_found_and_reads_as_redacted(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
    ) -> None:
        shopper = await make_shopper(app, client, admin, database)
        person = shopper.person
        # Read once before: with Redis (PostgreSQL runs) the order's document is now cached.
        cached = await client.get(f"{ORDERS}/{shopper.order_id}", headers=admin)
        assert cached.json()["email"] == person.email.lower()

        await client.post(f"{CUSTOMERS}/{shopper.customer_id}/redact", headers=admin)

        by_email = await client.get(CUSTOMERS, params={"email": person.email}, headers=admin)
        by_name = await client.get(CUSTOMERS, params={"q": person.last_name}, headers=admin)
        orders = await client.get(ORDERS, params={"email": person.email}, headers=admin)
        assert (by_email.json()["items"], by_name.json()["items"]) == ([], [])
        assert orders.json()["items"] == []
        read = (await client.get(f"{CUSTOMERS}/{shopper.customer_id}", headers=admin)).json()
        assert read["email"] == placeholder_email(shopper.customer_id)
        assert (read["firstName"], read["lastName"], read["phone"], read["note"]) == (
            None,
            None,
            None,
            None,
        )
        assert (read["addresses"], read["tags"], read["state"]) == ([], [], "disabled")
        assert read["emailMarketingConsent"]["state"] == "redacted"
        assert read["smsMarketingConsent"]["state"] == "redacted"
        order = (await client.get(f"{ORDERS}/{shopper.order_id}", headers=admin)).json()
        assert order["email"] == placeholder_email(shopper.customer_id)
        assert order["shippingAddress"] == {
            "province": "Ontario",
            "provinceCode": "ON",
            "country": "Canada",
            "countryCode": "CA",
        }
        assert (order["note"], order["totalPrice"]) == (None, "50.00")
        # The order's stored idempotent response replays without the personal data.
        replay = await client.post(
            ORDERS,
            json=shopper.order_body,
            headers={**admin, "Idempotency-Key": shopper.order_key},
        )
        assert replay.headers.get("Idempotent-Replayed") == "true"
        assert replay.json()["email"] == placeholder_email(shopper.customer_id)
        assert person.address1 not in replay.text

    async def test_records_an_event_and_a_webhook_without_personal_data(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        shopper = await make_shopper(app, client, admin, database)
        await subscribe(db_session, "customers/redact")

        await client.post(f"{CUSTOMERS}/{shopper.customer_id}/redact", headers=admin)

        (event,) = await events_of(db_session, "customers/redact", shopper.customer_id)
        assert event.verb == "redact"
        assert event.body["customer"] == {"id": shopper.customer_id}
        assert event.body["ordersToRedact"] == [shopper.order_id, shopper.guest_order_id]
        rows = await db_session.execute(
            sa.text("SELECT payload FROM webhook_deliveries WHERE event_id = :id"),
            {"id": event.id},
        )
        (payload,) = rows.scalars().all()
        payload = payload if isinstance(payload, dict) else json.loads(payload)
        assert payload == event.body
        redacted_at = await db_session.scalar(
            select(Customer.redacted_at)
            .where(Customer.id == shopper.customer_id)
            .execution_options(populate_existing=True)
        )
        assert redacted_at is not None

    async def test_a_second_redaction_changes_nothing_and_records_nothing(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        shopper = await make_shopper(app, client, admin, database)
        url = f"{CUSTOMERS}/{shopper.customer_id}/redact"
        first = (await client.post(url, headers=admin)).json()
        version = (await client.get(f"{CUSTOMERS}/{shopper.customer_id}", headers=admin)).json()[
            "version"
        ]

        second = await client.post(url, headers=admin)

        assert second.status_code == 200
        assert second.json() == {**first, "changed": False}
        assert len(await events_of(db_session, "customers/redact", shopper.customer_id)) == 1
        again = (await client.get(f"{CUSTOMERS}/{shopper.customer_id}", headers=admin)).json()
        assert again["version"] == version

    async def test_data_arriving_after_a_redaction_is_erased_by_the_next(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        shopper = await make_shopper(app, client, admin, database)
        url = f"{CUSTOMERS}/{shopper.customer_id}/redact"
        await client.post(url, headers=admin)
        (location,) = await make_locations(database, "Late")
        tee = await make_variant(database, "5.00", {location: 5})
        late = Person.new()
        await _post(
            client,
            ORDERS,
            admin,
            {
                "customerId": shopper.customer_id,
                "email": late.email,
                "lineItems": [{"variantId": tee.variant_id, "quantity": 1}],
                "shippingAddress": late.address(),
                "payment": {"gateway": "test", "token": APPROVE, "capture": True},
            },
        )

        again = await client.post(url, headers=admin)

        assert again.json()["changed"] is True
        assert len(await events_of(db_session, "customers/redact", shopper.customer_id)) == 2
        after = await search_everywhere(db_session, cipher_of(app), late.values())
        assert after.hits == []

    async def test_a_soft_deleted_customer_is_redacted_too(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        person = Person.new()
        created = await _post(
            client,
            CUSTOMERS,
            admin,
            {"email": person.email, "firstName": person.first_name, "phone": person.phone},
        )
        deleted = await client.delete(f"{CUSTOMERS}/{created['id']}", headers=admin)
        assert deleted.status_code == 204

        response = await client.post(f"{CUSTOMERS}/{created['id']}/redact", headers=admin)

        assert response.status_code == 200, response.text
        after = await search_everywhere(db_session, cipher_of(app), person.values())
        assert after.hits == []

    async def test_an_unknown_customer_is_404(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.post(f"{CUSTOMERS}/999999999/redact", headers=admin)

        assert response.status_code == 404

    async def test_needs_the_redact_permission(
        self,
        client: httpx.AsyncClient,
        token_for: Any,
        admin: Headers,
        db_session: AsyncSession,
    ) -> None:
        person = Person.new()
        created = await _post(client, CUSTOMERS, admin, {"email": person.email})
        writer = token_for("customers:read", "customers:write")

        response = await client.post(f"{CUSTOMERS}/{created['id']}/redact", headers=writer)

        assert response.status_code == 403
        email = (await client.get(f"{CUSTOMERS}/{created['id']}", headers=admin)).json()["email"]
        assert email == person.email.lower()
        assert await events_of(db_session, "customers/redact", created["id"]) == []


class TestNotificationsAfterRedaction:
    async def test_an_email_queued_before_a_redaction_is_skipped(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        shopper = await make_shopper(app, client, admin, database)
        job = await the_job(database, ORDERS_CONFIRMATION_EMAIL.name, "orderId", shopper.order_id)
        path = eml_path(services_of(app).settings, "order_confirmation", job.id)
        forget(path)
        await client.post(f"{CUSTOMERS}/{shopper.customer_id}/redact", headers=admin)

        await run_notifications(app)

        done = await reread(database, job.id)
        assert (done.status, done.result) == (
            "completed",
            {"sent": False, "skipped": "recipient redacted"},
        )
        assert not path.exists()


# --- concurrency (PostgreSQL) ---------------------------------------------------------------


@pytest.mark.postgres_only
class TestConcurrentRedactions:
    ACTOR = Subject("user", 1, frozenset({"customers:redact"}))

    async def _customer(self, database: Database, cipher: FieldCipher) -> int:
        email = f"race-{_token()}@example.com"
        async with database.session() as session:
            customer = Customer(
                email=cipher.encrypt(email, context="customers.email"),
                email_hash=cipher.blind_index(email),
                first_name=f"Race{_token()}",
                tag_rows=[],
                addresses=[],
                group_memberships=[],
            )
            session.add(customer)
            await session.flush()
            return customer.id

    async def _redact(self, database: Database, cipher: FieldCipher, customer_id: int) -> bool:
        async with database.session() as session:
            done = await service.redact_customer(session, cipher, self.ACTOR, customer_id)
            return done.changed

    async def test_two_at_once_erase_once_and_record_one_event(
        self, live_postgres: Database, backend: Backend
    ) -> None:
        cipher = field_cipher(backend.settings)
        customer_id = await self._customer(live_postgres, cipher)

        outcomes = await asyncio.gather(
            self._redact(live_postgres, cipher, customer_id),
            self._redact(live_postgres, cipher, customer_id),
        )

        assert sorted(outcomes) == [False, True]
        async with live_postgres.session() as session:
            assert len(await events_of(session, "customers/redact", customer_id)) == 1
            first_name = await session.scalar(
                select(Customer.first_name).where(Customer.id == customer_id)
            )
        assert first_name is None

    async def test_an_order_being_placed_meanwhile_is_waited_for_and_erased_too(
        self, live_postgres: Database, backend: Backend
    ) -> None:
        cipher = field_cipher(backend.settings)
        customer_id = await self._customer(live_postgres, cipher)
        street = f"9 Late Road {_token()}"

        async with live_postgres.sessionmaker() as ordering, ordering.begin():
            order = Order(
                customer_id=customer_id,
                email=cipher.encrypt(f"late-{_token()}@example.com", context=ORDER_EMAIL),
                email_hash=_token(),
                number=f"#{_token()}",
                total_price="20.00",
                subtotal_price="20.00",
                shipping_address={"address1": street, "countryCode": "CA"},
            )
            ordering.add(order)
            await ordering.flush()  # holds the foreign key's FOR KEY SHARE on the customer
            redacting = asyncio.create_task(self._redact(live_postgres, cipher, customer_id))
            await asyncio.sleep(0.3)
            assert not redacting.done()  # waiting for the order's transaction
        # The order's transaction has committed here.

        assert await redacting is True
        async with live_postgres.session() as session:
            erased = (
                await session.execute(
                    select(Order.shipping_address, Order.email_hash, Order.total_price).where(
                        Order.id == order.id
                    )
                )
            ).one()
            (event,) = await events_of(session, "customers/redact", customer_id)
        placeholder_hash = cipher.blind_index(placeholder_email(customer_id))
        assert tuple(erased) == ({"countryCode": "CA"}, placeholder_hash, Decimal("20.00"))
        assert event.body["ordersToRedact"] == [order.id]


# --- the rules, without a database ------------------------------------------------------------


class TestRules:
    NEEDLES = Needles.of(["Ava", "Smithers", "ava@example.com", "+15550100", "10001", "Li"])

    def test_short_words_and_short_numbers_are_not_searched_for(self) -> None:
        assert self.NEEDLES.values == ("ava@example.com", "+15550100", "smithers", "ava")

    def test_an_address_keeps_only_its_tax_and_shipping_jurisdiction(self) -> None:
        address = {
            "firstName": "Ava",
            "address1": "1 Main St",
            "city": "Austin",
            "zip": "78701",
            "province": "Texas",
            "provinceCode": "TX",
            "country": "United States",
            "countryCode": "US",
            "phone": "+15550100",
        }

        assert redact_address(address) == {
            "province": "Texas",
            "provinceCode": "TX",
            "country": "United States",
            "countryCode": "US",
        }

    def test_a_document_loses_addresses_emails_and_strings_holding_a_value(self) -> None:
        document = {
            "id": 7,
            "email": "AVA@example.com",
            "totalPrice": "10001.00",
            "note": "call Smithers first",
            "shippingAddress": {"address1": "1 Main St", "countryCode": "US"},
            "lines": [{"title": "Tee"}, {"title": "gift for ava"}],
        }

        assert scrub_json(document, self.NEEDLES, email="x@redacted.invalid") == {
            "id": 7,
            "email": "x@redacted.invalid",
            "totalPrice": "10001.00",
            "note": REDACTED,
            "shippingAddress": {"countryCode": "US"},
            "lines": [{"title": "Tee"}, {"title": REDACTED}],
        }

    def test_a_document_without_personal_data_is_returned_as_is(self) -> None:
        document = {"id": 7, "destination": 3, "lines": [{"title": "Tee"}]}

        assert scrub_json(document, self.NEEDLES, email="x@redacted.invalid") is document


class TestSubscriptionContracts:
    async def test_a_subscription_is_exported_then_ends_with_its_addresses_and_method_erased(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        shopper = await make_shopper(app, client, admin, database)
        shop = await make_shop(client, admin, database)
        body = subscription_order(
            shop,
            shop.plan(MONTHLY_10["name"]),
            customerId=shopper.customer_id,
            shippingAddress=shopper.person.address(),
            billingAddress=shopper.person.address(),
        )
        order = await _post(client, ORDERS, admin, body)
        [contract] = await contracts_of_order(db_session, order["id"])

        exported = await client.post(
            f"{CUSTOMERS}/{shopper.customer_id}/data-request", headers=admin
        )
        assert exported.status_code == 200, exported.text
        [shown] = exported.json()["subscriptionContracts"]
        assert (shown["id"], shown["status"]) == (contract.id, "active")
        assert shown["shippingAddress"]["address1"] == shopper.person.address1
        assert shown["paymentMethod"] == {"gateway": "test", "kind": "token"}

        redacted = await client.post(f"{CUSTOMERS}/{shopper.customer_id}/redact", headers=admin)
        assert redacted.status_code == 200, redacted.text

        after = await search_everywhere(db_session, cipher_of(app), shopper.person.values())
        assert "\n".join(after.hits) == ""
        read = await client.get(f"{CONTRACTS}/{contract.id}", headers=admin)
        assert read.status_code == 200, read.text
        assert read.json()["status"] == "cancelled"
        assert read.json()["paymentMethod"] == {"gateway": "test", "kind": "none"}
        row = await contract_row(db_session, contract.id)
        assert row.shipping_address is not None
        assert row.shipping_address.get("address1") is None
        assert row.shipping_address.get("countryCode") == "CA"
