"""The PostgreSQL-built order JSON equals what the Pydantic models serialise, byte for byte,
for every shape of order: paid or authorized, guest or customer, discounted, shipped, taxed,
paid partly by gift card, cancelled, closed, tagged, with odd text, and a plaintext email
left from before sealing."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.read_model.cache import DocumentCache
from shopdb.db import Database
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.models import (
    FulfillmentEnhanced,
    FulfillmentLineItem,
    Order,
    OrderLineItem,
    OrderRefund,
    OrderTransaction,
)
from shopdb.models.refunds import OrderRefundLineItem, OrderRefundTransaction
from shopdb.orders.document_repository import OrderDocumentRepository
from shopdb.orders.documents import WHITESPACE, open_email, open_emails
from shopdb.orders.repository import OrderRepository
from shopdb.orders.service import email_of, get_order, get_order_document, order_summary
from shopdb.services import services_of
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.orders.helpers import ORDERS, make_locations, make_variant, order_body, place
from tests.orders.test_adjustments import discount_code, gift_card, shipping_rate, tax_rate


def test_tags_are_trimmed_of_what_str_strip_removes() -> None:
    every_space = "".join(c for c in map(chr, range(0x110000)) if c.isspace())
    assert every_space == WHITESPACE


@pytest.fixture
def postgres_only(backend: Backend) -> None:
    if backend.name != "postgresql":
        pytest.skip("order documents are built by PostgreSQL; SQLite uses the models directly")


@pytest.fixture
def cipher(backend: Backend) -> FieldCipher:
    return field_cipher(backend.settings)


async def pydantic_detail(session: AsyncSession, cipher: FieldCipher, order_id: int) -> bytes:
    session.expire_all()  # the rows as the UPDATEs below left them
    detail = await get_order(session, cipher, order_id)
    return detail.model_dump_json(by_alias=True).encode()


async def assert_documents_match(
    session: AsyncSession, cipher: FieldCipher, order_ids: list[int]
) -> None:
    repository = OrderRepository(session)
    documents = OrderDocumentRepository(session)
    for order_id in order_ids:
        found = await documents.detail(order_id)
        assert found is not None
        document = open_email(found.document, cipher) if found.sealed else found.document
        # Same value, same key order, same encoding of decimals and timestamps: same bytes.
        assert document == await pydantic_detail(session, cipher, order_id)
    summaries = await documents.summaries(order_ids)
    orders = {o.id: o for o in [await repository.get_placed(i) for i in order_ids] if o}
    expected = [
        order_summary(orders[i], email_of(cipher, orders[i])).model_dump_json(by_alias=True)
        for i in order_ids
    ]
    built = open_emails(summaries.documents, summaries.sealed, cipher)
    assert built == ("[" + ",".join(expected) + "]").encode()


async def add_fulfillments(session: AsyncSession, order: dict[str, Any]) -> None:
    """Two fulfillments of the order: one of a unit of each line, tracked; one cancelled,
    untracked."""
    lines = [line["id"] for line in order["lineItems"]]
    tracked = FulfillmentEnhanced(
        order_id=order["id"],
        status="success",
        tracking_company="UPS",
        tracking_numbers=["1Z999", "1Z998"],
        tracking_urls=['https://example.com/t?n=1Z999&x="y"'],
        line_items=[FulfillmentLineItem(line_item_id=i, quantity=1) for i in lines],
    )
    untracked = FulfillmentEnhanced(
        order_id=order["id"],
        status="cancelled",
        line_items=[FulfillmentLineItem(line_item_id=lines[0], quantity=1)],
    )
    session.add_all([tracked, untracked])
    await session.flush()


async def add_refund(session: AsyncSession, order: dict[str, Any]) -> None:
    """A refund of one unit of the first line and the shipping, through a refund of the
    order's first payment whose gateway left a message; and an empty one (a restock only)."""
    line = order["lineItems"][0]
    paid = order["transactions"][0]
    refund = OrderRefund(
        order_id=order["id"],
        amount=Decimal("12.30"),
        currency="USD",
        reason="customer",
        note='"Too small" ✓',
        processed_at=datetime(2026, 2, 1, 10, 0, 0, tzinfo=UTC),
        subtotal=Decimal("8.00"),
        total_tax=Decimal("0.30"),
        shipping_amount=Decimal("4.00"),
    )
    restock_only = OrderRefund(order_id=order["id"], amount=Decimal("0.00"), currency="USD")
    session.add_all([refund, restock_only])
    await session.flush()
    session.add(
        OrderRefundLineItem(
            order_refund_id=refund.id,
            line_item_id=line["id"],
            quantity=1,
            removed_quantity=0,
            restock_type="return",
            location_id=None,
            subtotal=Decimal("8.00"),
            total_tax=Decimal("0.30"),
        )
    )
    repository = OrderRepository(session)
    money_back = await repository.add_transaction(
        OrderTransaction(
            order_id=order["id"],
            kind="refund",
            gateway=paid["gateway"],
            status="success",
            amount=Decimal("12.30"),
            currency="USD",
            parent_id=paid["id"],
            transaction_id="tst_refund_1",
            processed_at=datetime(2026, 2, 1, 10, 0, 1, 5, tzinfo=UTC),
        ),
        payment_method="card",
    )
    await repository.set_transaction_message(money_back, 'Refunded: "ok"')
    session.add(
        OrderRefundTransaction(order_refund_id=refund.id, order_transaction_id=money_back.id)
    )
    await session.flush()


