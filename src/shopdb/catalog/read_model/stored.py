"""Product documents kept in PostgreSQL between reads (the `product_documents` table).

Building a document costs PostgreSQL ~30 rows across six tables and shopdb a compaction of
the JSON it writes; a list page of 20 without the cache built 20 of them per request. Here a
document is built once per change of its product and stored; every later read, whether or
not Redis is configured, fetches one row per product.

How a stored document stays exactly current (never stale, whatever the interleaving):

- Writers: a transaction that changed a product's document (its product, variants, options,
  images or stock: the change journal's PRODUCT notes, the same notes that invalidate the
  cache) bumps the product's `stamp` just before it commits, in one statement, in product id
  order (`bump_changed_documents`, a `before_commit` listener; the self-committing stock
  batches bump in their own transaction). The doc rows are locked only from there to the
  commit, always in id order: no lock cycle with other writers.
- Readers: one statement returns each product's stored document when it is current
  (`built_stamp = stamp` and the product's version), and builds the others, reading the
  stamp in the same snapshot. A reader in autocommit on the primary then stores what it
  built with `ON CONFLICT ... DO UPDATE ... WHERE stamp = <the stamp it read>`: if a writer
  committed a bump since the reader's snapshot, or is committing one (the upsert waits for
  its row lock, then re-checks), nothing is stored. So a document is stored as current only
  if no change committed after the snapshot it was built from.
- A reader inside a transaction (it may write, and its locks would last until its commit) or
  on a replica does not store: it builds what is missing, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    any_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from shopdb.catalog.read_model.documents import compact, product_document
from shopdb.kit import journal, prepared
from shopdb.kit.stamps import as_bytes, bump_sql, stamp_bumper, store_in_batches
from shopdb.models import Product, ProductDocument


def _document_columns() -> list[Any]:
    """(version, stamp, stored, built) of the `products` row of the enclosing query, joined to
    its product_documents row: `stored` is the current stored document, else NULL and `built`
    is one built now (CASE evaluates only the branch it takes, so a current document costs
    one row read)."""
    stored = ProductDocument.__table__
    current = and_(
        stored.c.built_stamp == stored.c.stamp,
        stored.c.version == Product.version,
        stored.c.document.is_not(None),
    )
    return [
        Product.version,
        func.coalesce(stored.c.stamp, literal_column("0")),
        case((current, as_bytes(stored.c.document))),
        case((current, null()), else_=product_document()),
    ]


def with_stored_documents(page: Any, *columns: Any) -> Select[Any]:
    """`columns` of a page of live products (`page`: a subquery with their `id`s) and their
    current stored documents: (*columns, version, stamp, stored), `stored` NULL where there is
    none (read_documents builds those). Nothing is built here: a statement that can build
    documents costs PostgreSQL ~0.6 ms to plan, which a list page would pay on every request
    (its custom plan, for its OFFSET and filters, is the better one)."""
    stored = ProductDocument.__table__
    current = and_(stored.c.built_stamp == stored.c.stamp, stored.c.document.is_not(None))
    # The stamp alone decides (every change to a product bumps it); the detail's read also
    # compares the product's version, which here would cost a second lookup of every row.
    return (
        select(
            *columns,
            stored.c.version,
            stored.c.stamp,
            case((current, as_bytes(stored.c.document))),
        )
        .select_from(page)
        .outerjoin(stored, stored.c.product_id == page.c.id)
    )


def _chosen(one: bool) -> Any:
    """The product `:product_id`, or with `one` false, the products `:ids`."""
    if one:
        return Product.id == bindparam("product_id")
    return Product.id == any_(bindparam("ids", type_=ARRAY(BigInteger())))


@functools.cache
def stored_or_built_statement(one: bool = False) -> Select[Any]:
    """(id, version, stamp, stored, built) of the live products `:ids` (see _document_columns),
    or with `one`, of the product `:product_id`.

    Two statements because of PostgreSQL's plan cache: planning the document's ~300 nodes
    costs ~0.6 ms, and a prepared `id = ANY($1)` keeps being planned anew for one id (its
    generic plan, priced for several ids, looks dearer than a custom plan for one), while
    `id = $1` settles on its generic plan after five runs: 0.9 -> 0.2 ms a detail."""
    stored = ProductDocument.__table__
    chosen = _chosen(one)
    return (
        select(Product.id, *_document_columns())
        .select_from(Product)
        .outerjoin(stored, stored.c.product_id == Product.id)
        .where(chosen, Product.deleted_at.is_(None))
    )


@functools.cache
def stored_statement(one: bool = False) -> Select[Any]:
    """(id, version, stored) of the live products `:ids` (or with `one`, `:product_id`) whose
    stored document is current.

    Apart from stored_or_built_statement, which builds: PostgreSQL sets up every node of a
    plan on each execution, taken branch or not, and the builder's ~300 nodes cost a stored
    read about half its time."""
    stored = ProductDocument.__table__
    chosen = _chosen(one)
    return (
        select(Product.id, Product.version, as_bytes(stored.c.document))
        .select_from(Product)
        .join(stored, stored.c.product_id == Product.id)
        .where(
            chosen,
            Product.deleted_at.is_(None),
            stored.c.built_stamp == stored.c.stamp,
            stored.c.version == Product.version,
            stored.c.document.is_not(None),
        )
    )


# Keeps what a reader built unless the row's stamp moved since the reader's snapshot (a
# writer committed, or is committing: the upsert waits for its row lock and re-checks).
# Rows in id order, as the writers' bump takes them. The statement commits by itself without
# waiting for the WAL flush (synchronous_commit off for its own transaction only): a GET must
# not wait on a disk write, and a document lost in a crash is only built again.
STORE = text(
    """
    WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
    INSERT INTO product_documents AS d (product_id, stamp, built_stamp, version, document)
    SELECT v.product_id, v.stamp, v.stamp, v.version, v.document
    FROM unnest(
        CAST(:ids AS bigint[]), CAST(:stamps AS bigint[]),
        CAST(:versions AS integer[]), CAST(:documents AS text[])
    ) AS v(product_id, stamp, version, document), relaxed
    ORDER BY v.product_id
    ON CONFLICT (product_id) DO UPDATE
    SET built_stamp = excluded.built_stamp, version = excluded.version,
        document = excluded.document
    WHERE d.stamp = excluded.stamp
    """
)

# A change to each live or soft-deleted product among :ids (sorted), and the rows of those
# deleted for good removed (the table has no foreign key; see ProductDocument).
_BUMP_SQL = bump_sql("product_documents", "product_id", "products")
BUMP = text(_BUMP_SQL)
# The same for asyncpg's own statements (inventory.batching): the ids are its $1.
BUMP_ASYNCPG_SQL = _BUMP_SQL.replace(":ids", "$1")


async def read_documents(
    reads: prepared.Reads, product_ids: Sequence[int], *, none_stored: bool = False
) -> dict[int, tuple[bytes, int]]:
    """{id: (document, version)} of the live products among `product_ids`: stored ones as
    they are, the others built (and stored, when `reads.stores`: autocommit on the primary).
    `none_stored`: the caller just found none of them stored and current (a list page)."""
    ids = list(product_ids)
    found: dict[int, tuple[bytes, int]] = {}
    if not none_stored:
        one, values = _chosen_values(ids)
        rows = await reads.fetch(stored_statement(one), values)
        found = {row[0]: (row[2], row[1]) for row in rows}
    missing = [i for i in ids if i not in found]
    if missing:
        one, values = _chosen_values(missing)
        rows = await reads.fetch(stored_or_built_statement(one), values)
        found.update(await read_rows(reads, rows))
    return found


def _chosen_values(ids: list[int]) -> tuple[bool, dict[str, Any]]:
    """(one, values) of _chosen's statements for `ids`: `id = $1` for one (see
    stored_or_built_statement), the hottest read there is."""
    if len(ids) == 1:
        return True, {"product_id": ids[0]}
    return False, {"ids": ids}


async def read_rows(
    reads: prepared.Reads, rows: Iterable[Sequence[Any]]
) -> dict[int, tuple[bytes, int]]:
    """{id: (document, version)} from (id, version, stamp, stored, built) rows; what was built
    is stored when `reads.stores` (autocommit on the primary)."""
    found: dict[int, tuple[bytes, int]] = {}
    built: list[tuple[int, int, int, bytes]] = []
    for product_id, version, stamp, stored, fresh in rows:
        if stored is not None:
            found[product_id] = (stored, version)
        else:
            document = compact(fresh)
            found[product_id] = (document, version)
            built.append((product_id, stamp, version, document))
    if built and reads.stores:
        await reads.fetch(
            STORE,
            {
                "ids": [b[0] for b in built],
                "stamps": [b[1] for b in built],
                "versions": [b[2] for b in built],
                "documents": [b[3].decode() for b in built],
            },
        )
    return found


# A `before_commit` listener (wiring.py): the outermost commit of a transaction that changed
# products' documents bumps their stamps first (see the module docstring).
bump_changed_documents = stamp_bumper(journal.PRODUCT, BUMP)


async def store_all_documents(engine: AsyncEngine, batch: int = 500) -> int:
    """Build and store every live product's document that is not current (PostgreSQL); how
    many products were read (kit.stamps.store_in_batches)."""
    live = [Product.deleted_at.is_(None)]
    return await store_in_batches(engine, Product.id, live, read_documents, batch)
