"""The product read model's SQL: filtered, sorted pages of products and their documents.

Lists are read as rows (SQLite) or as JSON documents PostgreSQL builds itself (documents.py),
never through ORM objects: a page of 250 products is about 3,000 rows.
"""

from __future__ import annotations

import builtins
import enum
import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    any_,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.read_model.documents import supports_documents
from shopdb.catalog.read_model.reader import ProductReader, product_columns_select
from shopdb.catalog.read_model.schemas import ProductDetail, SortBy
from shopdb.catalog.read_model.stored import read_documents, with_stored_documents
from shopdb.db import autocommit_reads, read_connection
from shopdb.kit import prepared
from shopdb.kit.pagination import (
    AnySelect,
    Cursor,
    Direction,
    count_rows,
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
# The same keys as a product's tag rows carry them (migration 0034).
TAG_SORT_COLUMNS: dict[str, Any] = {
    "title": ProductTag.product_title,
    "created": ProductTag.product_created_at,
    "updated": ProductTag.product_updated_at,
}


# A page's ids and sort keys; its products' columns; or its ids, sort keys and documents.
_Columns = Literal["ids", "rows", "documents"]


@functools.lru_cache(maxsize=1024)
def _page_statement(
    columns: _Columns,
    shape: FilterShape,
    sort_by: str,
    direction: Direction,
    after: bool,
    postgres: bool,
    take: int | None = None,
) -> AnySelect:
    """A page's statement for one shape of request, built once and reused: its values are all
    bound at execution (the filters', `after_key`/`after_id` or `skip`, and `:take` unless
    `take` is written in). Building the expression and its cache key on every request cost
    more than running it."""
    if columns == "documents":
        # The page's ids first, in a subquery: PostgreSQL evaluates a select list before it
        # skips rows, so documents asked for beside OFFSET would be built for the skipped ones.
        ids = _page_statement("ids", shape, sort_by, direction, after, postgres, take)
        page = ids.subquery()
        key_column = page.c[SORT_COLUMNS[sort_by].key]
        return with_stored_documents(page, page.c.id, key_column).order_by(
            *keyset_order(key_column, page.c.id, direction)
        )
    if "tag" in shape.present:
        statement, key, id_column = _tag_rows(columns, shape, sort_by, postgres)
    else:
        key, id_column = SORT_COLUMNS[sort_by], Product.id
        chosen = select(Product.id, key) if columns == "ids" else product_columns_select()
        statement = chosen.where(*_conditions(shape, None, arrays=postgres))
    statement = statement.order_by(*keyset_order(key, id_column, direction))
    if after:
        row = tuple_(key, id_column)
        seen = tuple_(bindparam("after_key", type_=key.type), bindparam("after_id"))
        statement = statement.where(row > seen if direction == "asc" else row < seen)
    else:
        statement = statement.offset(bindparam("skip"))
    if take is None:
        return statement.limit(bindparam("take"))
    return statement.limit(literal_column(str(int(take))))


def _tag_rows(
    columns: _Columns, shape: FilterShape, sort_by: str, postgres: bool
) -> tuple[AnySelect, Any, Any]:
    """(the rows of one tag's products, not yet ordered; their sort key; their id) for
    _page_statement: a range of the tag's index for the sort, on the sort keys its rows carry
    (ProductTag); the products themselves are read only when another filter needs their
    columns, or the page needs them."""
    key = SORT_COLUMNS[sort_by]
    tag_key = TAG_SORT_COLUMNS[sort_by]
    on_tag = [
        ProductTag.tag == bindparam("tag", type_=ProductTag.tag.type),
        ProductTag.product_live,
    ]
    others = _conditions(shape, None, arrays=postgres, tag=False)
    if columns == "ids" and not others:
        chosen = select(ProductTag.product_id.label("id"), tag_key.label(key.key))
    else:
        chosen = (
            (
                select(Product.id, tag_key.label(key.key))
                if columns == "ids"
                else product_columns_select()
            )
            .select_from(ProductTag)
            .join(Product, Product.id == ProductTag.product_id)
        )
    return chosen.where(*on_tag, *others), tag_key, ProductTag.product_id


# A search reads the SKU matches first (few, as a rule: SKUs rarely hold the words of titles)
# and names them to the main statement; past this many it names the subquery instead.
MAX_NAMED_SKU_MATCHES = 1_000


def _text_matches(pattern: Any) -> ColumnElement[bool]:
    return literal_column(PRODUCT_SEARCH_SQL).like(pattern, escape="\\")


def _sku_matches(pattern: Any) -> Select[int]:
    return select(ProductVariant.product_id).where(
        literal_column(VARIANT_SKU_SEARCH_SQL).like(pattern, escape="\\")
    )


@functools.cache
def _named_sku_matches() -> Select[int]:
    """The products whose SKUs match `:pattern`, up to one more than are named in a page's
    statement (one statement text, prepared once)."""
    return (
        _sku_matches(bindparam("pattern", type_=String()))
        .distinct()
        .limit(MAX_NAMED_SKU_MATCHES + 1)
    )


def _in_sku_ids(values: dict[str, Any] | None, *, arrays: bool) -> ColumnElement[bool]:
    """The product is among the named SKU matches: `= ANY(array)` on PostgreSQL (one statement
    text whatever their number, so one prepared statement), else an IN list expanded at
    execution."""
    if arrays:
        value = None if values is None else values["sku_ids"]
        return Product.id == any_(bindparam("sku_ids", value, type_=ARRAY(BigInteger())))
    if values is None:
        return Product.id.in_(bindparam("sku_ids", expanding=True))
    return Product.id.in_(bindparam("sku_ids", values["sku_ids"], expanding=True))


class _SearchMode(enum.Enum):
    SKUS_UNREAD = "unread"  # too many SKU matches to name: a subquery
    NO_SKUS = "none"
    SKUS_NAMED = "named"

    @classmethod
    def of(cls, sku_product_ids: Sequence[int] | None) -> _SearchMode:
        if sku_product_ids is None:
            return cls.SKUS_UNREAD
        return cls.SKUS_NAMED if sku_product_ids else cls.NO_SKUS


def _search(
    mode: _SearchMode, pattern: Any, in_sku_ids: ColumnElement[bool]
) -> ColumnElement[bool]:
    """Title, vendor, tags or any variant's SKU contain the search (case-insensitive).

    With the SKU matches named (read beforehand: ProductReadRepository.resolved), the condition
    is on the products row alone, which leaves PostgreSQL both plans that never read the whole
    table: for a common word, walk the list's sort index and stop after a page of matches; for
    a rare one, a bitmap of the trigram index (OR the named ids). Without them (too many SKU
    matches), the SKU arm is a subquery, hashed once.
    """
    if mode is _SearchMode.SKUS_UNREAD:
        return or_(_text_matches(pattern), Product.id.in_(_sku_matches(pattern)))
    if mode is _SearchMode.NO_SKUS:
        return _text_matches(pattern)
    return or_(_text_matches(pattern), in_sku_ids)


# Each filter: its condition on a bound value named after it (one statement per set of
# filters, built once and reused: see _page_statement).
_EQUALS: dict[str, Any] = {
    "vendor": Product.vendor,
    "product_type": Product.product_type,
    "status": Product.status,
}
# Filters that keep few products each, whose index a page walks before any other's.
_SELECTIVE = frozenset({"vendor", "product_type", "tag"})
_RANGES: dict[str, tuple[Any, Any]] = {
    "created_at_min": (Product.created_at, operator.ge),
    "created_at_max": (Product.created_at, operator.le),
    "updated_at_min": (Product.updated_at, operator.ge),
    "updated_at_max": (Product.updated_at, operator.le),
}


def _conditions(
    shape: FilterShape, values: dict[str, Any] | None, *, arrays: bool = False, tag: bool = True
) -> list[ColumnElement[bool]]:
    """The WHERE of a filter shape; with `values`, its binds carry them (an ad hoc statement),
    else they are named only, to be given at execution (a cached statement). `arrays`: the
    database takes array parameters (PostgreSQL). Without `tag`: all but the tag and the
    product's liveness, which a statement reading the tag's rows checks there."""

    def bound(name: str, type_: Any = None) -> Any:
        if values is None:
            return bindparam(name, type_=type_)
        return bindparam(name, values[name], type_=type_)

    conditions: list[ColumnElement[bool]] = [Product.deleted_at.is_(None)] if tag else []
    for name in shape.present:
        if name == "status" and _SELECTIVE.intersection(shape.present):
            # Four statuses, most products active: beside a vendor, type or tag, the status is
            # checked on the rows that filter's index finds. PostgreSQL's generic plan for the
            # prepared statement otherwise walked the (status, sort) index and dropped rows of
            # other vendors: every active product read for one page (3.5 vs 0.6 ms at 10k).
            unindexed = Product.status.op("||")(literal_column("''"))
            conditions.append(unindexed == bound(name, Product.status.type))
        elif name in _EQUALS:
            conditions.append(_EQUALS[name] == bound(name, _EQUALS[name].type))
        elif name in _RANGES:
            column, compare = _RANGES[name]
            conditions.append(compare(column, bound(name, column.type)))
        elif name == "tag" and tag:
            conditions.append(
                exists().where(ProductTag.product_id == Product.id, ProductTag.tag == bound("tag"))
            )
    if shape.search is not None:
        in_sku_ids = _in_sku_ids(values, arrays=arrays)
        conditions.append(_search(shape.search, bound("q_pattern"), in_sku_ids))
    return conditions


@dataclass(frozen=True)
class FilterShape:
    """Which filters a request uses (not their values): what its statement depends on."""

    present: tuple[str, ...]
    search: _SearchMode | None


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

    def shape(self) -> FilterShape:
        present = tuple(
            name for name in (*_EQUALS, "tag", *_RANGES) if getattr(self, name) is not None
        )
        return FilterShape(present, _SearchMode.of(self.sku_product_ids) if self.q else None)

    def values(self) -> dict[str, Any]:
        """The bound values of shape()'s statement."""
        found = {name: getattr(self, name) for name in self.shape().present}
        if self.q:
            found["q_pattern"] = contains_pattern(self.q)
            found["sku_ids"] = list(self.sku_product_ids or ())
        return found

    def apply(self, statement: AnySelect) -> AnySelect:
        return statement.where(*_conditions(self.shape(), self.values()))


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
        """`filters` with the products whose SKUs match its search read (_search)."""
        if not filters.q:
            return filters
        async with autocommit_reads(self.session) as reads:
            rows = await reads.fetch(_named_sku_matches(), {"pattern": contains_pattern(filters.q)})
        if len(rows) > MAX_NAMED_SKU_MATCHES:
            return filters
        return replace(filters, sku_product_ids=tuple(sorted(row[0] for row in rows)))

    async def _page_rows(
        self, columns: _Columns, request: ProductPageRequest
    ) -> tuple[int | None, Sequence[Any], str | None]:
        """(total matching when the request asks for it, the page's rows, the next cursor).

        The page alone is an index range scan of page size + 1 rows, whatever the catalog's
        size; a total reads every matching row, so it is counted only on request.
        """
        filters = await self.resolved(request.filters)
        shape = filters.shape()
        # One more row than the page tells whether a next page follows. Written into the
        # statement, but for a search: PostgreSQL then settles on one plan for the statement
        # (a LIMIT it cannot see prices the generic plan at a tenth of the rows, so it planned
        # every execution anew, ~0.15 ms), while a search's best plan depends on its words.
        take = request.page_size + 1
        statement = _page_statement(
            columns,
            shape,
            request.sort_by,
            request.direction,
            request.cursor is not None,
            self.builds_documents(),
            None if shape.search is not None else take,
        )
        values = filters.values()
        if request.cursor is not None:
            values["after_key"] = request.cursor.key
            values["after_id"] = request.cursor.id
        else:
            values["skip"] = offset_for(request.page, request.page_size)
        values["take"] = take
        # Not the ORM's execution, whose per-statement work cost more than the index range
        # scan: Core, or asyncpg's own prepared statement in autocommit (kit.prepared).
        async with autocommit_reads(self.session) as reads:
            found = await reads.fetch(statement, values)
        rows, more = split_page(found, request.page_size)
        total = None
        if request.with_total:
            await read_connection(self.session)  # in autocommit: no BEGIN/COMMIT around it
            total = await count_rows(self.session, filters.apply(select(Product.id)))
        next_cursor = None
        if more and rows:
            last = rows[-1]
            last_key = prepared.field(last, SORT_COLUMNS[request.sort_by].key)
            last_id = prepared.field(last, "id")
            next_cursor = Cursor(request.sort_by, request.direction, last_key, last_id).encode()
        return total, rows, next_cursor

    async def list(self, request: ProductPageRequest) -> ProductPage:
        total, rows, next_cursor = await self._page_rows("rows", request)
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
        # One statement: the page's ids and their stored documents (stored.py); a second one
        # builds those not stored, or changed since, if any.
        total, rows, next_cursor = await self._page_rows("documents", request)
        documents = {row[0]: (row[4], row[2]) for row in rows if row[4] is not None}
        missing = [row[0] for row in rows if row[4] is None]
        if missing:
            documents.update(await self.documents(missing, none_stored=True))
        return IdPage([row[0] for row in rows], total, next_cursor).with_documents(documents)

    async def page_ids(self, request: ProductPageRequest) -> IdPage:
        """The page's product ids, in order, without their documents (PostgreSQL)."""
        # Only what the sort's index holds: (key, id), all a page of ids and its cursor need.
        total, rows, next_cursor = await self._page_rows("ids", request)
        return IdPage([row[0] for row in rows], total, next_cursor)

    async def documents(
        self, product_ids: Sequence[int], *, none_stored: bool = False
    ) -> dict[int, tuple[bytes, int]]:
        """{id: (ProductDetail JSON, version)} of the live products among `product_ids`
        (`none_stored`: their stored documents were just found missing or not current)."""
        if not product_ids:
            return {}
        async with autocommit_reads(self.session) as reads:  # Core: plain rows
            return await read_documents(reads, product_ids, none_stored=none_stored)

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