@pytest.fixture
async def placed(
    client: httpx.AsyncClient, admin: Headers, database: Database
) -> dict[str, dict[str, Any]]:
    """Orders of every shape the API places, as their 201 answered them."""
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "19.99", {loc: 50}, weight="0.2")
    mug = await make_variant(database, "7.33", {loc: 50}, title="Mug", taxable=False)
    await discount_code(client, admin, "TENOFF")
    rate_id = await shipping_rate(client, admin, "4.95")
    await tax_rate(client, admin, "0.0825")
    card = await gift_card(client, admin, "10.00")
    customer = await client.post(
        "/api/v1/customers", json={"email": "regular@example.com"}, headers=admin
    )
    assert customer.status_code == 201, customer.text
    address = {
        "firstName": "Zoë",
        "lastName": 'O"Brien \\ ü',
        "address1": "1 Main St",
        "city": "Austin",
        "countryCode": "US",
    }
    bodies = {
        "discounted_shipped_taxed": order_body(
            (tee.variant_id, 3),
            (mug.variant_id, 1),
            discountCode="TENOFF",
            shippingRateId=rate_id,
            shippingAddress=address,
            billingAddress={"address1": "2 Side St", "countryCode": "US"},
            tags=["wholesale", "b2b"],
            note='Leave at the door.\n"Fragile" ✓',
        ),
        "gift_card_and_card": order_body(
            (tee.variant_id, 1), giftCardCodes=[card["code"]], email="Guest@Example.COM"
        ),
        "authorized_for_a_customer": {
            "customerId": customer.json()["id"],
            "lineItems": [{"variantId": mug.variant_id, "quantity": 2}],
            "payment": {"gateway": "test", "token": "4242424242424242", "capture": False},
        },
        "manual_payment": {
            **order_body((mug.variant_id, 1)),
            "payment": {"gateway": "manual"},
        },
    }
    answered = {}
    for shape, body in bodies.items():
        response = await place(client, admin, body)
        assert response.status_code == 201, (shape, response.text)
        answered[shape] = response.json()
    return answered


