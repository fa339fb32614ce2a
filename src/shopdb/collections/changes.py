"""What a flush or statement changed of what smart collections' product pages show, noted in
the change journal (shopdb.kit.journal, kind COLLECTION) for the collection cache
(Services.collection_cache) to forget after the commit.

A collection's product page depends on:
- the collection (its rules, sort order, manual positions, deletion): the collection's id, and
  every page (`membership`);
- the products its rules match on: the product journal's changes, which the wiring forwards
  (a stock move moves only the pages that depend on stock or sales);
- metafields and their definitions (rules may match on them): every page;
- units sold (orders and their lines, the `best-selling` sort) and stock (`variant_inventory`
  rules): `listing` alone, which only the pages of such collections depend on.

Both the ORM's flushes and the ORM-enabled UPDATE/DELETE statements a repository sends
through the session are seen (`do_orm_execute`): the writers need not cooperate.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from shopdb.kit import journal
from shopdb.models import (
    CollectionProduct,
    Metafield,
    MetafieldDefinition,
    Order,
    OrderLineItem,
    SmartCollection,
)

# Rows whose change may alter any collection's pages, and the collection they belong to.
_COLLECTION_OF: dict[type, Any] = {
    SmartCollection: lambda row: row.__dict__.get("id"),
    CollectionProduct: lambda row: row.__dict__.get("collection_id"),
    Metafield: lambda _row: None,
    MetafieldDefinition: lambda _row: None,
}
# Rows whose change moves units sold: only sales- or stock-dependent pages.
_SALES = (Order, OrderLineItem)
_TABLES_OF_ALL = {"smart_collections", "collection_products", "metafields", "metafield_definitions"}
_TABLES_OF_SALES = {"orders", "order_line_items"}


def note_flushed_collections(session: Session, _flush: UOWTransaction) -> None:
    """An "after_flush" listener (shopdb.wiring)."""
    found: list[int | None] = []
    membership = sales = False
    for rows in (session.new, session.dirty, session.deleted):
        for row in rows:
            collection_of = _COLLECTION_OF.get(type(row))
            if collection_of is not None:
                found.append(collection_of(row))
                membership = True
            elif isinstance(row, _SALES):
                sales = True
    if membership:
        journal.note(session, journal.COLLECTION, found)
    elif sales:
        journal.note(session, journal.COLLECTION, (), membership=False)


def note_collection_statements(state: ORMExecuteState) -> None:
    """A "do_orm_execute" listener (shopdb.wiring): UPDATE and DELETE statements of the rows
    above, which no flush sees."""
    if not (state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table in _TABLES_OF_ALL:
        journal.note(state.session, journal.COLLECTION, ())
    elif table in _TABLES_OF_SALES:
        journal.note(state.session, journal.COLLECTION, (), membership=False)


def collection_changes_of_products(changes: journal.Changes) -> journal.Changes:
    """A product journal's committed changes, as the collection pages see them: any written
    product may enter or leave a collection (its rules match on prices, weights, titles...),
    every page; a stock move (`listing` false there) only the stock- and sales-dependent."""
    if not changes.ids and not changes.listing:
        return journal.Changes()
    if changes.listing:
        return journal.Changes(listing=True, membership=True)
    return journal.Changes(listing=True, membership=False)
