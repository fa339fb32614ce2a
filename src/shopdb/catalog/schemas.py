"""Product, variant, option and image DTOs (the seed's CreateProductDto and ProductDetailDto)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from shopdb.kit.schemas import CamelModel, InputModel

ProductStatus = Literal["active", "draft", "archived"]
WeightUnit = Literal["g", "kg", "lb", "oz"]
InventoryPolicy = Literal["deny", "continue"]

# Money as the seed: Numeric(10, 2), never negative; JSON numbers or strings are accepted.
Price = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2, allow_inf_nan=False)]
Weight = Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=2, allow_inf_nan=False)]
Text255 = Annotated[str, StringConstraints(max_length=255)]
Name255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Handle = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[a-z0-9-]+$")]
OptionValueText = Annotated[str, StringConstraints(min_length=1, max_length=255)]
BODY_HTML_MAX = 512 * 1024
MAX_VARIANTS = 100
MAX_OPTIONS = 3


class OptionInput(InputModel):
    read_only = InputModel.read_only | {"position"}

    name: Name255
    values: list[OptionValueText] = Field(min_length=1, max_length=MAX_VARIANTS)


class VariantFields(InputModel):
    """What a variant carries, all optional (partial updates build on this)."""

    # What VariantOut shows and only shopdb writes: the title follows the option values,
    # stock moves through the inventory API.
    read_only = InputModel.read_only | {
        "product_id",
        "title",
        "inventory_item_id",
        "inventory_quantity",
        "admin_graphql_api_id",
    }

    price: Price | None = None
    compare_at_price: Price | None = None
    sku: Text255 | None = None
    barcode: Text255 | None = None
    option1: OptionValueText | None = None
    option2: OptionValueText | None = None
    option3: OptionValueText | None = None
    weight: Weight | None = None
    weight_unit: WeightUnit | None = None
    inventory_policy: InventoryPolicy | None = None
    taxable: bool | None = None
    requires_shipping: bool | None = None
    position: int | None = Field(default=None, ge=1, le=10_000)
    cost: Price | None = None


class VariantInput(VariantFields):
    """A variant of a product being created."""

    price: Price
    # Initial stock at the first active location; only for variants being created.
    inventory_quantity: int | None = Field(default=None, ge=0, le=1_000_000_000)


class VariantReplace(VariantFields):
    """A variant in a product PUT: `id` (or the same options) keeps an existing variant.

    `price` is required only for a variant that does not exist yet.
    """

    id: int | None = Field(default=None, ge=1)
    inventory_quantity: int | None = Field(default=None, ge=0, le=1_000_000_000)


class VariantCreate(VariantFields):
    price: Price
    inventory_quantity: int | None = Field(default=None, ge=0, le=1_000_000_000)


class VariantUpdate(VariantFields):
    pass


# What ProductDetail shows that a product body does not set (images have their own endpoints).
PRODUCT_READ_ONLY = InputModel.read_only | {"published_at", "images", "metafields"}


class ProductCreate(InputModel):
    read_only = PRODUCT_READ_ONLY

    title: Name255
    handle: Handle | None = None
    body_html: Annotated[str, StringConstraints(max_length=BODY_HTML_MAX)] | None = None
    vendor: Text255 | None = None
    product_type: Text255 | None = None
    status: ProductStatus = "active"
    # The seed's comma-separated string; also stored one row per tag in product_tags.
    tags: Annotated[str, StringConstraints(max_length=65_535)] | None = None
    variants: list[VariantInput] = Field(min_length=1, max_length=MAX_VARIANTS)
    options: list[OptionInput] = Field(default_factory=list, max_length=MAX_OPTIONS)


class ProductUpdate(InputModel):
    """PUT: fields sent replace the stored ones; `variants` and `options` replace the sets."""

    read_only = PRODUCT_READ_ONLY

    title: Name255 | None = None
    handle: Handle | None = None
    body_html: Annotated[str, StringConstraints(max_length=BODY_HTML_MAX)] | None = None
    vendor: Text255 | None = None
    product_type: Text255 | None = None
    status: ProductStatus | None = None
    tags: Annotated[str, StringConstraints(max_length=65_535)] | None = None
    variants: list[VariantReplace] | None = Field(
        default=None, min_length=1, max_length=MAX_VARIANTS
    )
    options: list[OptionInput] | None = Field(default=None, max_length=MAX_OPTIONS)


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
    variant_id: int | None
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
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    variants: list[VariantOut]
    options: list[OptionOut]
    images: list[ImageOut]
    # Present only with ?include=metafields.
    metafields: list[MetafieldSummary] | None = None
