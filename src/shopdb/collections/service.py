"""Smart collections: CRUD, the manual order, and the matching products."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import HandleTaken
from shopdb.catalog.read_model.schemas import ProductDetail
from shopdb.catalog.read_model.service import product_documents_in_order, products_in_order
from shopdb.catalog.rules import raise_if, slugify
from shopdb.collections.repository import CollectionRepository
from shopdb.collections.rules import ConditionDefinition, check_rules, definition_ids
from shopdb.collections.schemas import CollectionCreate, CollectionUpdate, Rule, rule_out
from shopdb.errors import NotFound
from shopdb.events.service import record_event
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import utcnow
from shopdb.metafields import service as metafields
from shopdb.models import SmartCollection

if TYPE_CHECKING:
    # The type only: the caches are handed in by the endpoint (Services).
    from shopdb.catalog.read_model.cache import DocumentCache


def _plain(rule: Rule) -> dict[str, Any]:
    """A rule as stored: `condition_object_id` only on the rules that name a definition."""
    plain: dict[str, Any] = {
        "column": rule.column,
        "relation": rule.relation,
        "condition": rule.condition,
    }
    if rule.condition_object_id is not None:
        plain["condition_object_id"] = rule.condition_object_id
    return plain


async def _definitions(
    session: AsyncSession, rules: Sequence[Mapping[str, Any]]
) -> dict[int, ConditionDefinition]:
    """The metafield definitions the rules name, as the rules module needs them."""
    ids = definition_ids(rules)
    if not ids:
        return {}
    return {
        d.id: ConditionDefinition(
            id=d.id,
            owner_type=d.owner_type,
            namespace=d.namespace,
            key=d.key,
            type=d.type,
            enabled=metafields.condition_enabled(d),
        )
        for d in await metafields.condition_definitions(session, ids)
    }


async def _rules(session: AsyncSession, rules: Sequence[Rule]) -> list[dict[str, Any]]:
    plain = [_plain(r) for r in rules]
    raise_if(check_rules(plain, await _definitions(session, plain)))
    return plain


def _body(collection: SmartCollection) -> dict[str, object]:
    return {
        "id": collection.id,
        "title": collection.title,
        "handle": collection.handle,
        "rules": [rule_out(r) for r in collection.rules or []],
        "disjunctive": collection.disjunctive_rules,
        "sortOrder": collection.sort_order,
    }


async def _handle(
    repository: CollectionRepository, given: str | None, title: str, except_id: int | None = None
) -> str:
    if given:
        if await repository.handle_taken(given, except_id):
            raise HandleTaken(given)
        return given
    base = slugify(title)
    taken = await repository.handles_like(base)
    suffix = 0
    handle = base
    while handle in taken:
        suffix += 1
        handle = f"{base}-{suffix}"
    return handle


async def list_collections(
    session: AsyncSession, request: PageRequest
) -> RowsPage[SmartCollection]:
    return await CollectionRepository(session).list(request)


async def get_collection(session: AsyncSession, collection_id: int) -> SmartCollection:
    collection = await CollectionRepository(session).get(collection_id)
    if collection is None:
        raise NotFound.resource("Smart collection", collection_id)
    return collection


async def create_collection(
    session: AsyncSession, data: CollectionCreate, *, actor: str | None
) -> SmartCollection:
    rules = await _rules(session, data.rules)
    repository = CollectionRepository(session)
    collection = SmartCollection(
        title=data.title,
        handle=await _handle(repository, data.handle, data.title),
        body_html=data.body_html,
        rules=rules,
        disjunctive_rules=data.disjunctive,
        sort_order=data.sort_order,
        published_at=utcnow() if data.published else None,
    )
    await repository.add(collection)
    record_event(
        session,
        topic="collections/create",
        subject_type="SmartCollection",
        subject_id=collection.id,
        body=_body(collection),
        actor=actor,
    )
    return collection


async def update_collection(
    session: AsyncSession, collection_id: int, data: CollectionUpdate, *, actor: str | None
) -> SmartCollection:
    collection = await get_collection(session, collection_id)
    repository = CollectionRepository(session)
    given = data.model_fields_set
    if data.rules is not None:
        collection.rules = await _rules(session, data.rules)
    if data.title is not None:
        collection.title = data.title
    if data.handle is not None and data.handle != collection.handle:
        collection.handle = await _handle(repository, data.handle, collection.title, collection.id)
    if "body_html" in given:
        collection.body_html = data.body_html
    if data.disjunctive is not None:
        collection.disjunctive_rules = data.disjunctive
    if data.sort_order is not None:
        collection.sort_order = data.sort_order
    if data.published is not None:
        if not data.published:
            collection.published_at = None
        elif collection.published_at is None:
            collection.published_at = utcnow()
    collection.updated_at = utcnow()
    await repository.flush()
    record_event(
        session,
        topic="collections/update",
        subject_type="SmartCollection",
        subject_id=collection.id,
        body=_body(collection),
        actor=actor,
    )
    return collection


async def delete_collection(
    session: AsyncSession, collection_id: int, *, actor: str | None
) -> None:
    collection = await get_collection(session, collection_id)
    collection.deleted_at = utcnow()
    await CollectionRepository(session).flush()
    record_event(
        session,
        topic="collections/delete",
        subject_type="SmartCollection",
        subject_id=collection.id,
        body={"id": collection.id, "handle": collection.handle},
        actor=actor,
    )


async def set_manual_order(
    session: AsyncSession, collection_id: int, product_ids: Sequence[int], *, actor: str | None
) -> SmartCollection:
    """Store positions for `manual` sorting (and switch to it), as Shopify's order.json."""
    collection = await get_collection(session, collection_id)
    repository = CollectionRepository(session)
    errors = []
    seen: set[int] = set()
    live = await repository.live_product_ids(product_ids)
    for i, pid in enumerate(product_ids):
        if pid in seen:
            errors.append({"field": f"productIds[{i}]", "message": "is listed twice"})
        elif pid not in live:
            errors.append({"field": f"productIds[{i}]", "message": "is not a product"})
        seen.add(pid)
    raise_if(errors)
    await repository.replace_positions(collection.id, product_ids)
    collection.sort_order = "manual"
    collection.updated_at = utcnow()
    await repository.flush()
    record_event(
        session,
        topic="collections/update",
        subject_type="SmartCollection",
        subject_id=collection.id,
        body={**_body(collection), "productIds": list(product_ids)},
        actor=actor,
    )
    return collection


