"""Orders as JSON built by PostgreSQL in the query that reads them.

Reading an order through the ORM costs far more Python than the rest of the request (the
order, its lines, transactions, fulfillments and refunds: five queries and a few dozen ORM
objects, then Pydantic), so on PostgreSQL one statement returns the order as a finished JSON
document, and one statement the summaries of a list page. Each is the same JSON value that
`OrderDetail` / `OrderSummary` serialise to (keys from the same models in the same order,
Decimals as strings, UTC timestamps in Pydantic's `Z` form); tests compare the two on every
order shape (tests/orders/test_documents.py). SQLite keeps the Python builder (service.py).

The one field PostgreSQL cannot write is the email: it is sealed in the database
(kit/crypto.py). The document carries the sealed token where the address goes, and
`open_email` decrypts it and splices the address in; a document is never stored (in the
cache) with the address in clear.
"""

from __future__ import annotations

import functools
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Numeric,
    Text,
    case,
    cast,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import aliased

from shopdb.kit.crypto import FieldCipher
from shopdb.kit.types import UTCDateTime
from shopdb.models import (
    FulfillmentEnhanced,
    FulfillmentLineItem,
    Order,
    OrderLineItem,
    OrderRefund,
    OrderTransaction,
    TransactionEnhanced,
)
from shopdb.models.orders import ORDER_EMAIL
from shopdb.models.refunds import OrderRefundLineItem, OrderRefundTransaction
from shopdb.orders.fulfillments.schemas import FulfillmentLineRead, FulfillmentRead
from shopdb.orders.refunds.schemas import RefundLineItemRead, RefundRead, RefundShippingRead
from shopdb.orders.schemas import (
    LineItemRead,
    OrderDetail,
    OrderSummary,
    ShippingLineRead,
    TaxLineRead,
    TransactionRead,
)
from shopdb.orders.transactions.schemas import TransactionRead as RefundTransactionRead

_EMPTY_ARRAY: ColumnElement[Any] = literal_column("'[]'::json")
# What Python's str.strip() removes (service.py splits tags with it): every character for
# which str.isspace() holds, so btrim() trims exactly the same (a test checks the list).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def supports_documents(dialect_name: str) -> bool:
    return dialect_name == "postgresql"


def compact(document: str) -> bytes:
    """PostgreSQL writes `{"a" : 1}`; clients get what Pydantic would send, `{"a":1}`."""
    return orjson.dumps(orjson.loads(document))


_EMAIL_KEY = b'"email":"'


def open_email(document: bytes, cipher: FieldCipher) -> bytes:
    """The document with its sealed email replaced by the address.

    The first `"email":"` of a document is the order's own key: the keys before it (id,
    number, orderNumber) hold no such bytes, and inside a JSON string a quote is always
    escaped. A sealed token (version:key id:base64url) needs no escaping, so it ends at the
    next quote.
    """
    start = document.index(_EMAIL_KEY) + len(_EMAIL_KEY)
    end = document.index(b'"', start)
    email = cipher.decrypt(document[start:end].decode(), context=ORDER_EMAIL)
    return document[: start - 1] + orjson.dumps(email) + document[end + 1 :]


def open_emails(documents: list[bytes], sealed: list[bool], cipher: FieldCipher) -> bytes:
    """A JSON array of the documents, each one's sealed email (where `sealed` says so)
    replaced by the address (open_email: no document is parsed)."""
    opened = (
        open_email(document, cipher) if is_sealed else document
        for document, is_sealed in zip(documents, sealed, strict=True)
    )
    return b"[" + b",".join(opened) + b"]"


def _constant(text: str) -> ColumnElement[str]:
    """A string written into the SQL, not bound (keys and formats: binding them would encode
    and send them again on every execution)."""
    return literal_column("'" + text.replace("'", "''") + "'", Text)


