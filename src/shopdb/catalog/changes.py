"""Which products a transaction changed, noted for the product cache (cache.py) to invalidate.

Writers are found without their cooperation where possible: an ORM flush listener notes the
products of every flushed catalog row; the few Core statements that move a variant's quantity
call `mark_products_changed` themselves. After the commit, `Database` runs the cache's hook,
which takes what was noted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from shopdb.models import (
    InventoryItem,
    OptionValue,
    Product,
    ProductImage,
    ProductOption,
    ProductTag,
    ProductVariant,
)

_CHANGED = "shopdb.changed_product_ids"
_LISTING_CHANGED = "shopdb.product_listing_changed"
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


def mark_products_changed(
    session: AsyncSession | Session, product_ids: Iterable[int | None], *, listing: bool = True
) -> None:
    """Note products whose documents this transaction changes (Core writes the ORM cannot see).

    `listing=False` when the change cannot alter which products a list shows or their order
    (a variant's inventory quantity: no list filters or sorts on it), so cached pages survive.
    """
    changed: set[int] = session.info.setdefault(_CHANGED, set())
    changed.update(i for i in product_ids if i is not None)
    if listing:
        session.info[_LISTING_CHANGED] = True


def take_changed_products(session: AsyncSession) -> tuple[set[int], bool]:
    """(products noted so far, whether lists may have changed), forgetting them."""
    changed: set[int] = session.info.pop(_CHANGED, set())
    return changed, bool(session.info.pop(_LISTING_CHANGED, False))


def uncommitted_products(session: AsyncSession) -> set[int]:
    """Products `session` has changed and not yet committed (nothing of theirs may be cached)."""
    changed: set[int] = session.info.get(_CHANGED, set())
    return changed


def uncommitted_listing_change(session: AsyncSession) -> bool:
    """Whether `session` has an uncommitted change that may alter lists."""
    return bool(session.info.get(_LISTING_CHANGED))


@event.listens_for(Session, "after_flush")
def _note_flushed_products(session: Session, _flush: UOWTransaction) -> None:
    found: list[int | None] = []
    for row in (*session.new, *session.dirty, *session.deleted):
        product_of = _PRODUCT_OF.get(type(row))
        if product_of is not None:
            found.append(product_of(row))
    if found:
        mark_products_changed(session, found)
