"""Reading products as JSON documents: detail and list pages, through the cache when there is one.

With a cache (PostgreSQL + Redis, see cache.py):
- a detail is a document from Redis, or built by PostgreSQL and stored;
- an offset page (`page=N`) is a slice of the ordered id list of its filters and sort, kept in
  Redis as one string: every page of a filter, at any depth, costs one GETRANGE once the list
  has been read (one SELECT of ids) after the last listing change;
- a cursor page is cached as it is (its ids, total and next cursor), keyed by the cursor;
- the documents of a page come from Redis, and only the missing ones are built, in one SELECT.

While the cache is bypassed (a Redis error, cache.py), reads take the path without a cache: a
page is then paged by PostgreSQL rather than sliced from a whole id list read for nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import product_not_found
from shopdb.catalog.read_model.cache import ProductDocumentCache, unpack_ids
from shopdb.catalog.read_model.repository import (
    DocumentPage,
    IdPage,
    ProductFilter,
    ProductPageRequest,
    ProductReadRepository,
)
from shopdb.catalog.read_model.schemas import (
    ProductCount,
    ProductDetail,
    ProductFilterQuery,
    ProductListQuery,
)
from shopdb.errors import ValidationFailed
from shopdb.kit.pagination import Cursor, Direction, offset_for

# Longer lists are paged in PostgreSQL and cached page by page: 200k ids are 1.6 MB in Redis.
MAX_CACHED_IDS = 200_000
ID_BYTES = 8
# Where the sort key of a page's last product is in its document (for the next cursor).
DOCUMENT_SORT_FIELDS = {"title": "title", "created": "createdAt", "updated": "updatedAt"}


async def get_product_document(
    session: AsyncSession, product_id: int, cache: ProductDocumentCache | None = None
) -> tuple[bytes, int]:
    """A live product's detail as JSON bytes, and its version (the ETag).

    With a cache, a current cached document is returned without touching the database.
    """
    repository = ProductReadRepository(session)
    if cache is None or not cache.usable():
        found = await repository.get_document(product_id)
        if found is None:
            raise product_not_found(product_id)
        return found
    lookup = await cache.lookup([product_id])
    hit = lookup.hits.get(product_id)
    if hit is not None:
        return hit
    found = await repository.get_document(product_id)
    if found is None:
        raise product_not_found(product_id)
    await cache.store(session, lookup, {product_id: found})
    return found


# The deepest an offset page may reach (page x pageSize), and where counts stop being exact:
# Shopify's productsCount limit.
MAX_OFFSET = 10_000
COUNT_CAP = 10_000

# The seed's defaults: newest update first; title and creation date ascending unless asked.
DEFAULT_DIRECTION: dict[str, Direction] = {"title": "asc", "created": "asc", "updated": "desc"}
CURSOR_KEY_TYPES: dict[str, type] = {"title": str, "created": datetime, "updated": datetime}


def _aware(value: datetime | None) -> datetime | None:
    """Query timestamps without an offset are taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def product_filter(query: ProductFilterQuery) -> ProductFilter:
    return ProductFilter(
        vendor=query.vendor,
        product_type=query.product_type,
        status=query.status,
        tag=query.tag,
        q=query.q.strip() if query.q else None,
        created_at_min=_aware(query.created_at_min),
        created_at_max=_aware(query.created_at_max),
        updated_at_min=_aware(query.updated_at_min),
        updated_at_max=_aware(query.updated_at_max),
    )


def page_request(query: ProductListQuery) -> ProductPageRequest:
    """The page a list query asks for; a cursor must match the query's sort (400 otherwise).

    Offset pages stop at MAX_OFFSET products (Shopify stopped offering page numbers for the
    same reason): reading past them costs the database every row before the page. Deeper
    pages are read by cursor, at the same cost as the first.
    """
    direction = query.sort_direction or DEFAULT_DIRECTION[query.sort_by]
    keyset = None
    if query.cursor:
        keyset = Cursor.decode(query.cursor)
        keyset.check_matches(query.sort_by, direction, key_type=CURSOR_KEY_TYPES[query.sort_by])
    elif offset_for(query.page, query.page_size) + query.page_size > MAX_OFFSET:
        raise ValidationFailed.on(
            "page",
            f"offset pages reach the first {MAX_OFFSET:,} products; page further with `cursor`"
            " (each page's nextCursor)",
        )
    return ProductPageRequest(
        product_filter(query), query.sort_by, direction, query.page, query.page_size, keyset
    )


