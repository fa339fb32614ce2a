"""/api/v1/smart-collections: CRUD, manual order, and the matching products."""

from __future__ import annotations

import orjson
from fastapi import Response

from shopdb.catalog.auth import ProductsRead, ProductsWrite
from shopdb.catalog.read_model.schemas import ProductDetail
from shopdb.collections import service
from shopdb.collections.schemas import (
    CollectionCreate,
    CollectionOut,
    CollectionUpdate,
    ManualOrder,
    rule_out,
)
from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.models import SmartCollection

router = domain_router("/smart-collections", tags=["collections"])


def collection_out(collection: SmartCollection) -> CollectionOut:
    return CollectionOut(
        id=collection.id,
        title=collection.title,
        handle=collection.handle,
        body_html=collection.body_html,
        rules=[rule_out(r) for r in collection.rules or []],
        disjunctive=collection.disjunctive_rules,
        sort_order=collection.sort_order,
        published_at=collection.published_at,
        created_at=collection.created_at,
        updated_at=collection.updated_at,
    )


@router.get("", response_model=Page[CollectionOut])
async def list_collections(
    session: SessionDep,
    _: ProductsRead,
    page: PageQuery,
) -> Page[CollectionOut]:
    """By id."""
    found = await service.list_collections(session, page)
    return Page[CollectionOut](
        items=[collection_out(c) for c in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.post("", status_code=201, response_model=CollectionOut)
async def create_collection(
    session: SessionDep, subject: ProductsWrite, data: CollectionCreate
) -> CollectionOut:
    """Rules are `{column, relation, condition}` (plus `conditionObjectId`, the metafield
    definition, for the metafield definition columns); an impossible rule is a 400."""
    return collection_out(await service.create_collection(session, data, actor=subject.principal))


@router.get("/{collection_id}", response_model=CollectionOut)
async def get_collection(session: SessionDep, _: ProductsRead, collection_id: int) -> CollectionOut:
    return collection_out(await service.get_collection(session, collection_id))


@router.put("/{collection_id}", response_model=CollectionOut)
async def update_collection(
    session: SessionDep, subject: ProductsWrite, collection_id: int, data: CollectionUpdate
) -> CollectionOut:
    collection = await service.update_collection(
        session, collection_id, data, actor=subject.principal
    )
    return collection_out(collection)


@router.delete("/{collection_id}", status_code=204, response_class=Response)
async def delete_collection(
    session: SessionDep, subject: ProductsWrite, collection_id: int
) -> Response:
    await service.delete_collection(session, collection_id, actor=subject.principal)
    return Response(status_code=204)


@router.put("/{collection_id}/order", response_model=CollectionOut)
async def order_collection(
    session: SessionDep, subject: ProductsWrite, collection_id: int, data: ManualOrder
) -> CollectionOut:
    """Store a manual order (and switch `sortOrder` to `manual`); unlisted products follow."""
    collection = await service.set_manual_order(
        session, collection_id, data.product_ids, actor=subject.principal
    )
    return collection_out(collection)


@router.get("/{collection_id}/products", response_model=Page[ProductDetail])
async def list_collection_products(
    session: SessionDep,
    _: ProductsRead,
    collection_id: int,
    page: PageQuery,
    services: ServicesDep,
) -> Response:
    """The products matching the rules now, in the collection's sort order (a cursor is
    refused once the collection's sort order has changed)."""
    found = await service.collection_product_documents(
        session,
        collection_id,
        page,
        cache=services.collection_cache,
        product_cache=services.product_cache,
    )
    # The items are product documents already (cached ones as they were stored).
    envelope = {
        "items": [orjson.Fragment(item) for item in found.items],
        "totalCount": found.total,
        "page": page.page,
        "pageSize": page.page_size,
        "nextCursor": found.next_cursor,
    }
    return Response(orjson.dumps(envelope), media_type="application/json")