@pytest.mark.usefixtures("postgres_only")
class TestOrderDocument:
    async def test_every_placed_shape_matches_the_models(
        self,
        placed: dict[str, dict[str, Any]],
        db_session: AsyncSession,
        cipher: FieldCipher,
    ) -> None:
        ids = [order["id"] for order in placed.values()]
        assert len(placed["gift_card_and_card"]["transactions"]) == 2
        assert placed["discounted_shipped_taxed"]["shippingLine"] is not None

        await assert_documents_match(db_session, cipher, ids)

    async def test_cancelled_closed_odd_text_and_whole_second_timestamps(
        self,
        placed: dict[str, dict[str, Any]],
        db_session: AsyncSession,
        cipher: FieldCipher,
    ) -> None:
        order_id = placed["discounted_shipped_taxed"]["id"]
        whole_second = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        await db_session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(
                cancelled_at=whole_second,
                closed_at=datetime(2026, 1, 3, 0, 0, 0, 120, tzinfo=UTC),
                cancel_reason="customer",
                # Blank and padded tags, a tab, a no-break space: str.strip()'s whitespace.
                tags=" , wholesale ,,\tb2b\u00a0,  ",
                note=None,
                discount_code="ÉTÉ'25",
                # Numbers, not strings, and trailing zeros: Decimal keeps what is written.
                tax_lines=[
                    {"title": "State", "rate": 0.0625, "amount": "2.50"},
                    {"title": 'City "x"', "rate": "0.0200", "amount": 1},
                ],
            )
        )
        await db_session.execute(
            update(OrderLineItem)
            .where(OrderLineItem.order_id == order_id)
            .values(sku=None, variant_title=None, fulfilled_quantity=1, location_id=None)
        )
        await db_session.execute(
            update(OrderTransaction)
            .where(OrderTransaction.order_id == order_id)
            .values(processed_at=None, error_code="card_declined", authorization_code=None)
        )

        await assert_documents_match(db_session, cipher, [order_id])

    async def test_fulfillments_with_and_without_tracking(
        self,
        placed: dict[str, dict[str, Any]],
        db_session: AsyncSession,
        cipher: FieldCipher,
    ) -> None:
        order = placed["discounted_shipped_taxed"]
        await add_fulfillments(db_session, order)

        await assert_documents_match(db_session, cipher, [order["id"]])
        found = await OrderDocumentRepository(db_session).detail(order["id"])
        assert found is not None
        fulfillments = orjson.loads(found.document)["fulfillments"]
        assert [f["status"] for f in fulfillments] == ["success", "cancelled"]
        assert fulfillments[0]["trackingNumbers"] == ["1Z999", "1Z998"]
        assert fulfillments[1]["trackingNumbers"] == []
        assert fulfillments[0]["lineItems"] == [
            {"id": line["id"], "quantity": 1} for line in order["lineItems"]
        ]

    async def test_refunds_with_their_lines_transactions_and_messages(
        self,
        placed: dict[str, dict[str, Any]],
        db_session: AsyncSession,
        cipher: FieldCipher,
    ) -> None:
        order = placed["discounted_shipped_taxed"]
        await add_refund(db_session, order)

        await assert_documents_match(db_session, cipher, [order["id"]])
        found = await OrderDocumentRepository(db_session).detail(order["id"])
        assert found is not None
        refunds = orjson.loads(found.document)["refunds"]
        assert [r["totalAmount"] for r in refunds] == ["12.30", "0.00"]
        assert refunds[0]["transactions"][0]["message"] == 'Refunded: "ok"'
        assert refunds[0]["refundLineItems"][0]["price"] == order["lineItems"][0]["price"]
        assert refunds[1]["refundLineItems"] == []
        assert refunds[1]["transactions"] == []

    async def test_a_plaintext_email_from_before_sealing_and_no_number(
        self,
        placed: dict[str, dict[str, Any]],
        db_session: AsyncSession,
        cipher: FieldCipher,
    ) -> None:
        order_id = placed["gift_card_and_card"]["id"]
        await db_session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(
                email='old"style\\@example.com',
                email_hash=None,
                order_number=None,
                shipping_line=None,
                tax_lines=None,
                shipping_address=None,
                tags=None,
            )
        )

        await assert_documents_match(db_session, cipher, [order_id])
        found = await OrderDocumentRepository(db_session).detail(order_id)
        assert found is not None
        assert not found.sealed

    async def test_a_page_keeps_the_order_asked_and_leaves_out_what_is_not_placed(
        self,
        placed: dict[str, dict[str, Any]],
        db_session: AsyncSession,
        cipher: FieldCipher,
    ) -> None:
        ids = [order["id"] for order in placed.values()]
        gone = ids[1]
        await db_session.execute(
            update(Order).where(Order.id == gone).values(deleted_at=datetime.now(UTC))
        )
        asked = [ids[3], gone, ids[0], ids[2]]

        found = await OrderDocumentRepository(db_session).summaries(asked)

        summaries = open_emails(found.documents, found.sealed, cipher)
        assert [s["id"] for s in orjson.loads(summaries)] == [ids[3], ids[0], ids[2]]
        assert await OrderDocumentRepository(db_session).detail(gone) is None
        assert (await OrderDocumentRepository(db_session).summaries([gone])).documents == []


