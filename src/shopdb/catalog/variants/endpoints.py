"""/api/v1/products/{id}/variants and /api/v1/variants/{id}."""

from __future__ import annotations

from fastapi import Response

from shopdb.catalog.auth import ProductsRead, ProductsWrite
from shopdb.catalog.products.service import get_product
from shopdb.catalog.read_model.presenters import variant_of
from shopdb.catalog.read_model.schemas import VariantOut
from shopdb.catalog.variants import service as variants
from shopdb.catalog.variants.schemas import VariantCreate, VariantUpdate
from shopdb.dependencies import SessionDep
from shopdb.kit.etags import etag
from shopdb.kit.parameters import IfMatch
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router

product_variants_router = domain_router("/products", tags=["variants"])
router = domain_router("/variants", tags=["variants"])


@product_variants_router.get("/{product_id}/variants", response_model=list[VariantOut])
async def list_variants(session: SessionDep, _: ProductsRead, product_id: int) -> list[VariantOut]:
    product = await get_product(session, product_id)
    return [variant_of(v) for v in product.variants]


@product_variants_router.post("/{product_id}/variants", status_code=201, response_model=VariantOut)
async def create_variant(
    session: SessionDep, subject: ProductsWrite, product_id: int, data: VariantCreate
) -> Response:
    """Add a variant; its options must be values of the product's options, and new."""
    variant = await variants.create_variant(session, product_id, data, actor=subject.principal)
    return model_response(
        variant_of(variant), status_code=201, headers={"ETag": etag(variant.version)}
    )


@router.get("/{variant_id}", response_model=VariantOut)
async def get_variant(session: SessionDep, _: ProductsRead, variant_id: int) -> Response:
    variant = await variants.get_variant(session, variant_id)
    return model_response(variant_of(variant), headers={"ETag": etag(variant.version)})


@router.put("/{variant_id}", response_model=VariantOut)
async def update_variant(
    session: SessionDep,
    subject: ProductsWrite,
    variant_id: int,
    data: VariantUpdate,
    if_match: IfMatch = None,
) -> Response:
    variant = await variants.update_variant(
        session, variant_id, data, if_match=if_match, actor=subject.principal
    )
    return model_response(variant_of(variant), headers={"ETag": etag(variant.version)})


@router.delete("/{variant_id}", status_code=204, response_class=Response)
async def delete_variant(
    session: SessionDep, subject: ProductsWrite, variant_id: int, if_match: IfMatch = None
) -> Response:
    await variants.delete_variant(session, variant_id, if_match=if_match, actor=subject.principal)
    return Response(status_code=204)
