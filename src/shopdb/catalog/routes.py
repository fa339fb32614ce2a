"""The catalog's routers in mounting order: fixed paths before `/{id}` patterns."""

from __future__ import annotations

from fastapi import APIRouter


def catalog_routers() -> list[APIRouter]:
    from shopdb.catalog.endpoints import router as products_router
    from shopdb.catalog.image_endpoints import router as images_router
    from shopdb.catalog.import_endpoints import router as import_router
    from shopdb.catalog.variant_endpoints import product_variants_router
    from shopdb.catalog.variant_endpoints import router as variants_router
    from shopdb.collections.endpoints import router as collections_router
    from shopdb.metafields.endpoints import definitions_router
    from shopdb.metafields.endpoints import router as metafields_router

    return [
        import_router,
        products_router,
        product_variants_router,
        images_router,
        variants_router,
        collections_router,
        metafields_router,
        definitions_router,
    ]
