"""Order documents kept in PostgreSQL between reads (the `order_documents` table).

PostgreSQL builds an order's list summary from ~35 columns (timestamps formatted, tags split)
and its detail from six tables (documents.py): a list page of 50 built 50 summaries per
request, more than the page's index range cost. Here each document is built on its first read
after a change of its order and stored; later reads, with or without the cache, fetch one row.

It stays exactly current as product documents do (catalog/read_model/stored.py, whose module
docstring has the argument):

- Writers: a transaction that changed placed orders (the change journal's ORDER notes:
  OrderRepository.lock_placed, which every change to a placed order takes, and the flush
  listener of orders/changes.py) bumps their `stamp` just before it commits, in order id
  order (`bump_changed_order_documents`, a `before_commit` listener). Placing an order notes
  nothing: a reservation has no document, and its first read as a placed order builds one.
- Readers: a statement reads the current stored documents; another builds the rest, reading
  each order's stamp in the same snapshot, and a reader in autocommit on the primary then
  stores what it built only if the row's stamp is still the one it read.

Only documents whose email is sealed are stored (a plaintext row from before sealing is
built on every read until `shopdb migrate` seals it, which changes the document). The summary
and the detail are stored apart, each with its stamp: a list page stores summaries without
building details, and a detail read stores the detail alone.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    null,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.selectable import Subquery

from shopdb.kit import journal, prepared
from shopdb.kit.stamps import as_bytes, bump_sql, stamp_bumper, store_in_batches
from shopdb.models import Order, OrderDocumentStore
from shopdb.orders.documents import compact, detail_document, summary_object
from shopdb.orders.repository import placed_conditions

_STORED = OrderDocumentStore.__table__


def _sealed() -> Any:
    return Order.email_hash.is_not(None)


@dataclass(frozen=True)
class FoundDocument:
    """An order's document, its email as stored (documents.open_email opens it)."""

    document: bytes
    version: int
    sealed: bool  # the email is sealed (else a plaintext row from before sealing)


@functools.cache
def _stored_detail_statement() -> Select[Any]:
    """(version, stored) of the placed order `:order_id` if its stored detail is current.

    Apart from _detail_statement, which builds: PostgreSQL sets up every node of a plan on
    each execution, taken branch or not, and the builder's ~300 nodes cost a stored read half
    its time (0.22 vs 0.12 ms a read)."""
    return (
        select(Order.version, as_bytes(_STORED.c.detail))
        .select_from(Order)
        .join(_STORED, _STORED.c.order_id == Order.id)
        .where(
            Order.id == bindparam("order_id"),
            *placed_conditions(),
            _STORED.c.detail_stamp == _STORED.c.stamp,
            _STORED.c.version == Order.version,
            _STORED.c.detail.is_not(None),
        )
    )


@functools.cache
def _detail_statement() -> Select[Any]:
    """(version, sealed, stamp, stored, built) of the placed order `:order_id`: `stored` is
    its current stored detail, else NULL and `built` one built now (CASE evaluates only the
    branch it takes)."""
    current = and_(
        _STORED.c.detail_stamp == _STORED.c.stamp,
        _STORED.c.version == Order.version,
        _STORED.c.detail.is_not(None),
    )
    return (
        select(
            Order.version,
            _sealed(),
            func.coalesce(_STORED.c.stamp, literal_column("0")),
            case((current, as_bytes(_STORED.c.detail))),
            case((current, null()), else_=detail_document()),
        )
        .select_from(Order)
        .outerjoin(_STORED, _STORED.c.order_id == Order.id)
        .where(Order.id == bindparam("order_id"), *placed_conditions())
    )


def with_stored_summaries(page: Subquery, *columns: Any) -> Select[Any]:
    """`columns` of a page of placed orders (`page`: a subquery with their `id`s) and their
    current stored summaries: (*columns, stored), `stored` NULL where there is none
    (read_summaries builds those). Nothing is built here, so the page's plan stays small."""
    current = and_(_STORED.c.summary_stamp == _STORED.c.stamp, _STORED.c.summary.is_not(None))
    return (
        select(*columns, case((current, as_bytes(_STORED.c.summary))))
        .select_from(page)
        .outerjoin(_STORED, _STORED.c.order_id == page.c.id)
    )


@functools.cache
def _stored_summaries_statement() -> Select[Any]:
    """(id, stored) of the placed orders among `:ids` whose stored summary is current (apart
    from the builder's statement, as _stored_detail_statement)."""
    return (
        select(Order.id, as_bytes(_STORED.c.summary))
        .select_from(Order)
        .join(_STORED, _STORED.c.order_id == Order.id)
        .where(
            Order.id == any_(bindparam("ids", type_=ARRAY(BigInteger()))),
            *placed_conditions(),
            _STORED.c.summary_stamp == _STORED.c.stamp,
            _STORED.c.summary.is_not(None),
        )
    )


@functools.cache
def _summaries_statement() -> Select[Any]:
    """(id, sealed, stamp, stored, built) of the placed orders among `:ids`, as
    _detail_statement for summaries."""
    current = and_(_STORED.c.summary_stamp == _STORED.c.stamp, _STORED.c.summary.is_not(None))
    return (
        select(
            Order.id,
            _sealed(),
            func.coalesce(_STORED.c.stamp, literal_column("0")),
            case((current, as_bytes(_STORED.c.summary))),
            case((current, null()), else_=cast(summary_object(), Text)),
        )
        .select_from(Order)
        .outerjoin(_STORED, _STORED.c.order_id == Order.id)
        .where(Order.id == any_(bindparam("ids", type_=ARRAY(BigInteger()))), *placed_conditions())
    )


