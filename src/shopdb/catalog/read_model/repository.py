"""The product read model's SQL: filtered, sorted pages of products and their documents.

Lists are read as rows (SQLite) or as JSON documents PostgreSQL builds itself (documents.py),
never through ORM objects: a page of 250 products is about 3,000 rows.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    exists,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.read_model.documents import supports_documents
from shopdb.catalog.read_model.reader import ProductReader, product_columns_select
from shopdb.catalog.read_model.schemas import ProductDetail, SortBy
from shopdb.catalog.read_model.stored import read_documents
from shopdb.db import read_connection, reads_in_autocommit, reads_in_autocommit_on_primary
from shopdb.kit.pagination import (
    AnySelect,
    Cursor,
    Direction,
    count_rows,
    keyset_after,
    keyset_order,
    offset_for,
    split_page,
)
from shopdb.kit.sql import contains_pattern
from shopdb.models import Product, ProductTag, ProductVariant
from shopdb.models.catalog import PRODUCT_SEARCH_SQL, VARIANT_SKU_SEARCH_SQL

SORT_COLUMNS: dict[str, Any] = {
    "title": Product.title,
    "created": Product.created_at,
    "updated": Product.updated_at,
}


# A search reads the SKU matches first (few, as a rule: SKUs rarely hold the words of titles)
# and names them to the main statement; past this many it names the subquery instead.
MAX_NAMED_SKU_MATCHES = 1_000


def _text_matches(pattern: str) -> ColumnElement[bool]:
    return literal_column(PRODUCT_SEARCH_SQL).like(pattern, escape="\\")


def _sku_matches(pattern: str) -> Select[int]:
    return select(ProductVariant.product_id).where(
        literal_column(VARIANT_SKU_SEARCH_SQL).like(pattern, escape="\\")
    )


def search_condition(q: str, sku_product_ids: Sequence[int] | None) -> ColumnElement[bool]:
    """Title, vendor, tags or any variant's SKU contain `q` (case-insensitive).

    With the SKU matches named (`sku_product_ids`, read beforehand), the condition is on the
    products row alone, which leaves PostgreSQL both plans that never read the whole table: for
    a common word, walk the list's sort index and stop after a page of matches; for a rare one,
    a bitmap of the trigram index (OR the named ids). Without them (too many SKU matches), the
    SKU arm is a subquery, hashed once.
    """
    pattern = contains_pattern(q)
    if sku_product_ids is None:
        return or_(_text_matches(pattern), Product.id.in_(_sku_matches(pattern)))
    if not sku_product_ids:
        return _text_matches(pattern)
    return or_(_text_matches(pattern), Product.id.in_(sku_product_ids))


@dataclass(frozen=True)
class ProductFilter:
    vendor: str | None = None
    product_type: str | None = None
    status: str | None = None
    tag: str | None = None
    q: str | None = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    updated_at_min: datetime | None = None
    updated_at_max: datetime | None = None
    # The products whose SKUs match `q`, once read (ProductReadRepository.resolved); None: not
    # read, or too many to name. Not part of what a request asks: excluded from comparisons.
    sku_product_ids: tuple[int, ...] | None = field(default=None, compare=False, repr=False)

    def apply(self, statement: AnySelect) -> AnySelect:
        conditions: list[ColumnElement[bool]] = [Product.deleted_at.is_(None)]
        if self.vendor is not None:
            conditions.append(Product.vendor == self.vendor)
        if self.product_type is not None:
            conditions.append(Product.product_type == self.product_type)
        if self.status is not None:
            conditions.append(Product.status == self.status)
        if self.tag is not None:
            conditions.append(
                exists().where(ProductTag.product_id == Product.id, ProductTag.tag == self.tag)
            )
        if self.q:
            conditions.append(search_condition(self.q, self.sku_product_ids))
        if self.created_at_min is not None:
            conditions.append(Product.created_at >= self.created_at_min)
        if self.created_at_max is not None:
            conditions.append(Product.created_at <= self.created_at_max)
        if self.updated_at_min is not None:
            conditions.append(Product.updated_at >= self.updated_at_min)
        if self.updated_at_max is not None:
            conditions.append(Product.updated_at <= self.updated_at_max)
        return statement.where(*conditions)


@dataclass(frozen=True)
class ProductPageRequest:
    filters: ProductFilter
    sort_by: SortBy
    direction: Direction
    page: int
    page_size: int
    cursor: Cursor | None
    with_total: bool = False


@dataclass(frozen=True)
class DocumentPage:
    items: list[bytes]  # JSON documents
    total: int | None
    next_cursor: str | None


@dataclass(frozen=True)
class IdPage:
    ids: list[int]
    total: int | None
    next_cursor: str | None

    def with_documents(self, documents: dict[int, tuple[bytes, int]]) -> DocumentPage:
        # A product deleted between the two statements is left out rather than failing the page.
        items = [documents[i][0] for i in self.ids if i in documents]
        return DocumentPage(items, self.total, self.next_cursor)


@dataclass(frozen=True)
class ProductPage:
    items: list[ProductDetail]
    total: int | None
    next_cursor: str | None


class ProductReadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def resolved(self, filters: ProductFilter) -> ProductFilter:
        """`filters` with the products whose SKUs match its search read (search_condition)."""
        if not filters.q:
            return filters
        matching = _sku_matches(contains_pattern(filters.q)).distinct()
        connection = await read_connection(self.session)
        found = (await connection.scalars(matching.limit(MAX_NAMED_SKU_MATCHES + 1))).all()
        if len(found) > MAX_NAMED_SKU_MATCHES:
            return filters
        return replace(filters, sku_product_ids=tuple(sorted(found)))

    def _page_statement(
        self, columns: AnySelect, request: ProductPageRequest, filters: ProductFilter
    ) -> AnySelect:
        key = SORT_COLUMNS[request.sort_by]
        statement = filters.apply(columns).order_by(
            *keyset_order(key, Product.id, request.direction)
        )
        if request.cursor is not None:
            statement = statement.where(keyset_after(key, Product.id, request.cursor))
        else:
            statement = statement.offset(offset_for(request.page, request.page_size))
        # One row more than the page tells whether there is a next page.
        return statement.limit(request.page_size + 1)

    async def _page_rows(
        self, columns: AnySelect, request: ProductPageRequest
    ) -> tuple[int | None, Sequence[Any], str | None]:
        """(total matching when the request asks for it, the page's rows, the next cursor).

        The page alone is an index range scan of page size + 1 rows, whatever the catalog's
        size; a total reads every matching row, so it is counted only on request.
        """
        filters = await self.resolved(request.filters)
        statement = self._page_statement(columns, request, filters)
        # Core execution: the rows are plain columns, and the ORM's per-statement work cost
        # more than the index range scan.
        connection = await read_connection(self.session)
        rows, more = split_page((await connection.execute(statement)).all(), request.page_size)
        total = None
        if request.with_total:
            total = await count_rows(self.session, filters.apply(select(Product.id)))
        next_cursor = None
        if more and rows:
            last = rows[-1]
            last_key = getattr(last, SORT_COLUMNS[request.sort_by].key)
            next_cursor = Cursor(request.sort_by, request.direction, last_key, last.id).encode()
        return total, rows, next_cursor

    async def list(self, request: ProductPageRequest) -> ProductPage:
        total, rows, next_cursor = await self._page_rows(product_columns_select(), request)
        return ProductPage(await ProductReader(self.session).details(rows), total, next_cursor)

    def builds_documents(self) -> bool:
        """Whether the database builds documents itself (PostgreSQL; see documents.py)."""
        return supports_documents(self.session.get_bind().dialect.name)

    async def list_documents(self, request: ProductPageRequest) -> DocumentPage:
        """A page of products as JSON documents (see documents.py), all built here."""
        if not self.builds_documents():
            found = await self.list(request)
            items = [
                d.model_dump_json(by_alias=True, exclude={"metafields"}).encode()
                for d in found.items
            ]
            return DocumentPage(items, found.total, found.next_cursor)
        page = await self.page_ids(request)
        documents = await self.documents(page.ids)
        return page.with_documents(documents)

    async def page_ids(self, request: ProductPageRequest) -> IdPage:
        """The page's product ids, in order, without their documents (PostgreSQL)."""
        await read_connection(self.session)
        # Only what the sort's index holds: (key, id), all a page of ids and its cursor need.
        columns = select(Product.id, SORT_COLUMNS[request.sort_by])
        total, rows, next_cursor = await self._page_rows(columns, request)
        return IdPage([row.id for row in rows], total, next_cursor)

    async def documents(self, product_ids: Sequence[int]) -> dict[int, tuple[bytes, int]]:
        """{id: (ProductDetail JSON, version)} of the live products among `product_ids`."""
        if not product_ids:
            return {}
        connection = await read_connection(self.session)  # Core: plain rows
        return await read_documents(
            connection,
            product_ids,
            store=reads_in_autocommit_on_primary(self.session),
            autocommit=reads_in_autocommit(self.session),
        )

    async def get_document(self, product_id: int) -> tuple[bytes, int] | None:
        """One live product's ProductDetail JSON and its version (for the ETag)."""
        if supports_documents(self.session.get_bind().dialect.name):
            # Stored or built by PostgreSQL (stored.py), read through Core: plain columns, no
            # ORM bookkeeping, and no statement built per request.
            return (await self.documents([product_id])).get(product_id)
        live = (Product.id == product_id, Product.deleted_at.is_(None))
        found = (
            await self.session.execute(
                product_columns_select().add_columns(Product.version).where(*live)
            )
        ).one_or_none()
        if found is None:
            return None
        [detail] = await ProductReader(self.session).details([found])
        return detail.model_dump_json(by_alias=True, exclude={"metafields"}).encode(), found.version

    async def count(self, filters: ProductFilter, *, cap: int) -> int:
        """How many live products match, counting at most `cap` + 1 of them (an index or
        table read that stops there, however many match)."""
        resolved = await self.resolved(filters)
        matching = resolved.apply(select(Product.id)).limit(cap + 1).subquery()
        counted = await self.session.scalar(select(func.count()).select_from(matching))
        return int(counted or 0)

    async def details_in_order(self, product_ids: Sequence[int]) -> builtins.list[ProductDetail]:
        return await ProductReader(self.session).details_by_ids(product_ids)
