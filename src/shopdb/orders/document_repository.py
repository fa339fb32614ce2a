"""The SQL that reads placed orders as JSON documents PostgreSQL builds (documents.py).

Apart from repository.py because the documents name every part of an order, the lifecycle
packages' (fulfillments, refunds) included, and those packages use OrderRepository: the
order's own repository cannot import what imports it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import BigInteger, Text, any_, bindparam, cast, func, select
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import autocommit_reads
from shopdb.kit.pagination import AnySelect
from shopdb.models import Order
from shopdb.orders.documents import compact, detail_document, summary_object, supports_documents
from shopdb.orders.repository import placed_conditions


@dataclass(frozen=True)
class OrderDocument:
    """An order's JSON as PostgreSQL built it, its email still as stored."""

    document: bytes
    version: int
    sealed: bool  # the email is sealed (else a plaintext row from before sealing)


@dataclass(frozen=True)
class SummaryDocuments:
    """A page's OrderSummary documents as PostgreSQL built them."""

    documents: bytes  # a JSON array, in the order of the ids asked; the emails as stored
    sealed: list[bool]  # whether each one's email is sealed


# One statement object each, reused, so SQLAlchemy finds its compiled form without
# rebuilding anything.
@functools.cache
def _detail_statement() -> AnySelect:
    return select(Order.version, Order.email_hash.is_not(None), detail_document()).where(
        Order.id == bindparam("order_id"), *placed_conditions()
    )


@functools.cache
def _summaries_statement() -> AnySelect:
    # One row for the whole page, in the order of the ids: one JSON text to parse, however
    # many orders the page holds.
    ids = bindparam("ids", type_=ARRAY(BigInteger()))
    position = func.array_position(ids, Order.id)
    return select(
        cast(func.json_agg(aggregate_order_by(summary_object(), position)), Text),
        func.array_agg(aggregate_order_by(Order.email_hash.is_not(None), position)),
    ).where(Order.id == any_(ids), *placed_conditions())


class OrderDocumentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def builds_documents(self) -> bool:
        """Whether the database builds order documents itself (PostgreSQL)."""
        return supports_documents(self.session.get_bind().dialect.name)

    async def detail(self, order_id: int) -> OrderDocument | None:
        """The placed order's OrderDetail JSON, its email as stored (documents.open_email)."""
        # Core, not ORM, execution, in autocommit: one plain row, and no BEGIN/COMMIT round
        # trips around a read.
        async with autocommit_reads(self.session) as reads:
            rows = await reads.fetch(_detail_statement(), {"order_id": order_id})
        return OrderDocument(compact(rows[0][2]), rows[0][0], rows[0][1]) if rows else None

    async def summaries(self, order_ids: Sequence[int]) -> SummaryDocuments:
        """The OrderSummary JSON of the placed orders among `order_ids`, in their order."""
        if not order_ids:
            return SummaryDocuments(b"[]", [])
        async with autocommit_reads(self.session) as reads:
            [row] = await reads.fetch(_summaries_statement(), {"ids": list(order_ids)})
        if row[0] is None:  # none of them is a placed order (any longer)
            return SummaryDocuments(b"[]", [])
        return SummaryDocuments(row[0].encode(), list(row[1]))