# What a reader built, kept unless the row's stamp moved since the reader's snapshot (a writer
# committed, or is committing: the upsert waits for its row lock and re-checks). Rows in id
# order, as the writers' bump takes them; committed without waiting for the WAL flush (a
# document lost in a crash is only built again), as product documents are.
_STORE_SQL = """
    WITH relaxed AS (SELECT set_config('synchronous_commit', 'off', true))
    INSERT INTO order_documents AS d (order_id, stamp, {stamp_column}, {columns})
    SELECT v.order_id, v.stamp, v.stamp, {values}
    FROM unnest(
        CAST(:ids AS bigint[]), CAST(:stamps AS bigint[]), {arrays}
    ) AS v(order_id, stamp, {names}), relaxed
    ORDER BY v.order_id
    ON CONFLICT (order_id) DO UPDATE
    SET {stamp_column} = excluded.{stamp_column}, {updates}
    WHERE d.stamp = excluded.stamp
"""
STORE_SUMMARIES = text(
    _STORE_SQL.format(
        stamp_column="summary_stamp",
        columns="summary",
        values="v.summary",
        arrays="CAST(:documents AS text[])",
        names="summary",
        updates="summary = excluded.summary",
    )
)
STORE_DETAILS = text(
    _STORE_SQL.format(
        stamp_column="detail_stamp",
        columns="version, detail",
        values="v.version, v.detail",
        arrays="CAST(:versions AS integer[]), CAST(:documents AS text[])",
        names="version, detail",
        updates="version = excluded.version, detail = excluded.detail",
    )
)

# A change to each order among :ids (sorted) that still exists, and the rows of those deleted
# for good removed (the table has no foreign key; see OrderDocumentStore).
BUMP = text(bump_sql("order_documents", "order_id", "orders"))


async def read_detail(reads: prepared.Reads, order_id: int) -> FoundDocument | None:
    """The placed order's detail: stored, or built (and stored, when `reads.stores`)."""
    stored_rows = await reads.fetch(_stored_detail_statement(), {"order_id": order_id})
    if stored_rows:  # only documents whose email is sealed are stored
        return FoundDocument(stored_rows[0][1], stored_rows[0][0], sealed=True)
    rows = await reads.fetch(_detail_statement(), {"order_id": order_id})
    if not rows:
        return None
    version, sealed, stamp, stored, built = rows[0]
    if stored is not None:
        return FoundDocument(stored, version, sealed)
    document = compact(built)
    if sealed and reads.stores:
        values = {
            "ids": [order_id],
            "stamps": [stamp],
            "versions": [version],
            "documents": [document.decode()],
        }
        await reads.fetch(STORE_DETAILS, values)
    return FoundDocument(document, version, sealed)


@dataclass(frozen=True)
class FoundSummaries:
    documents: dict[int, bytes]  # by order id; the emails as stored
    sealed: dict[int, bool]


async def read_summaries(
    reads: prepared.Reads, order_ids: Sequence[int], *, none_stored: bool = False
) -> FoundSummaries:
    """The summaries of the placed orders among `order_ids`: stored, or built (and stored,
    when `reads.stores`). `none_stored`: the caller just found none of them stored and
    current (a list page's statement)."""
    found = FoundSummaries({}, {})
    missing = list(order_ids)
    if not none_stored:
        rows = await reads.fetch(_stored_summaries_statement(), {"ids": missing})
        found = FoundSummaries({r[0]: r[1] for r in rows}, {r[0]: True for r in rows})
        missing = [i for i in missing if i not in found.documents]
    if missing:
        rows = await reads.fetch(_summaries_statement(), {"ids": missing})
        built = await _stored_or_built(reads, rows)
        found.documents.update(built.documents)
        found.sealed.update(built.sealed)
    return found


async def _stored_or_built(reads: prepared.Reads, rows: Sequence[Any]) -> FoundSummaries:
    """FoundSummaries of (id, sealed, stamp, stored, built) rows; what was built is stored
    when `reads.stores` (autocommit on the primary) and its email is sealed."""
    documents: dict[int, bytes] = {}
    sealed: dict[int, bool] = {}
    to_store: list[tuple[int, int, bytes]] = []
    for order_id, is_sealed, stamp, stored, built in rows:
        sealed[order_id] = is_sealed
        if stored is not None:
            documents[order_id] = stored
            continue
        document = compact(built)
        documents[order_id] = document
        if is_sealed:
            to_store.append((order_id, stamp, document))
    if to_store and reads.stores:
        to_store.sort()
        values = {
            "ids": [s[0] for s in to_store],
            "stamps": [s[1] for s in to_store],
            "documents": [s[2].decode() for s in to_store],
        }
        await reads.fetch(STORE_SUMMARIES, values)
    return FoundSummaries(documents, sealed)


# A `before_commit` listener (wiring.py): the outermost commit of a transaction that changed
# placed orders bumps their stamps first (see the module docstring).
bump_changed_order_documents = stamp_bumper(journal.ORDER, BUMP)


async def store_all_order_documents(engine: AsyncEngine, batch: int = 500) -> int:
    """Build and store every placed order's summary and detail that is not current
    (PostgreSQL); how many orders were read (kit.stamps.store_in_batches)."""

    async def store(reads: prepared.Reads, ids: Sequence[int]) -> None:
        await read_summaries(reads, ids)
        for order_id in ids:
            await read_detail(reads, order_id)

    return await store_in_batches(engine, Order.id, placed_conditions(), store, batch)
