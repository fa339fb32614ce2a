"""Reading products as JSON documents: detail and list pages, through the cache when there is one.

Without a cache, a page is one index range scan of its ids (page size + 1 rows, whatever the
catalog's size: every filter and sort has its index, migrations 0004, 0012 and 0016) and one
statement that builds their documents. Totals are counted only when asked (`withTotal`).

With a cache (PostgreSQL + Redis, see cache.py):
- a detail is a document from Redis, or built by PostgreSQL and stored;
- a page (offset or cursor) is kept as its ids and next cursor, keyed by everything that
  decides them, under the listing generations it depends on; a miss is read once however many
  requests miss it together;
- the documents of a page come from Redis, and only the missing ones are built, in one SELECT.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import product_not_found
from shopdb.catalog.read_model.cache import ProductDocumentCache
from shopdb.catalog.read_model.repository import (
    DocumentPage,
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
from shopdb.kit.pagination import Cursor, Direction, check_offset_depth


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

    async def build(ids: list[int]) -> dict[int, tuple[bytes, int]]:
        built = {i: await repository.get_document(i) for i in ids}
        return {i: document for i, document in built.items() if document is not None}

    # A miss is built once however many requests of this worker miss it together.
    found = (await cache.read_through(session, [product_id], build)).get(product_id)
    if found is None:
        raise product_not_found(product_id)
    return found


# Where counts stop being exact: Shopify's productsCount limit.
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

    Offset pages stop at kit.pagination.MAX_OFFSET products (Shopify stopped offering page
    numbers for the same reason): reading past them costs the database every row before the
    page. Deeper pages are read by cursor, at the same cost as the first.
    """
    direction = query.sort_direction or DEFAULT_DIRECTION[query.sort_by]
    keyset = None
    if query.cursor:
        keyset = Cursor.decode(query.cursor)
        keyset.check_matches(query.sort_by, direction, key_type=CURSOR_KEY_TYPES[query.sort_by])
    else:
        check_offset_depth(query.page, query.page_size)
    return ProductPageRequest(
        product_filter(query),
        query.sort_by,
        direction,
        query.page,
        query.page_size,
        keyset,
        with_total=query.with_total,
    )


async def count_products(session: AsyncSession, query: ProductFilterQuery) -> ProductCount:
    """How many live products match, exact up to COUNT_CAP, else "at least COUNT_CAP"."""
    found = await ProductReadRepository(session).count(product_filter(query), cap=COUNT_CAP)
    if found > COUNT_CAP:
        return ProductCount(count=COUNT_CAP, precision="at_least")
    return ProductCount(count=found, precision="exact")


def _key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def page_key(request: ProductPageRequest) -> str:
    """The cache key of one list request: everything that decides which ids it returns."""
    cursor = request.cursor.encode() if request.cursor is not None else ""
    parts = (request.filters, request.sort_by, request.direction, request.page, request.page_size)
    return _key(*parts, cursor, request.with_total)


def depends_on_update_times(request: ProductPageRequest) -> bool:
    """Whether any product write may change the page (its order or filter is the update time),
    not only writes of what lists filter on (cache.py's two listing generations)."""
    filters = request.filters
    return (
        request.sort_by == "updated"
        or filters.updated_at_min is not None
        or filters.updated_at_max is not None
    )


async def list_products(
    session: AsyncSession, request: ProductPageRequest, cache: ProductDocumentCache | None = None
) -> DocumentPage:
    """A page of product documents (see the module docstring for the cached path)."""
    repository = ProductReadRepository(session)
    if cache is None or not cache.usable() or not repository.builds_documents():
        return await repository.list_documents(request)
    key = page_key(request)
    cached = await cache.lookup_page(key, by_update=depends_on_update_times(request))
    page = cached.page
    if page is None:
        page = await cache.fill_page(session, key, cached, lambda: repository.page_ids(request))
    return page.with_documents(await cache.read_through(session, page.ids, repository.documents))


async def product_documents_in_order(
    session: AsyncSession, product_ids: Sequence[int], cache: ProductDocumentCache | None = None
) -> list[bytes]:
    """The live products' documents (JSON, without metafields) in the order given; missing
    ids are skipped. Through the cache when there is one (collections' pages use it)."""
    repository = ProductReadRepository(session)
    if not repository.builds_documents():
        details = await repository.details_in_order(product_ids)
        return [d.model_dump_json(by_alias=True, exclude={"metafields"}).encode() for d in details]
    if cache is None or not cache.usable():
        documents = await repository.documents(product_ids)
    else:
        documents = await cache.read_through(session, product_ids, repository.documents)
    return [documents[i][0] for i in product_ids if i in documents]


async def products_in_order(
    session: AsyncSession, product_ids: Sequence[int]
) -> list[ProductDetail]:
    """ProductDetails for the ids, in the order given (missing ids are skipped)."""
    return await ProductReadRepository(session).details_in_order(product_ids)