def _json_value(column: Any) -> Any:
    """A column as Pydantic serialises the Python value it maps to."""
    column_type = getattr(column, "type", None)
    if isinstance(column_type, UTCDateTime):
        utc = func.timezone(_constant("UTC"), column)
        stamped = func.to_char(utc, _constant('YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        # Pydantic drops zero microseconds.
        return func.replace(stamped, _constant(".000000Z"), _constant("Z"))
    if isinstance(column_type, Numeric):
        return cast(column, Text)  # Decimal("24.00") is sent as "24.00"
    return column


def _object(model: type[BaseModel], values: dict[str, Any]) -> ColumnElement[Any]:
    """json_build_object over every field of `model`, keyed by its alias, in its order.

    Table columns are converted as Pydantic would convert their Python values; any other
    expression must be JSON (or a string, number or boolean) already.
    """
    if set(values) != set(model.model_fields):
        raise RuntimeError(f"{model.__name__} document is out of step with its model")
    arguments: list[Any] = []
    for name, info in model.model_fields.items():
        arguments += [_constant(info.alias or name), _json_value(values[name])]
    return func.json_build_object(*arguments)


def _array(document: Any, *order_by: Any) -> Any:
    return func.coalesce(func.json_agg(aggregate_order_by(document, *order_by)), _EMPTY_ARRAY)


def _member(column: Any, key: str) -> Any:
    """`column -> 'key'` (jsonb)."""
    return column.op("->")(_constant(key))


def _decimal_member(column: Any, key: str) -> Any:
    """A JSON member holding a decimal (as a string, or a number), as Pydantic sends a
    Decimal: its digits as written, in a string."""
    return cast(cast(column.op("->>")(_constant(key)), Numeric), Text)


def _status() -> Any:
    # service.status_of
    return case(
        (Order.cancelled_at.is_not(None), _constant("cancelled")),
        (Order.closed_at.is_not(None), _constant("closed")),
        else_=_constant("open"),
    )


def _tags() -> Any:
    """orders.tags ("a, b") as service.py splits it: by commas, stripped, empty ones left out."""
    parts = (
        func.unnest(func.string_to_array(Order.tags, _constant(",")))
        .table_valued("tag", with_ordinality="n")
        .render_derived()
    )
    trimmed = func.btrim(parts.c.tag, _constant(WHITESPACE))
    return func.coalesce(
        select(func.json_agg(aggregate_order_by(trimmed, parts.c.n)))
        .select_from(parts)
        .where(trimmed != _constant(""))
        .scalar_subquery(),
        _EMPTY_ARRAY,
    )


def _tax_lines() -> Any:
    lines = (
        func.jsonb_array_elements(Order.tax_lines)
        .table_valued("value", with_ordinality="n")
        .render_derived()
    )
    line = lines.c.value
    document = _object(
        TaxLineRead,
        {
            "title": _member(line, "title"),
            "rate": _decimal_member(line, "rate"),
            "amount": _decimal_member(line, "amount"),
            "presentment_amount": _decimal_member(line, "presentmentAmount"),
        },
    )
    listed = select(_array(document, lines.c.n)).select_from(lines).scalar_subquery()
    # A null column (or a JSON null) is no lines, as the Python builder reads it.
    return case(
        (func.jsonb_typeof(Order.tax_lines) == _constant("array"), listed), else_=_EMPTY_ARRAY
    )


def _shipping_line() -> Any:
    line = Order.shipping_line
    document = _object(
        ShippingLineRead,
        {
            "rate_id": _member(line, "rateId"),
            "title": _member(line, "title"),
            "price": _decimal_member(line, "price"),
        },
    )
    return case((func.jsonb_typeof(line) == _constant("object"), document), else_=None)


def _line_items() -> Any:
    line = OrderLineItem
    document = _object(
        LineItemRead,
        {
            "id": line.id,
            "variant_id": line.product_variant_id,
            "title": line.title,
            "variant_title": line.variant_title,
            "sku": line.sku,
            "quantity": line.quantity,
            "price": line.price,
            "total_discount": line.total_discount,
            "taxable": line.taxable,
            "requires_shipping": line.requires_shipping,
            "grams": line.grams,
            "fulfilled_quantity": func.coalesce(line.fulfilled_quantity, literal_column("0")),
            "location_id": line.location_id,
            "selling_plan_id": line.selling_plan_id,
            "presentment_price": line.presentment_price,
            "presentment_total_discount": line.presentment_total_discount,
        },
    )
    return select(_array(document, line.id)).where(line.order_id == Order.id).scalar_subquery()


def _transactions() -> Any:
    t = OrderTransaction
    document = _object(
        TransactionRead,
        {
            "id": t.id,
            "kind": t.kind,
            "gateway": t.gateway,
            "status": t.status,
            "amount": t.amount,
            "currency": t.currency,
            "authorization": t.authorization_code,
            "error_code": t.error_code,
            "card_brand": t.card_brand,
            "card_last4": t.card_last4,
            "processed_at": t.processed_at,
            "created_at": t.created_at,
        },
    )
    return select(_array(document, t.id)).where(t.order_id == Order.id).scalar_subquery()


def _json_list(column: Any) -> Any:
    """A jsonb column holding a list, or nothing (null: an empty list)."""
    return case(
        (func.jsonb_typeof(column) == _constant("array"), column),
        else_=literal_column("'[]'::jsonb"),
    )


def _fulfillments() -> Any:
    """fulfillments.service.fulfillment_read, for each of the order's fulfillments."""
    f, line = FulfillmentEnhanced, FulfillmentLineItem
    line_document = _object(
        FulfillmentLineRead, {"id": line.line_item_id, "quantity": line.quantity}
    )
    lines = (
        select(_array(line_document, line.id)).where(line.fulfillment_id == f.id).scalar_subquery()
    )
    document = _object(
        FulfillmentRead,
        {
            "id": f.id,
            "order_id": f.order_id,
            "status": f.status,
            "location_id": f.location_id,
            "tracking_company": f.tracking_company,
            "tracking_numbers": _json_list(f.tracking_numbers),
            "tracking_urls": _json_list(f.tracking_urls),
            "line_items": lines,
            "created_at": f.created_at,
            "updated_at": f.updated_at,
        },
    )
    return select(_array(document, f.id)).where(f.order_id == Order.id).scalar_subquery()


def _refunds() -> Any:
    """refunds.service.refund_read, for each of the order's refunds."""
    r, line, link = OrderRefund, OrderRefundLineItem, OrderRefundTransaction
    ordered = aliased(OrderLineItem)
    line_document = _object(
        RefundLineItemRead,
        {
            "line_item_id": line.line_item_id,
            "quantity": line.quantity,
            "restock_type": line.restock_type,
            "location_id": line.location_id,
            "price": ordered.price,
            "subtotal": line.subtotal,
            "total_tax": line.total_tax,
            "id": line.id,
            "removed_quantity": line.removed_quantity,
        },
    )
    lines = (
        select(_array(line_document, line.id))
        .select_from(line)
        .join(ordered, ordered.id == line.line_item_id)
        .where(line.order_refund_id == r.id)
        .scalar_subquery()
    )
    t = aliased(OrderTransaction)
    mirror = TransactionEnhanced
    # The gateway's message is kept on the transaction's mirror (OrderRepository.
    # transaction_messages).
    message = (
        select(mirror.message)
        .where(
            mirror.order_id == t.order_id,
            cast(mirror.receipt.op("->>")(_constant("orderTransactionId")), BigInteger) == t.id,
            mirror.message.is_not(None),
        )
        .order_by(mirror.id.desc())
        .limit(literal_column("1"))
        .scalar_subquery()
    )
    transaction_document = _object(
        RefundTransactionRead,
        {
            "id": t.id,
            "order_id": t.order_id,
            "kind": t.kind,
            "gateway": t.gateway,
            "status": t.status,
            "amount": t.amount,
            "currency": t.currency,
            "parent_id": t.parent_id,
            "authorization_code": t.authorization_code,
            "transaction_id": t.transaction_id,
            "error_code": t.error_code,
            "message": message,
            "card_brand": t.card_brand,
            "card_last4": t.card_last4,
            "processed_at": t.processed_at,
            "created_at": t.created_at,
        },
    )
    transactions = (
        select(_array(transaction_document, t.id))
        .select_from(link)
        .join(t, t.id == link.order_transaction_id)
        .where(link.order_refund_id == r.id)
        .scalar_subquery()
    )
    document = _object(
        RefundRead,
        {
            "id": r.id,
            "order_id": r.order_id,
            "note": r.note,
            "reason": r.reason,
            "created_at": r.created_at,
            "processed_at": r.processed_at,
            "refund_line_items": lines,
            "transactions": transactions,
            "shipping": _object(RefundShippingRead, {"amount": r.shipping_amount}),
            "subtotal": r.subtotal,
            "total_tax": r.total_tax,
            "total_amount": r.amount,
            "currency": r.currency,
        },
    )
    return select(_array(document, r.id)).where(r.order_id == Order.id).scalar_subquery()


def _summary_values() -> dict[str, Any]:
    """service._summary_fields, in SQL (the email sealed: see open_email)."""
    o = Order
    return {
        "id": o.id,
        "number": o.number,
        "order_number": o.order_number,
        "email": o.email,
        "customer_id": o.customer_id,
        "currency": o.currency,
        "subtotal_price": o.subtotal_price,
        "total_discounts": o.total_discounts,
        "total_shipping": o.total_shipping,
        "total_tax": o.total_tax,
        "total_price": o.total_price,
        "taxes_included": o.taxes_included,
        "presentment_currency": o.presentment_currency,
        "presentment_exchange_rate": o.presentment_exchange_rate,
        "presentment_subtotal_price": o.presentment_subtotal_price,
        "presentment_total_discounts": o.presentment_total_discounts,
        "presentment_total_shipping": o.presentment_total_shipping,
        "presentment_total_tax": o.presentment_total_tax,
        "presentment_total_price": o.presentment_total_price,
        "financial_status": o.financial_status,
        "fulfillment_status": o.fulfillment_status,
        "status": _status(),
        "discount_code": o.discount_code,
        "gateway": o.gateway,
        "company_id": o.company_id,
        "payment_terms_id": o.payment_terms_id,
        "payment_due_at": o.payment_due_at,
        "note": o.note,
        "tags": _tags(),
        "processed_at": o.processed_at,
        "cancelled_at": o.cancelled_at,
        "closed_at": o.closed_at,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
    }


# Built once: the expressions are a few hundred nodes, and rebuilding them (with their cache
# keys) on every request would cost more than running the query.
@functools.cache
def summary_object() -> ColumnElement[Any]:
    """The OrderSummary JSON of the `orders` row in the enclosing query."""
    return _object(OrderSummary, _summary_values())


@functools.cache
def detail_document() -> ColumnElement[str]:
    """The OrderDetail JSON (as text) of the `orders` row in the enclosing query."""
    values = {
        **_summary_values(),
        "tax_lines": _tax_lines(),
        "shipping_line": _shipping_line(),
        "shipping_address": Order.shipping_address,
        "billing_address": Order.billing_address,
        "line_items": _line_items(),
        "transactions": _transactions(),
        "fulfillments": _fulfillments(),
        "refunds": _refunds(),
    }
    return cast(_object(OrderDetail, values), Text)