class TestReadingThroughTheApi:
    """Both backends: what GET answers is what placing answered, emails in the clear."""

    async def test_the_detail_lists_the_fulfillments(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        placed: dict[str, dict[str, Any]],
    ) -> None:
        order = placed["discounted_shipped_taxed"]
        async with database.session() as session:
            await add_fulfillments(session, order)

        response = await client.get(f"{ORDERS}/{order['id']}", headers=admin)

        assert response.status_code == 200, response.text
        fulfillments = response.json()["fulfillments"]
        assert [(f["status"], f["trackingCompany"]) for f in fulfillments] == [
            ("success", "UPS"),
            ("cancelled", None),
        ]
        assert fulfillments[0]["lineItems"] == [
            {"id": line["id"], "quantity": 1} for line in order["lineItems"]
        ]
        assert fulfillments[1]["trackingUrls"] == []
        assert fulfillments[0]["orderId"] == order["id"]

    async def test_the_detail_lists_the_refunds(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        placed: dict[str, dict[str, Any]],
    ) -> None:
        order = placed["gift_card_and_card"]
        async with database.session() as session:
            await add_refund(session, order)

        response = await client.get(f"{ORDERS}/{order['id']}", headers=admin)

        assert response.status_code == 200, response.text
        refunds = response.json()["refunds"]
        assert [(r["totalAmount"], r["shipping"]) for r in refunds] == [
            ("12.30", {"amount": "4.00"}),
            ("0.00", {"amount": "0.00"}),
        ]
        (refunded,) = refunds[0]["transactions"]
        assert (refunded["kind"], refunded["parentId"]) == (
            "refund",
            order["transactions"][0]["id"],
        )
        assert refunded["message"] == 'Refunded: "ok"'
        assert refunds[0]["refundLineItems"][0]["lineItemId"] == order["lineItems"][0]["id"]
        # The order's own list of transactions has the refund too.
        assert [t["kind"] for t in response.json()["transactions"]][-1] == "refund"

    async def test_detail_and_list_answer_the_placed_orders(
        self, client: httpx.AsyncClient, admin: Headers, placed: dict[str, dict[str, Any]]
    ) -> None:
        for order in placed.values():
            response = await client.get(f"{ORDERS}/{order['id']}", headers=admin)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            assert response.json() == order

        listed = await client.get(ORDERS, params={"pageSize": 10}, headers=admin)

        assert listed.status_code == 200, listed.text
        items = listed.json()["items"]
        newest_first = sorted(placed.values(), key=lambda o: o["id"], reverse=True)
        assert [i["id"] for i in items] == [o["id"] for o in newest_first]
        assert [i["email"] for i in items] == [o["email"] for o in newest_first]
        assert "regular@example.com" in [i["email"] for i in items]
        assert items[0]["totalPrice"] == newest_first[0]["totalPrice"]
        assert Decimal(items[-1]["totalDiscounts"]) > 0
        assert "lineItems" not in items[0]


@pytest.fixture
def order_cache(app: FastAPI, backend: Backend) -> DocumentCache:
    if backend.name != "postgresql":
        pytest.skip("the document cache runs on PostgreSQL only")
    found = services_of(app).order_cache
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("SHOPDB_TEST_REDIS_URL must be set under CI")
        pytest.skip("the document cache needs SHOPDB_TEST_REDIS_URL")
    return found


async def renote_behind_the_cache(session: AsyncSession, order_id: int, note: str) -> None:
    """A change the cache is not told about: only a document served from Redis misses it."""
    await session.execute(update(Order).where(Order.id == order_id).values(note=note))


async def read_until_cached(
    order_cache: DocumentCache, client: httpx.AsyncClient, admin: Headers, url: str
) -> None:
    """The reads from which the order cache admits an order (SHOPDB_ORDER_CACHE_FROM_READ)."""
    for _ in range(order_cache.kind.admit_from_read):
        assert (await client.get(url, headers=admin)).status_code == 200