async def count_products(session: AsyncSession, query: ProductFilterQuery) -> ProductCount:
    """How many live products match, exact up to COUNT_CAP, else "at least COUNT_CAP"."""
    found = await ProductReadRepository(session).count(product_filter(query), cap=COUNT_CAP)
    if found > COUNT_CAP:
        return ProductCount(count=COUNT_CAP, precision="at_least")
    return ProductCount(count=found, precision="exact")


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def list_key(request: ProductPageRequest) -> str:
    """The cache key of a filter and sort: every offset page of it slices the same id list."""
    return _key("ids", request.filters, request.sort_by, request.direction)


def page_key(request: ProductPageRequest) -> str:
    """The cache key of one list request: everything that decides which ids it returns."""
    cursor = request.cursor.encode() if request.cursor is not None else ""
    parts = (request.filters, request.sort_by, request.direction, request.page, request.page_size)
    return _key(*parts, cursor)


async def list_products(
    session: AsyncSession, request: ProductPageRequest, cache: ProductDocumentCache | None = None
) -> DocumentPage:
    """A page of product documents (see the module docstring for the cached path)."""
    repository = ProductReadRepository(session)
    if cache is None or not cache.usable() or not repository.builds_documents():
        return await repository.list_documents(request)
    page, more = None, False
    if request.cursor is None:
        sliced = await _offset_page_from_ids(session, repository, cache, request)
        if sliced is not None:
            page, more = sliced
    if page is None:
        key = page_key(request)
        cached = await cache.lookup_page(key)
        page = cached.page
        if page is None:
            page = await repository.page_ids(request)
            await cache.store_page(session, key, cached, page)
    lookup = await cache.lookup(page.ids)
    built = await repository.documents([i for i in page.ids if i not in lookup.hits])
    await cache.store(session, lookup, built)
    documents = lookup.hits | built
    found = page.with_documents(documents)
    if more:
        found = replace(found, next_cursor=_cursor_after(request, page.ids, documents))
    return found


async def _offset_page_from_ids(
    session: AsyncSession,
    repository: ProductReadRepository,
    cache: ProductDocumentCache,
    request: ProductPageRequest,
) -> tuple[IdPage, bool] | None:
    """(the page, whether another follows) sliced from the filter's cached id list; None
    when the list is too long to cache."""
    key = list_key(request)
    start = offset_for(request.page, request.page_size)
    stop = start + request.page_size + 1  # one more tells whether a next page exists
    found = await cache.lookup_ids(key, start, stop)
    ids, total = found.ids, found.total
    if ids is None:
        every = await repository.packed_ids(request, limit=MAX_CACHED_IDS + 1)
        total = len(every) // ID_BYTES
        if total > MAX_CACHED_IDS:
            return None
        await cache.store_ids(session, key, found, every)
        ids = unpack_ids(every[start * ID_BYTES : stop * ID_BYTES])
    return IdPage(ids[: request.page_size], total, None), len(ids) > request.page_size


def _cursor_after(
    request: ProductPageRequest, ids: list[int], documents: dict[int, tuple[bytes, int]]
) -> str | None:
    """The cursor after the page's last product, its sort key read from its document."""
    last = next((i for i in reversed(ids) if i in documents), None)
    if last is None:
        return None
    value = orjson.loads(documents[last][0])[DOCUMENT_SORT_FIELDS[request.sort_by]]
    key = value if request.sort_by == "title" else datetime.fromisoformat(value)
    return Cursor(request.sort_by, request.direction, key, last).encode()


async def products_in_order(
    session: AsyncSession, product_ids: Sequence[int]
) -> list[ProductDetail]:
    """ProductDetails for the ids, in the order given (missing ids are skipped)."""
    return await ProductReadRepository(session).details_in_order(product_ids)
