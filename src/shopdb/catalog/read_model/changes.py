"""Which products a flush changed, noted in the change journal (shopdb.kit.journal).

Writers of catalog rows are found without their cooperation: this flush listener maps every
flushed catalog row to its product and notes it. The wiring (shopdb.services) registers it on
shopdb's session class of each Database, never on SQLAlchemy's `Session`, so another
library's sessions are untouched. Core statements the ORM cannot see note their products
themselves (inventory's quantity moves).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session, UOWTransaction

from shopdb.kit import journal
from shopdb.models import (
    InventoryItem,
    OptionValue,
    Product,
    ProductImage,
    ProductOption,
    ProductTag,
    ProductVariant,
)

# Rows whose changes show in a product's document, and how to find that product's id.
_PRODUCT_OF: dict[type, Any] = {
    Product: lambda row: row.__dict__.get("id"),
    ProductVariant: lambda row: row.__dict__.get("product_id"),
    ProductOption: lambda row: row.__dict__.get("product_id"),
    ProductImage: lambda row: row.__dict__.get("product_id"),
    ProductTag: lambda row: row.__dict__.get("product_id"),
    # A value's option (and an item's variant) are dirty too when it changes through them;
    # these cover a value or item flushed on its own while its parent happens to be loaded.
    OptionValue: lambda row: getattr(row.__dict__.get("option"), "product_id", None),
    InventoryItem: lambda row: getattr(row.__dict__.get("variant"), "product_id", None),
}


# What product lists filter, sort or search on, other than the update time: a change of one
# of these may move a product into, out of or within any list (Changes.membership); any other
# change moves it only within lists by update time, so the others stay cached.
_LISTED_PRODUCT_COLUMNS = (
    "title",
    "vendor",
    "product_type",
    "status",
    "tags",
    "deleted_at",
    "created_at",
)
_LISTED_VARIANT_COLUMNS = ("sku", "product_id")  # a search matches SKUs


def _changes_membership(row: object, is_new_or_deleted: bool) -> bool:
    if is_new_or_deleted:
        return isinstance(row, Product | ProductTag | ProductVariant)
    listed = (
        _LISTED_PRODUCT_COLUMNS
        if isinstance(row, Product)
        else _LISTED_VARIANT_COLUMNS
        if isinstance(row, ProductVariant)
        else ()
    )
    if isinstance(row, ProductTag):
        return True
    attributes = inspect(row).attrs
    return any(attributes[name].history.has_changes() for name in listed)


def note_flushed_products(session: Session, _flush: UOWTransaction) -> None:
    """An "after_flush" listener: the products of every flushed catalog row, in the journal,
    and whether any of them changed what lists hold (attribute history is still there)."""
    found: list[int | None] = []
    membership = False
    for rows, is_new_or_deleted in (
        (session.new, True),
        (session.dirty, False),
        (session.deleted, True),
    ):
        for row in rows:
            product_of = _PRODUCT_OF.get(type(row))
            if product_of is not None:
                found.append(product_of(row))
                membership = membership or _changes_membership(row, is_new_or_deleted)
    if found:
        journal.note(session, journal.PRODUCT, found, membership=membership)