async def collection_products(
    session: AsyncSession, collection_id: int, request: PageRequest
) -> RowsPage[ProductDetail]:
    collection = await get_collection(session, collection_id)
    found = await _product_ids(session, collection, request)
    products = await products_in_order(session, found.rows)
    return RowsPage(products, found.next_cursor, found.total)


async def _product_ids(
    session: AsyncSession, collection: SmartCollection, request: PageRequest
) -> RowsPage[int]:
    rules = collection.rules or []
    return await CollectionRepository(session).product_ids(
        collection, await _definitions(session, rules), request
    )


# --- the product pages through the collection cache (Services.collection_cache) -------------
#
# With a cache (PostgreSQL + Redis, catalog/read_model/cache.py's machinery, kind COLLECTIONS)
# a page is kept as its product ids under the collection cache's listing generations, and its
# products are the product cache's documents: a page served from the caches touches no
# database. collections/changes.py says what moves the generations; a page of a collection
# sorted by sales, or whose rules look at stock, also depends on `lu`, which stock moves and
# sales move too. Never stale: these pages have no staleness bound.


def _volatile(collection: SmartCollection) -> bool:
    """Whether the collection's pages depend on stock or units sold (moved by every order)."""
    on_stock = any(rule.get("column") == "variant_inventory" for rule in collection.rules or [])
    return on_stock or collection.sort_order == "best-selling"


def _collection_document(collection: SmartCollection) -> bytes:
    return orjson.dumps({"id": collection.id, "volatile": _volatile(collection)})


@dataclass(frozen=True)
class ProductDocuments:
    items: list[bytes]  # ProductDetail JSON without metafields
    total: int | None
    next_cursor: str | None


async def collection_product_documents(
    session: AsyncSession,
    collection_id: int,
    request: PageRequest,
    *,
    cache: DocumentCache | None = None,
    product_cache: DocumentCache | None = None,
) -> ProductDocuments:
    """A page of the products matching the collection now, in its sort order, as JSON."""
    if cache is None or not cache.usable():
        collection = await get_collection(session, collection_id)
        found = await _product_ids(session, collection, request)
        items = await product_documents_in_order(session, found.rows, product_cache)
        return ProductDocuments(items, found.total, found.next_cursor)

    async def build(_ids: list[int]) -> dict[int, tuple[bytes, int]]:
        found = await CollectionRepository(session).get(collection_id)
        return {} if found is None else {collection_id: (_collection_document(found), 0)}

    described = (await cache.read_through(session, [collection_id], build)).get(collection_id)
    if described is None:
        raise NotFound.resource("Smart collection", collection_id)

    async def read() -> tuple[Sequence[int], int | None, str | None]:
        collection = await get_collection(session, collection_id)
        found = await _product_ids(session, collection, request)
        return found.rows, found.total, found.next_cursor

    parts = (collection_id, request.page, request.page_size, request.cursor, request.with_total)
    key = hashlib.sha256(repr(parts).encode()).hexdigest()[:32]
    volatile = bool(orjson.loads(described[0])["volatile"])
    page = await cache.page(session, key, read, by_update=volatile)
    items = await product_documents_in_order(session, page.ids, product_cache)
    return ProductDocuments(items, page.total, page.next_cursor)
