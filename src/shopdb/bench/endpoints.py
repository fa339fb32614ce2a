"""The HTTP stack's ceiling: an authenticated GET that answers a constant product-detail body.

Mounted only when SHOPDB_BENCH_ROUTES=true. It goes through everything a catalog read goes
through (middleware, bearer or API-key authentication, permission check, the unit-of-work
route) except the database and serialisation, so catalog req/s divided by this route's req/s
is the share of the stack's capacity the catalog code leaves.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Response

from shopdb.auth.dependencies import Authenticator, Subject
from shopdb.kit.routing import domain_router

router = domain_router("/bench", tags=["bench"])

BenchRead = Annotated[Subject, Depends(Authenticator({"products:read"}))]


def _variant(position: int, size: str, color: str) -> dict[str, Any]:
    return {
        "id": 100_000 + position,
        "productId": 4242,
        "title": f"{size} / {color}",
        "price": "48.00",
        "compareAtPrice": "60.00",
        "sku": f"BN-0004242-{position:02d}",
        "barcode": "736211409921",
        "inventoryQuantity": 412,
        "inventoryItemId": 200_000 + position,
        "option1": size,
        "option2": color,
        "option3": None,
        "weight": "1.20",
        "weightUnit": "kg",
        "position": position,
        "inventoryPolicy": "deny",
        "taxable": True,
        "requiresShipping": True,
        "createdAt": "2025-03-14T09:26:53Z",
        "updatedAt": "2025-04-02T17:45:10Z",
    }


# Shaped and sized like a seeded product's detail (3 variants, 2 options, tags, one image).
PRODUCT_DETAIL: dict[str, Any] = {
    "id": 4242,
    "title": "Coastal Linen Backpack",
    "handle": "coastal-linen-backpack-4242",
    "bodyHtml": (
        "<p>Coastal backpack in linen, by Summit Gear. Made for travel days and built to last.</p>"
    ),
    "vendor": "Summit Gear",
    "productType": "Bags",
    "status": "active",
    "tags": "bestseller, eco, sale, travel",
    "publishedAt": "2025-03-14T09:26:53Z",
    "createdAt": "2025-03-14T09:26:53Z",
    "updatedAt": "2025-04-02T17:45:10Z",
    "version": 3,
    "variants": [_variant(1, "S", "Olive"), _variant(2, "S", "Sand"), _variant(3, "M", "Olive")],
    "options": [
        {"id": 300_001, "name": "Size", "position": 1, "values": ["S", "M"]},
        {"id": 300_002, "name": "Color", "position": 2, "values": ["Olive", "Sand"]},
    ],
    "images": [
        {
            "id": 400_001,
            "position": 1,
            "alt": "Coastal Linen Backpack",
            "src": "https://cdn.shopdb.example/bench/coastal-linen-backpack-4242-1.jpg",
            "width": 1200,
            "height": 1200,
            "variantId": None,
        }
    ],
}
BODY = orjson.dumps(PRODUCT_DETAIL)


@router.get("/ceiling", include_in_schema=False)
async def read_ceiling(_subject: BenchRead) -> Response:
    return Response(content=BODY, media_type="application/json")
