"""Reading orders: one with its lines and transactions, a filtered list, customer aggregates.

Only placed orders are read here: a reservation awaiting its payment (placement.py) is not an
order yet, and the list's indexes do not even hold it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.crypto import FieldCipher, normalise_email
from shopdb.kit.pagination import Direction, PageRequest, RowsPage, decode_cursor
from shopdb.models import Order, OrderLineItem, OrderTransaction
from shopdb.models.orders import ORDER_EMAIL
from shopdb.orders.errors import OrderNotFound
from shopdb.orders.placement import PlacedOrder
from shopdb.orders.repository import SORT_COLUMNS, CustomerStats, OrderFilters, OrderRepository
from shopdb.orders.schemas import (
    LineItemRead,
    OrderDetail,
    OrderSummary,
    ShippingLineRead,
    TaxLineRead,
    TransactionRead,
)

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
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "status": status_of(order),
        "discount_code": order.discount_code,
        "gateway": order.gateway,
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
) -> OrderDetail:
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
        fulfillments=[],
        refunds=[],
    )


def placed_detail(placed: PlacedOrder) -> OrderDetail:
    return order_detail(placed.order, placed.email, placed.lines, placed.transactions)


async def get_order(session: AsyncSession, cipher: FieldCipher, order_id: int) -> OrderDetail:
    order = await OrderRepository(session).get_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    return order_detail(order, email_of(cipher, order), order.line_items, order.transactions)


async def list_orders(
    session: AsyncSession, cipher: FieldCipher, query: OrderQuery, page: PageRequest
) -> RowsPage[OrderSummary]:
    """A page of placed orders, filtered and sorted (`number` sorts by order_number); the
    email filter goes through the blind index, never through decryption."""
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
    "list_orders",
    "order_detail",
    "order_summary",
    "placed_detail",
]
