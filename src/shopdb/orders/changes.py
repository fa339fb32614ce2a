"""Which placed orders a flush changed, noted in the change journal (shopdb.kit.journal).

OrderRepository.lock_placed notes the order it locks, and every change to a placed order takes
that lock first (issue 13's contract). This flush listener is the net under it, as
catalog/read_model/changes.py is for products: an ORM change of a row that shows in an order's
document (orders/documents.py) notes its order even if its writer forgot the lock, so the order
cache (Services.order_cache) still forgets it after the commit. Core statements are not seen;
they run under the lock.

Deleting a variant changes the documents of the orders whose lines name it (their
`variantId` becomes null, by the database's ON DELETE SET NULL): note_orders_of_deleted_variant
notes them just before the DELETE.

New rows of an order's own placement (the order, its lines and transactions) are not noted: a
reservation has no document to forget, and placing an order would otherwise cost an
invalidation per step.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session, UOWTransaction, object_session

from shopdb.kit import journal
from shopdb.models import (
    FulfillmentEnhanced,
    Order,
    OrderLineItem,
    OrderRefund,
    OrderTransaction,
    ProductVariant,
    TransactionEnhanced,
)

# Rows whose changes show in an order's document, and how to find that order's id.
_ORDER_OF: dict[type, Any] = {
    Order: lambda row: row.__dict__.get("id"),
    OrderLineItem: lambda row: row.__dict__.get("order_id"),
    OrderTransaction: lambda row: row.__dict__.get("order_id"),
    OrderRefund: lambda row: row.__dict__.get("order_id"),
    FulfillmentEnhanced: lambda row: row.__dict__.get("order_id"),
    TransactionEnhanced: lambda row: row.__dict__.get("order_id"),  # a gateway's message
}
# New rows that change an existing order's document (its placement's own rows do not).
_ADDED_TO_AN_ORDER = (OrderRefund, FulfillmentEnhanced)


def note_flushed_orders(session: Session, _flush: UOWTransaction) -> None:
    """An "after_flush" listener: the orders of every flushed row of their documents."""
    found: list[int | None] = []
    for rows, new in ((session.new, True), (session.dirty, False), (session.deleted, False)):
        for row in rows:
            order_of = _ORDER_OF.get(type(row))
            if order_of is None or (new and not isinstance(row, _ADDED_TO_AN_ORDER)):
                continue
            found.append(order_of(row))
    if any(order_id is not None for order_id in found):
        journal.note(session, journal.ORDER, found, listing=False)


def note_orders_of_deleted_variant(
    _mapper: Mapper[Any], connection: Connection, variant: ProductVariant
) -> None:
    """A "before_delete" listener of ProductVariant: the orders whose lines name the variant.

    Deleting a variant sets those lines' `product_variant_id` to NULL (ON DELETE SET NULL),
    which changes the orders' documents without any order row being flushed. Read just
    before the DELETE, in its transaction: after it, the lines no longer name the variant."""
    session = object_session(variant)
    if session is None:
        return
    found = connection.execute(
        select(OrderLineItem.order_id)
        .where(OrderLineItem.product_variant_id == variant.id)
        .distinct()
    ).scalars()
    orders = list(found)
    if orders:
        journal.note(session, journal.ORDER, orders, listing=False)
