"""Placed orders read as JSON documents: stored, or built by PostgreSQL (stored.py,
documents.py).

Apart from repository.py because the documents name every part of an order, the lifecycle
packages' (fulfillments, refunds) included, and those packages use OrderRepository: the
order's own repository cannot import what imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, literal_column, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import autocommit_reads
from shopdb.kit import prepared
from shopdb.kit.pagination import (
    Cursor,
    Direction,
    check_offset_depth,
    keyset_order,
    offset_for,
    split_page,
)
from shopdb.models import Order
from shopdb.orders.documents import supports_documents
from shopdb.orders.repository import (
    FILTER_CONDITIONS,
    SORT_COLUMNS,
    OrderFilters,
    placed_conditions,
    status_conditions,
)
from shopdb.orders.stored import (
    FoundDocument,
    FoundSummaries,
    read_detail,
    read_summaries,
    with_stored_summaries,
)


@dataclass(frozen=True)
class SummaryDocuments:
    """A page's OrderSummary documents, in the order of the ids asked; the emails as stored."""

    documents: list[bytes]
    sealed: list[bool]  # whether each one's email is sealed


class OrderDocumentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def builds_documents(self) -> bool:
        """Whether the database builds order documents itself (PostgreSQL)."""
        return supports_documents(self.session.get_bind().dialect.name)

    async def detail(self, order_id: int) -> FoundDocument | None:
        """The placed order's OrderDetail JSON, its email as stored (documents.open_email):
        the stored one (stored.py), or one built and stored."""
        # Core, not ORM, execution, in autocommit: one plain row, and no BEGIN/COMMIT round
        # trips around a read.
        async with autocommit_reads(self.session) as reads:
            return await read_detail(reads, order_id)

    async def summaries(self, order_ids: Sequence[int]) -> SummaryDocuments:
        """The OrderSummary JSON of the placed orders among `order_ids`, in their order."""
        if not order_ids:
            return SummaryDocuments([], [])
        async with autocommit_reads(self.session) as reads:
            found = await read_summaries(reads, order_ids)
        return _in_order(order_ids, found)

    async def page(
        self,
        filters: OrderFilters,
        *,
        sort: str,
        direction: Direction,
        page: int,
        page_size: int,
        cursor: Cursor | None,
    ) -> tuple[SummaryDocuments, str | None]:
        """A page of placed orders' summaries in ORDER BY (sort key, id), and the next page's
        cursor, in one statement: the page's ids (an index range, _page_statement) and their
        stored summaries; a second builds those not stored, or changed since, if any. Not
        for the `number` sort, whose null keys (orders from before numbering) come last in
        a range of their own (kit.pagination.read_page)."""
        present = tuple(
            f.name
            for f in fields(filters)
            if f.name != "status" and getattr(filters, f.name) is not None
        )
        take = page_size + 1
        statement = _page_statement(
            filters.status, present, sort, direction, cursor is not None, take
        )
        values = {name: getattr(filters, name) for name in present}
        if cursor is not None:
            values["after_key"], values["after_id"] = cursor.key, cursor.id
        else:
            check_offset_depth(page, page_size)
            values["skip"] = offset_for(page, page_size)
        async with autocommit_reads(self.session) as reads:
            rows, more = split_page(await reads.fetch(statement, values), page_size)
            documents = {row[0]: row[2] for row in rows if row[2] is not None}
            sealed = dict.fromkeys(documents, True)  # only sealed documents are stored
            missing = [row[0] for row in rows if row[2] is None]
            if missing:
                built = await read_summaries(reads, missing, none_stored=True)
                documents.update(built.documents)
                sealed.update(built.sealed)
        next_cursor = None
        if more and rows:
            key, last_id = prepared.field(rows[-1], "key"), prepared.field(rows[-1], "id")
            next_cursor = Cursor(sort, direction, key, last_id).encode()
        ids = [row[0] for row in rows]
        return _in_order(ids, FoundSummaries(documents, sealed)), next_cursor


@functools.lru_cache(maxsize=256)
def _page_statement(
    status: str, present: tuple[str, ...], sort: str, direction: Direction, after: bool, take: int
) -> Select[Any]:
    """(id, key, stored summary) of a page, for one shape of request, built once and reused:
    its values are bound at execution (the filters', `after_key`/`after_id` or `skip`). The
    page's ids are read first, in a subquery: PostgreSQL evaluates a select list before it
    skips rows. The LIMIT is written in, so PostgreSQL keeps one plan for the statement."""
    key = SORT_COLUMNS[sort]
    conditions: list[ColumnElement[bool]] = [*placed_conditions(), *status_conditions(status)]
    # Each compared with a column, a bind parameter takes that column's type.
    conditions += [FILTER_CONDITIONS[name](bindparam(name)) for name in present]
    if after:
        row = tuple_(key, Order.id)
        seen = tuple_(bindparam("after_key", type_=key.type), bindparam("after_id"))
        conditions.append(row > seen if direction == "asc" else row < seen)
    ids = select(Order.id, key.label("key")).where(*conditions)
    ids = ids.order_by(*keyset_order(key, Order.id, direction))
    if not after:
        ids = ids.offset(bindparam("skip"))
    page = ids.limit(literal_column(str(int(take)))).subquery()
    return with_stored_summaries(page, page.c.id, page.c.key).order_by(
        *keyset_order(page.c.key, page.c.id, direction)
    )


def _in_order(order_ids: Sequence[int], found: FoundSummaries) -> SummaryDocuments:
    # An order deleted meanwhile (or not placed) is left out rather than failing the page.
    present = [i for i in order_ids if i in found.documents]
    return SummaryDocuments(
        [found.documents[i] for i in present], [found.sealed[i] for i in present]
    )