class TestOrderCache:
    """GET /orders/{id} through the order cache (the product cache's machinery, ORDERS)."""

    async def test_a_second_read_comes_from_the_cache_with_the_email_still_sealed(
        self,
        order_cache: DocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        placed: dict[str, dict[str, Any]],
    ) -> None:
        order = placed["gift_card_and_card"]
        url = f"{ORDERS}/{order['id']}"
        await read_until_cached(order_cache, client, admin, url)
        first = await client.get(url, headers=admin)
        await renote_behind_the_cache(db_session, order["id"], "changed in SQL")

        cached = await client.get(url, headers=admin)

        assert cached.status_code == 200
        assert cached.content == first.content
        assert cached.json() == order
        entry = await order_cache.redis.get(f"{await order_cache.prefix()}d:{order['id']}")
        assert entry is not None
        assert order["email"].encode() not in entry  # sealed in Redis, as in the database
        assert b'"email":"v' in entry
        await order_cache.invalidate([order["id"]])
        fresh = await client.get(url, headers=admin)
        assert fresh.json()["note"] == "changed in SQL"
        assert fresh.json()["email"] == order["email"]

    async def test_an_order_is_cached_from_the_read_the_settings_say(
        self,
        order_cache: DocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        placed: dict[str, dict[str, Any]],
    ) -> None:
        order = placed["manual_payment"]
        url = f"{ORDERS}/{order['id']}"
        entry = f"{await order_cache.prefix()}d:{order['id']}"
        assert order_cache.kind.admit_from_read == 4  # SHOPDB_ORDER_CACHE_FROM_READ's default

        for _ in range(3):  # most orders are read once or twice: served by the stored row
            assert (await client.get(url, headers=admin)).json() == order
            assert await order_cache.redis.get(entry) is None
        assert order["id"] not in (await order_cache.lookup([order["id"]])).hits

        assert (await client.get(url, headers=admin)).json() == order
        assert await order_cache.redis.get(entry) is not None
        assert (await client.get(url, headers=admin)).json() == order
        assert order["id"] in (await order_cache.lookup([order["id"]])).hits

    async def test_a_change_under_the_order_lock_is_never_served_stale(
        self,
        order_cache: DocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        placed: dict[str, dict[str, Any]],
    ) -> None:
        order = placed["discounted_shipped_taxed"]
        url = f"{ORDERS}/{order['id']}"
        await read_until_cached(order_cache, client, admin, url)
        assert order["id"] in (await order_cache.lookup([order["id"]])).hits

        async with database.session() as session:  # commits, then tells the journal
            locked = await OrderRepository(session).lock_placed(order["id"])
            assert locked is not None
            locked.note = "changed under the lock"
            await add_fulfillments(session, order)

        after = await client.get(url, headers=admin)
        assert after.json()["note"] == "changed under the lock"
        assert len(after.json()["fulfillments"]) == 2

    async def test_an_orm_change_without_the_lock_is_noted_by_the_flush_listener(
        self,
        order_cache: DocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        placed: dict[str, dict[str, Any]],
    ) -> None:
        order = placed["gift_card_and_card"]
        url = f"{ORDERS}/{order['id']}"
        await read_until_cached(order_cache, client, admin, url)
        assert order["id"] in (await order_cache.lookup([order["id"]])).hits

        async with database.session() as session:  # orders/changes.py, not lock_placed
            row = await session.get(Order, order["id"])
            assert row is not None
            row.note = "changed without the lock"

        assert (await client.get(url, headers=admin)).json()["note"] == "changed without the lock"

    async def test_deleting_a_variant_is_seen_by_the_orders_whose_lines_named_it(
        self,
        order_cache: DocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
    ) -> None:
        # Two variants, so the product keeps one; an order names the one that goes.
        (loc,) = await make_locations(database, "Main")
        small = (await make_variant(database, "10.00", {loc: 5}, title="Sized")).variant_id
        product_id = (await client.get(f"/api/v1/variants/{small}", headers=admin)).json()[
            "productId"
        ]
        second = await client.post(
            f"/api/v1/products/{product_id}/variants",
            json={"option1": "M", "price": "11.00"},
            headers=admin,
        )
        assert second.status_code == 201, second.text
        order = await client.post(ORDERS, json=order_body((small, 1)), headers=admin)
        assert order.status_code == 201, order.text
        url = f"{ORDERS}/{order.json()['id']}"
        await read_until_cached(order_cache, client, admin, url)
        assert (await client.get(url, headers=admin)).json()["lineItems"][0]["variantId"] == small
        assert order.json()["id"] in (await order_cache.lookup([order.json()["id"]])).hits

        # Shipped: a variant holding committed units cannot go.
        line_id = order.json()["lineItems"][0]["id"]
        shipped = await client.post(
            f"{url}/fulfillments",
            json={"lineItems": [{"id": line_id, "quantity": 1}]},
            headers=admin,
        )
        assert shipped.status_code == 201, shipped.text
        assert (await client.get(url, headers=admin)).status_code == 200  # cached again

        deleted = await client.delete(f"/api/v1/variants/{small}", headers=admin)
        assert deleted.status_code == 204, deleted.text

        assert (await client.get(url, headers=admin)).json()["lineItems"][0]["variantId"] is None

    async def test_what_a_transaction_locked_and_has_not_committed_is_not_stored(
        self,
        order_cache: DocumentCache,
        backend: Backend,
        db_session: AsyncSession,
        placed: dict[str, dict[str, Any]],
    ) -> None:
        order_id = placed["manual_payment"]["id"]
        locked = await OrderRepository(db_session).lock_placed(order_id)
        assert locked is not None
        locked.note = "not committed"
        await db_session.flush()
        cipher = field_cipher(backend.settings)

        read = await get_order_document(db_session, cipher, order_id, order_cache)

        assert orjson.loads(read)["note"] == "not committed"
        assert order_id not in (await order_cache.lookup([order_id])).hits
