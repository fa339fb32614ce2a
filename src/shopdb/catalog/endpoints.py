"""/api/v1/products: list, read, create, replace, delete."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import orjson
from fastapi import Header, Query, Response
from pydantic import ConfigDict, Field

from shopdb.catalog import reads, service
from shopdb.catalog.auth import ProductsDelete, ProductsRead, ProductsWrite
from shopdb.catalog.presenters import product_detail
from shopdb.catalog.repository import ProductFilter, ProductPageRequest, SortBy
from shopdb.catalog.schemas import ProductCreate, ProductDetail, ProductStatus, ProductUpdate
from shopdb.db import SessionDep
from shopdb.errors import Forbidden, ValidationFailed
from shopdb.idempotency import idempotent
from shopdb.kit.etags import etag
from shopdb.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Cursor, Direction
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import CamelModel, Page
from shopdb.services import ServicesDep

router = domain_router("/products", tags=["products"])

# The seed's defaults: newest update first; title and creation date ascending unless asked.
DEFAULT_DIRECTION: dict[str, Direction] = {"title": "asc", "created": "asc", "updated": "desc"}
CURSOR_KEY_TYPES: dict[str, type] = {"title": str, "created": datetime, "updated": datetime}
NO_METAFIELDS = {"metafields"}


def _aware(value: datetime | None) -> datetime | None:
    """Query timestamps without an offset are taken as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _includes(include: str | None) -> set[str]:
    parts = {p.strip() for p in (include or "").split(",") if p.strip()}
    unknown = parts - {"metafields"}
    if unknown:
        raise ValidationFailed.on("include", f"unknown value(s): {', '.join(sorted(unknown))}")
    return parts


class ProductListQuery(CamelModel):
    """The list's query string as one model: FastAPI resolves one parameter instead of 16
    (resolving each cost more CPU than serving a cached page)."""

    model_config = ConfigDict(extra="ignore")

    vendor: str | None = None
    product_type: str | None = None
    status: ProductStatus | None = None
    tag: str | None = None
    q: Annotated[str | None, Field(max_length=255)] = None
    created_at_min: datetime | None = None
    created_at_max: datetime | None = None
    updated_at_min: datetime | None = None
    updated_at_max: datetime | None = None
    sort_by: SortBy = "updated"
    sort_direction: Direction | None = None
    page: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE
    cursor: Annotated[str | None, Field(max_length=2048)] = None


@router.get("", response_model=Page[ProductDetail])
async def list_products(
    session: SessionDep,
    _: ProductsRead,
    services: ServicesDep,
    query: Annotated[ProductListQuery, Query()],
) -> Response:
    """Products, filtered and sorted; page by `page` or, for deep pages, by `cursor`."""
    direction = query.sort_direction or DEFAULT_DIRECTION[query.sort_by]
    keyset = None
    if query.cursor:
        keyset = Cursor.decode(query.cursor)
        keyset.check_matches(query.sort_by, direction, key_type=CURSOR_KEY_TYPES[query.sort_by])
    filters = ProductFilter(
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
    page, page_size = query.page, query.page_size
    request = ProductPageRequest(filters, query.sort_by, direction, page, page_size, keyset)
    found = await reads.list_products(session, request, services.product_cache)
    # The items are JSON documents already (see catalog/documents.py); only the envelope is built.
    envelope = {
        "items": [orjson.Fragment(item) for item in found.items],
        "totalCount": found.total,
        "page": page,
        "pageSize": page_size,
        "nextCursor": found.next_cursor,
    }
    return Response(orjson.dumps(envelope), media_type="application/json")


@router.post("", status_code=201, response_model=ProductDetail)
@idempotent
async def create_product(
    session: SessionDep, subject: ProductsWrite, data: ProductCreate
) -> Response:
    product = await service.create_product(session, data, actor=subject.principal)
    return model_response(
        product_detail(product),
        status_code=201,
        headers={"ETag": etag(product.version), "Location": f"/api/v1/products/{product.id}"},
        exclude=NO_METAFIELDS,
    )


@router.get("/{product_id}", response_model=ProductDetail)
async def get_product(
    session: SessionDep,
    subject: ProductsRead,
    services: ServicesDep,
    product_id: int,
    include: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """One product with variants, options, images and tags; `?include=metafields` adds those
    (which needs `metafields:read` too, as /metafields does)."""
    if "metafields" not in _includes(include):
        document, version = await reads.get_product_document(
            session, product_id, services.product_cache
        )
        return Response(document, media_type="application/json", headers={"ETag": etag(version)})
    if not subject.can("metafields:read"):
        raise Forbidden(
            "Missing permission: metafields:read",
            [{"field": "include", "message": "metafields need metafields:read"}],
        )
    from shopdb.metafields.service import metafields_of

    product = await service.get_product(session, product_id)
    metafields = await metafields_of(session, "products", product.id)
    return model_response(
        product_detail(product, metafields), headers={"ETag": etag(product.version)}
    )


@router.put("/{product_id}", response_model=ProductDetail)
async def update_product(
    session: SessionDep,
    subject: ProductsWrite,
    product_id: int,
    data: ProductUpdate,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    """Replace fields; `variants`/`options` replace those sets. If-Match avoids lost updates."""
    product = await service.update_product(
        session, product_id, data, if_match=if_match, actor=subject.principal
    )
    return model_response(
        product_detail(product), headers={"ETag": etag(product.version)}, exclude=NO_METAFIELDS
    )


@router.delete("/{product_id}", status_code=204, response_class=Response)
async def delete_product(
    session: SessionDep,
    subject: ProductsDelete,
    product_id: int,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> Response:
    """Soft delete: the product disappears from the API; orders keep their references."""
    await service.delete_product(session, product_id, if_match=if_match, actor=subject.principal)
    return Response(status_code=204)
