"""Reading orders: one with its lines and transactions, a filtered list, customer aggregates.

Only placed orders are read here: a reservation awaiting its payment (placement.py) is not an
order yet, and the list's indexes do not even hold it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.crypto import FieldCipher, normalise_email
from shopdb.kit.pagination import Cursor, Direction, PageRequest, RowsPage, decode_cursor
from shopdb.models import Order, OrderLineItem, OrderTransaction
from shopdb.models.orders import ORDER_EMAIL
from shopdb.orders.document_repository import OrderDocumentRepository
from shopdb.orders.documents import open_email, open_emails
from shopdb.orders.errors import OrderNotFound
from shopdb.orders.fulfillments.schemas import FulfillmentRead
from shopdb.orders.fulfillments.service import fulfillments_of
from shopdb.orders.placement import PlacedOrder
from shopdb.orders.refunds.schemas import RefundRead
from shopdb.orders.refunds.service import list_refunds
from shopdb.orders.repository import SORT_COLUMNS, CustomerStats, OrderFilters, OrderRepository
from shopdb.orders.schemas import (
    LineItemRead,
    OrderDetail,
    OrderSummary,
    ShippingLineRead,
    TaxLineRead,
    TransactionRead,
)
from shopdb.orders.stored import FoundDocument

if TYPE_CHECKING:
    # The type only: the cache is handed in by the endpoint (Services.order_cache).
    from shopdb.catalog.read_model.cache import DocumentCache

# The type of each sort's cursor key.
CURSOR_KEY_TYPES: dict[str, type] = {
    "createdAt": datetime,
    "updatedAt": datetime,
    "totalPrice": Decimal,
    "number": int,
}


@dataclass(frozen=True)
class OrderQuery:
    status: str = "any"
    financial_status: str | None = None
    fulfillment_status: str | None = None
    customer_id: int | None = None
    email: str | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    sort: str = "createdAt"
    direction: str = "desc"


def status_of(order: Order) -> str:
    if order.cancelled_at is not None:
        return "cancelled"
    if order.closed_at is not None:
        return "closed"
    return "open"


def email_of(cipher: FieldCipher, order: Order) -> str:
    # A row from before sealing holds plaintext until `shopdb migrate` seals it.
    if order.email_hash is None:
        return order.email
    return cipher.decrypt(order.email, context=ORDER_EMAIL)


def _summary_fields(order: Order, email: str) -> dict[str, Any]:
    return {
        "id": order.id,
        "number": order.number,
        "order_number": order.order_number,
        "email": email,
        "customer_id": order.customer_id,
        "currency": order.currency,
        "subtotal_price": order.subtotal_price,
        "total_discounts": order.total_discounts,
        "total_shipping": order.total_shipping,
        "total_tax": order.total_tax,
        "total_price": order.total_price,
        "taxes_included": order.taxes_included,
        "presentment_currency": order.presentment_currency,
        "presentment_exchange_rate": order.presentment_exchange_rate,
        "presentment_subtotal_price": order.presentment_subtotal_price,
        "presentment_total_discounts": order.presentment_total_discounts,
        "presentment_total_shipping": order.presentment_total_shipping,
        "presentment_total_tax": order.presentment_total_tax,
        "presentment_total_price": order.presentment_total_price,
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "status": status_of(order),
        "discount_code": order.discount_code,
        "gateway": order.gateway,
        "company_id": order.company_id,
        "payment_terms_id": order.payment_terms_id,
        "payment_due_at": order.payment_due_at,
        "note": order.note,
        "tags": [t.strip() for t in (order.tags or "").split(",") if t.strip()],
        "processed_at": order.processed_at,
        "cancelled_at": order.cancelled_at,
        "closed_at": order.closed_at,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
    }


def order_summary(order: Order, email: str) -> OrderSummary:
    return OrderSummary(**_summary_fields(order, email))


def order_detail(
    order: Order,
    email: str,
    lines: list[OrderLineItem],
    transactions: list[OrderTransaction],
    fulfillments: list[FulfillmentRead] | None = None,
    refunds: list[RefundRead] | None = None,
) -> OrderDetail:
    """The order as GET /orders/{id} answers it (documents.py builds the same JSON on
    PostgreSQL); a just placed order has no fulfillments or refunds."""
    shipping = order.shipping_line
    return OrderDetail(
        **_summary_fields(order, email),
        tax_lines=[TaxLineRead.model_validate(t) for t in order.tax_lines or []],
        shipping_line=None if shipping is None else ShippingLineRead.model_validate(shipping),
        shipping_address=order.shipping_address,
        billing_address=order.billing_address,
        line_items=[
            LineItemRead(
                id=line.id,
                variant_id=line.product_variant_id,
                title=line.title,
                variant_title=line.variant_title,
                sku=line.sku,
                quantity=line.quantity,
                price=line.price,
                total_discount=line.total_discount,
                taxable=line.taxable,
                requires_shipping=line.requires_shipping,
                grams=line.grams,
                fulfilled_quantity=line.fulfilled_quantity or 0,
                location_id=line.location_id,
                selling_plan_id=line.selling_plan_id,
                presentment_price=line.presentment_price,
                presentment_total_discount=line.presentment_total_discount,
            )
            for line in lines
        ],
        transactions=[
            TransactionRead(
                id=t.id,
                kind=t.kind,
                gateway=t.gateway,
                status=t.status,
                amount=t.amount,
                currency=t.currency,
                authorization=t.authorization_code,
                error_code=t.error_code,
                card_brand=t.card_brand,
                card_last4=t.card_last4,
                processed_at=t.processed_at,
                created_at=t.created_at,
            )
            for t in transactions
        ],
        fulfillments=fulfillments or [],
        refunds=refunds or [],
    )


def placed_detail(placed: PlacedOrder) -> OrderDetail:
    return order_detail(placed.order, placed.email, placed.lines, placed.transactions)


async def get_order(session: AsyncSession, cipher: FieldCipher, order_id: int) -> OrderDetail:
    order = await OrderRepository(session).get_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    return order_detail(
        order,
        email_of(cipher, order),
        order.line_items,
        order.transactions,
        await fulfillments_of(session, order_id),
        await list_refunds(session, order_id),
    )


async def get_order_document(
    session: AsyncSession,
    cipher: FieldCipher,
    order_id: int,
    cache: DocumentCache | None = None,
) -> bytes:
    """The placed order's OrderDetail as JSON bytes: built by PostgreSQL in one statement
    (documents.py), by the models elsewhere.

    With a cache (PostgreSQL + Redis: the product cache's machinery, catalog/read_model/
    cache.py), a current cached document is served without touching the database. Every
    change to a placed order takes OrderRepository.lock_placed, which notes the order in the
    journal, and the cache forgets it after the commit, so it is never stale. Cached
    documents keep the email sealed, as the database does: it is opened for each answer.
    """
    documents = OrderDocumentRepository(session)
    if not documents.builds_documents():
        return _json(await get_order(session, cipher, order_id))
    if cache is None or not cache.usable() or not cache.admits(order_id):
        # Without the cache, or a first read (CacheKind.admit_from_read): the stored document.
        if cache is None:
            found = await documents.detail(order_id)
        else:
            found = await cache.first_read(order_id, lambda: documents.detail(order_id))
        if found is None:
            raise OrderNotFound(order_id)
        return _opened(found, cipher)

    async def build(_ids: list[int]) -> dict[int, tuple[bytes, int]]:
        found = await documents.detail(order_id)
        if found is None:
            return {}
        if not found.sealed:  # a plaintext row (before `shopdb migrate` seals it): not cached
            raise _Plaintext(found.document)
        return {order_id: (found.document, found.version)}

    # A miss is built once however many requests of this worker miss it together.
    try:
        cached = (await cache.read_through(session, [order_id], build)).get(order_id)
    except _Plaintext as plain:
        return plain.document
    if cached is None:
        raise OrderNotFound(order_id)
    return open_email(cached[0], cipher)


class _Plaintext(Exception):  # a document not to be cached, not an error
    def __init__(self, document: bytes) -> None:
        super().__init__("plaintext order document")
        self.document = document


def _opened(found: FoundDocument, cipher: FieldCipher) -> bytes:
    # A plaintext row from before sealing (see email_of) is already in the clear.
    return open_email(found.document, cipher) if found.sealed else found.document


def _json(model: OrderSummary) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


@dataclass(frozen=True)
class DocumentPage:
    items: bytes  # a JSON array of OrderSummary documents
    next_cursor: str | None
    total: int | None


async def list_order_documents(
    session: AsyncSession, cipher: FieldCipher, query: OrderQuery, page: PageRequest
) -> DocumentPage:
    """list_orders as one JSON array: on PostgreSQL one index range of ids and their stored
    summaries (stored.py), in one statement."""
    documents = OrderDocumentRepository(session)
    if not documents.builds_documents():
        listed = await list_orders(session, cipher, query, page)
        items = b"[" + b",".join(_json(s) for s in listed.rows) + b"]"
        return DocumentPage(items, listed.next_cursor, listed.total)
    filters, direction, cursor = _page_of(cipher, query, page)
    if query.sort == "number":  # null keys last: two ranges (OrderDocumentRepository.page)
        ids = await OrderRepository(session).page_ids(
            filters, sort=query.sort, direction=direction, page=page, cursor=cursor
        )
        found = await documents.summaries(ids.rows)
        next_cursor, total = ids.next_cursor, ids.total
    else:
        found, next_cursor = await documents.page(
            filters,
            sort=query.sort,
            direction=direction,
            page=page.page,
            page_size=page.page_size,
            cursor=cursor,
        )
        total = await OrderRepository(session).count(filters) if page.with_total else None
    return DocumentPage(open_emails(found.documents, found.sealed, cipher), next_cursor, total)


def _page_of(
    cipher: FieldCipher, query: OrderQuery, page: PageRequest
) -> tuple[OrderFilters, Direction, Cursor | None]:
    filters = OrderFilters(
        status=query.status,
        financial_status=query.financial_status,
        fulfillment_status=query.fulfillment_status,
        customer_id=query.customer_id,
        email_hash=None
        if query.email is None
        else cipher.blind_index(normalise_email(query.email)),
        created_at_min=query.created_at_min,
        created_at_max=query.created_at_max,
    )
    direction: Direction = "asc" if query.direction == "asc" else "desc"
    cursor = decode_cursor(
        page.cursor,
        sort_name=query.sort,
        direction=direction,
        key_type=CURSOR_KEY_TYPES[query.sort],
        nullable=query.sort == "number",
    )
    return filters, direction, cursor


async def list_orders(
    session: AsyncSession, cipher: FieldCipher, query: OrderQuery, page: PageRequest
) -> RowsPage[OrderSummary]:
    """A page of placed orders, filtered and sorted (`number` sorts by order_number); the
    email filter goes through the blind index, never through decryption."""
    filters, direction, cursor = _page_of(cipher, query, page)
    found = await OrderRepository(session).page(
        filters, sort=query.sort, direction=direction, page=page, cursor=cursor
    )
    return RowsPage(
        [order_summary(o, email_of(cipher, o)) for o in found.rows], found.next_cursor, found.total
    )


async def customer_order_stats(
    session: AsyncSession, customer_ids: Collection[int]
) -> dict[int, CustomerStats]:
    """orders_count and total_spent of each customer (one indexed GROUP BY for all)."""
    return await OrderRepository(session).customer_stats(customer_ids)


__all__ = [
    "SORT_COLUMNS",
    "CustomerStats",
    "OrderQuery",
    "customer_order_stats",
    "get_order",
    "get_order_document",
    "list_order_documents",
    "list_orders",
    "order_detail",
    "order_summary",
    "placed_detail",
]
