"""/api/v1/products: list, read, create, replace, delete."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Query, Response

from shopdb.catalog.auth import ProductsDelete, ProductsRead, ProductsWrite
from shopdb.catalog.products import service
from shopdb.catalog.products.schemas import ProductCreate, ProductUpdate
from shopdb.catalog.read_model import service as reads
from shopdb.catalog.read_model.presenters import product_detail_of
from shopdb.catalog.read_model.schemas import (
    ProductCount,
    ProductDetail,
    ProductFilterQuery,
    ProductListQuery,
)
from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.errors import Forbidden, ValidationFailed
from shopdb.idempotency import idempotent
from shopdb.kit.etags import etag
from shopdb.kit.parameters import IfMatch
from shopdb.kit.query import query_model
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page

router = domain_router("/products", tags=["products"])

NO_METAFIELDS = {"metafields"}


def _includes(include: str | None) -> set[str]:
    parts = {p.strip() for p in (include or "").split(",") if p.strip()}
    unknown = parts - {"metafields"}
    if unknown:
        raise ValidationFailed.on("include", f"unknown value(s): {', '.join(sorted(unknown))}")
    return parts


@router.get("", response_model=Page[ProductDetail])
async def list_products(
    session: SessionDep,
    _: ProductsRead,
    services: ServicesDep,
    query: Annotated[ProductListQuery, query_model(ProductListQuery)],
) -> Response:
    """Products, filtered and sorted; page by `page` (the first 10,000) or by `cursor`.
    `totalCount` is null unless `withTotal=true`; GET /products/count counts cheaply."""
    found = await reads.list_products(session, reads.page_request(query), services.product_cache)
    # The items are JSON documents already (read_model/documents.py): only the envelope is built.
    envelope = {
        "items": [orjson.Fragment(item) for item in found.items],
        "totalCount": found.total,
        "page": query.page,
        "pageSize": query.page_size,
        "nextCursor": found.next_cursor,
    }
    return Response(orjson.dumps(envelope), media_type="application/json")


@router.get("/count", response_model=ProductCount)
async def count_products(
    session: SessionDep,
    _: ProductsRead,
    query: Annotated[ProductFilterQuery, query_model(ProductFilterQuery)],
) -> ProductCount:
    """How many products match the list's filters: exact up to 10,000, then
    `{"count": 10000, "precision": "at_least"}` (as Shopify's productsCount)."""
    return await reads.count_products(session, query)


@router.post("", status_code=201, response_model=ProductDetail)
@idempotent
async def create_product(
    session: SessionDep, subject: ProductsWrite, data: ProductCreate
) -> Response:
    product = await service.create_product(session, data, actor=subject.principal)
    return model_response(
        product_detail_of(product),
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
        product_detail_of(product, metafields), headers={"ETag": etag(product.version)}
    )


@router.put("/{product_id}", response_model=ProductDetail)
async def update_product(
    session: SessionDep,
    subject: ProductsWrite,
    product_id: int,
    data: ProductUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Replace fields; `variants`/`options` replace those sets. If-Match avoids lost updates."""
    product = await service.replace_product(
        session, product_id, data, if_match=if_match, actor=subject.principal
    )
    # The product as GET shows it, read in this transaction (one statement on PostgreSQL):
    # the service leaves the details it did not change unloaded.
    document, version = await reads.get_product_document(session, product.id)
    return Response(document, media_type="application/json", headers={"ETag": etag(version)})


@router.delete("/{product_id}", status_code=204, response_class=Response)
async def delete_product(
    session: SessionDep,
    subject: ProductsDelete,
    product_id: int,
    if_match: IfMatch = None,
) -> Response:
    """Soft delete: the product disappears from the API; orders keep their references."""
    await service.delete_product(session, product_id, if_match=if_match, actor=subject.principal)
    return Response(status_code=204)
