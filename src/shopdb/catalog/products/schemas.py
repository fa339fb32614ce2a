"""What a client sends to create or replace a product (the seed's CreateProductDto), options and
variants included; and the query of a product list."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from shopdb.catalog.read_model.schemas import ProductStatus
from shopdb.catalog.rules import MAX_OPTIONS, MAX_VARIANTS
from shopdb.kit.schemas import InputModel

WeightUnit = Literal["g", "kg", "lb", "oz"]
InventoryPolicy = Literal["deny", "continue"]

# Money as the seed: Numeric(10, 2), never negative; JSON numbers or strings are accepted.
Price = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2, allow_inf_nan=False)]
# Up to six decimals of its unit (revision 0010): 155 g is 0.155 kg, 5 g is 0.011023 lb.
Weight = Annotated[Decimal, Field(ge=0, max_digits=15, decimal_places=6, allow_inf_nan=False)]
Text255 = Annotated[str, StringConstraints(max_length=255)]
Name255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Handle = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[a-z0-9-]+$")]
OptionValueText = Annotated[str, StringConstraints(min_length=1, max_length=255)]
BODY_HTML_MAX = 512 * 1024


def _utc(moment: datetime) -> datetime:
    """A time without an offset is UTC, as in the list filters."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
        raise ValueError("is out of range") from None


PublishedAt = Annotated[datetime, AfterValidator(_utc)]


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


# What ProductDetail shows that a product body does not set (images have their own endpoints).
PRODUCT_READ_ONLY = InputModel.read_only | {"images", "metafields"}


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
    # Shopify's product category, gift card flag and search engine listing.
    product_category: Annotated[str, StringConstraints(max_length=512)] | None = None
    gift_card: bool | None = None
    seo_title: Text255 | None = None
    seo_description: Annotated[str, StringConstraints(max_length=65_535)] | None = None
    # The count is checked by the service (VARIANT_LIMIT_EXCEEDED), not here.
    variants: list[VariantInput] = Field(min_length=1)
    options: list[OptionInput] = Field(default_factory=list, max_length=MAX_OPTIONS)
    # Publication is separate from status (Shopify's REST rule): published unless
    # `published: false` or `publishedAt: null`; `publishedAt` may date it in the past.
    published: bool | None = None
    published_at: PublishedAt | None = None


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
    # Shopify's product category, gift card flag and search engine listing.
    product_category: Annotated[str, StringConstraints(max_length=512)] | None = None
    gift_card: bool | None = None
    seo_title: Text255 | None = None
    seo_description: Annotated[str, StringConstraints(max_length=65_535)] | None = None
    variants: list[VariantReplace] | None = Field(default=None, min_length=1)
    options: list[OptionInput] | None = Field(default=None, max_length=MAX_OPTIONS)
    # `published: true` publishes (keeping an earlier date), false or `publishedAt: null`
    # unpublishes; left out, publication is unchanged whatever the status becomes.
    published: bool | None = None
    published_at: PublishedAt | None = None
