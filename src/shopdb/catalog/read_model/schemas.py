"""The product document: what every read of a product returns (the seed's ProductDetailDto).

Built from ORM rows or plain rows by presenters.py, and by PostgreSQL itself (documents.py,
proven equal to these models by tests/catalog/test_documents.py).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from shopdb.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Direction
from shopdb.kit.parameters import MAX_PAGE_NUMBER
from shopdb.kit.schemas import CamelModel
from shopdb.kit.types import UTCTimestamp

ProductStatus = Literal["active", "draft", "archived", "unlisted"]
SortBy = Literal["title", "created", "updated"]


class VariantOut(CamelModel):
    id: int
    product_id: int
    title: str
    price: Decimal
    compare_at_price: Decimal | None
    sku: str | None
    barcode: str | None
    position: int
    option1: str | None
    option2: str | None
    option3: str | None
    weight: Decimal | None
    weight_unit: str | None
    inventory_quantity: int
    inventory_policy: str
    taxable: bool
    requires_shipping: bool
    inventory_item_id: int | None
    created_at: datetime
    updated_at: datetime


class OptionOut(CamelModel):
    id: int
    name: str
    position: int
    values: list[str]


class ImageOut(CamelModel):
    id: int
    product_id: int
    position: int
    alt: str | None
    src: str | None
    content_type: str | None
    size_bytes: int | None
    width: int | None
    height: int | None
    # `processing` while an image created from a URL is downloaded, then `ready`, or `failed`
    # with Shopify's media error code and a message.
    status: str
    error_code: str | None
    error_message: str | None
    # The first of variant_ids, kept from when an image had one variant.
    variant_id: int | None
    variant_ids: list[int]
    created_at: datetime
    updated_at: datetime


class MetafieldSummary(CamelModel):
    id: int
    namespace: str
    key: str
    type: str
    value: str | None


class ProductDetail(CamelModel):
    id: int
    title: str
    handle: str
    body_html: str | None
    vendor: str | None
    product_type: str | None
    status: str
    tags: str | None
    product_category: str | None
    gift_card: bool
    seo_title: str | None
    seo_description: str | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    variants: list[VariantOut]
    options: list[OptionOut]
    images: list[ImageOut]
    # Present only with ?include=metafields.
    metafields: list[MetafieldSummary] | None = None


class ProductFilterQuery(CamelModel):
    """The filters of a product list or count, as query parameters."""

    model_config = ConfigDict(extra="ignore")

    vendor: str | None = None
    product_type: str | None = None
    status: ProductStatus | None = None
    tag: str | None = None
    q: Annotated[str | None, Field(max_length=255)] = None
    created_at_min: UTCTimestamp | None = None
    created_at_max: UTCTimestamp | None = None
    updated_at_min: UTCTimestamp | None = None
    updated_at_max: UTCTimestamp | None = None


class ProductListQuery(ProductFilterQuery):
    """The list's query string as one model: FastAPI resolves one parameter instead of 16
    (resolving each cost more CPU than serving a cached page)."""

    sort_by: SortBy = "updated"
    sort_direction: Direction | None = None
    page: Annotated[int, Field(ge=1, le=MAX_PAGE_NUMBER)] = 1
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE
    cursor: Annotated[str | None, Field(max_length=2048)] = None
    # Counting reads every matching product: only on request (kit.parameters.WithTotal).
    with_total: bool = False


CountPrecision = Literal["exact", "at_least"]


class ProductCount(CamelModel):
    """How many products match, exactly up to a cap (Shopify's productsCount: EXACT or
    AT_LEAST), so that a count never reads a whole large catalog."""

    count: int
    precision: CountPrecision
