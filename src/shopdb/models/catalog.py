"""Products and what hangs off them: variants, options, option values, tags, images."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from shopdb.kit.models import (
    Base,
    CreatedAtMixin,
    IdMixin,
    SoftDeleteMixin,
    TimestampMixin,
    VersionMixin,
)
from shopdb.kit.types import BigIntId, Money, UTCDateTime

if TYPE_CHECKING:
    from shopdb.models.inventory import InventoryItem

# `unlisted` (Shopify's): active, but left out of product lists unless asked for by status.
PRODUCT_STATUSES = ("active", "draft", "archived", "unlisted")
PRODUCT_STATUS_CHECK = "status IN ('active', 'draft', 'archived', 'unlisted')"
WEIGHT_QUANTUM = Decimal("0.000001")


def canonical_weight(value: Decimal) -> Decimal:
    """Trailing zeros dropped, but at least two decimals: 0.155, 0.25, 1.50, 3.00."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        return value
    normal = value.normalize()
    normal_exponent = normal.as_tuple().exponent
    assert isinstance(normal_exponent, int)
    return value.quantize(Decimal(1).scaleb(min(-2, normal_exponent)))


class ExactWeight(sa.Numeric[Decimal]):
    """A variant weight kept exactly as given (up to six decimals of its unit).

    The seed's DECIMAL(8,2) rounded an imported 155 g in kg to 0.16. The column is an
    unconstrained NUMERIC, so a value keeps the scale it was written with: its canonical form
    (above; `ProductVariant` writes nothing else), which the product document's text cast then
    shows exactly as the API does. The API refuses more than six decimals or fifteen digits.
    PostgreSQL hands the stored Decimal back as is (asyncpg's own NUMERIC type replaces this
    one there); SQLite stores a double, read back here to six decimals and the same form.
    """

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(asdecimal=True)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        parent = super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call]

        def process(value: Any) -> Any:
            if parent is not None:
                value = parent(value)
            if value is None:
                return None
            return canonical_weight(Decimal(value).quantize(WEIGHT_QUANTUM))

        return process


# `q` searches title, vendor and tags with a substring match (LIKE '%q%' on lower case), and SKUs
# likewise. PostgreSQL answers it from pg_trgm GIN indexes over these exact expressions; a
# tsvector index would only find whole words, not "shir" in "T-Shirt" or a SKU fragment, and
# SQLite's LIKE fallback then gives the same results. The SQL is literal (no bound parameters)
# because the planner only uses an expression index for a query expression that is identical;
# the parentheses are PostgreSQL's own rendering so that `alembic check` compares equal.
PRODUCT_SEARCH_SQL = (
    "lower((((title || ' ') || coalesce(vendor, '')) || ' ') || coalesce(tags, ''))"
)
VARIANT_SKU_SEARCH_SQL = "lower(sku)"
# A GIN index buffers new entries in a pending list that every search scans; every stock
# change adds its variant's SKU trigrams to it (migration 0004 says why), so keep it short.
SEARCH_INDEX_STORAGE = {"gin_pending_list_limit": 256}  # kB


LIVE_ROWS: dict[str, Any] = {
    "postgresql_where": sa.text("deleted_at IS NULL"),
    "sqlite_where": sa.text("deleted_at IS NULL"),
}


class Product(IdMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("handle"),
        CheckConstraint(PRODUCT_STATUS_CHECK, name="status"),
        Index("ix_products_handle", "handle"),
        Index("ix_products_vendor", "vendor"),
        Index("ix_products_product_type", "product_type"),
        Index("ix_products_status", "status"),
        Index("ix_products_created_at", "created_at"),
        Index("ix_products_updated_at", "updated_at"),
        # Keyset pagination walks (sort key, id) of live products; these make every page an
        # index range scan, and a whole sort order an index-only scan (migration 0005).
        Index("ix_products_title_id", "title", "id", **LIVE_ROWS),
        Index("ix_products_created_at_id", "created_at", "id", **LIVE_ROWS),
        Index("ix_products_updated_at_id", "updated_at", "id", **LIVE_ROWS),
        # A filtered list (vendor, status, type) in any sort walks only its filter's rows, in
        # order (migrations 0012 and 0016).
        *(
            Index(f"ix_products_{column}_{sort}_id", column, sort, "id", **LIVE_ROWS)
            for column in ("vendor", "status", "product_type")
            for sort in ("title", "updated_at", "created_at")
        ),
        Index(
            "ix_products_search_trgm",
            sa.literal_column(PRODUCT_SEARCH_SQL).label("search_text"),
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
            postgresql_with=SEARCH_INDEX_STORAGE,
        ),
    )

    title: Mapped[str] = mapped_column(String(255), nullable=False)
    handle: Mapped[str] = mapped_column(String(255), nullable=False)
    body_html: Mapped[str | None] = mapped_column(Text)
    vendor: Mapped[str | None] = mapped_column(String(255))
    product_type: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="draft", server_default="draft"
    )
    tags: Mapped[str | None] = mapped_column(Text)
    # Shopify's "Published" flag; the seed has none. Null means unpublished.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Shopify product attributes the seed lacks, carried by the product CSV (revision 0010).
    seo_title: Mapped[str | None] = mapped_column(String(255))
    seo_description: Mapped[str | None] = mapped_column(Text)
    product_category: Mapped[str | None] = mapped_column(String(512))
    gift_card: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=False, server_default=sa.false()
    )

    variants: Mapped[list[ProductVariant]] = relationship(
        back_populates="product",
        order_by="ProductVariant.position, ProductVariant.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    options: Mapped[list[ProductOption]] = relationship(
        back_populates="product",
        order_by="ProductOption.position, ProductOption.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    tag_rows: Mapped[list[ProductTag]] = relationship(
        back_populates="product",
        order_by="ProductTag.tag",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    images: Mapped[list[ProductImage]] = relationship(
        back_populates="product",
        order_by="ProductImage.position, ProductImage.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class ProductVariant(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "product_variants"
    __table_args__ = (
        UniqueConstraint("sku"),
        CheckConstraint("price >= 0", name="price"),
        CheckConstraint(
            "compare_at_price IS NULL OR compare_at_price >= 0", name="compare_at_price"
        ),
        CheckConstraint("weight IS NULL OR weight >= 0", name="weight"),
        CheckConstraint("inventory_policy IN ('deny', 'continue')", name="inventory_policy"),
        Index("ix_product_variants_product_id", "product_id"),
        Index("ix_product_variants_sku", "sku"),
        Index("ix_product_variants_price", "price"),
        Index("ix_product_variants_inventory_quantity", "inventory_quantity"),
        Index(
            "ix_product_variants_sku_trgm",
            sa.literal_column(VARIANT_SKU_SEARCH_SQL).label("sku_search"),
            postgresql_using="gin",
            postgresql_ops={"sku_search": "gin_trgm_ops"},
            postgresql_with=SEARCH_INDEX_STORAGE,
        ),
    )

    product_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    compare_at_price: Mapped[Decimal | None] = mapped_column(Money(10, 2))
    sku: Mapped[str | None] = mapped_column(String(255))
    barcode: Mapped[str | None] = mapped_column(String(255))
    # Denormalised sum of inventory_levels.available over locations, kept by the inventory service.
    inventory_quantity: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    option1: Mapped[str | None] = mapped_column(String(255))
    option2: Mapped[str | None] = mapped_column(String(255))
    option3: Mapped[str | None] = mapped_column(String(255))
    weight: Mapped[Decimal | None] = mapped_column(ExactWeight())
    weight_unit: Mapped[str | None] = mapped_column(String(10), default="kg", server_default="kg")
    # Not in the seed; Shopify's variant fields that ordering and the CSV format need.
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    inventory_policy: Mapped[str] = mapped_column(
        String(20), nullable=False, default="deny", server_default="deny"
    )
    taxable: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )
    requires_shipping: Mapped[bool] = mapped_column(
        sa.Boolean, nullable=False, default=True, server_default=sa.true()
    )

    product: Mapped[Product] = relationship(back_populates="variants", lazy="raise")
    inventory_item: Mapped[InventoryItem | None] = relationship(
        back_populates="variant", uselist=False, passive_deletes=True, lazy="raise"
    )

    @validates("weight")
    def _canonical_weight(self, _key: str, value: Decimal | None) -> Decimal | None:
        return None if value is None else canonical_weight(Decimal(value))


class ProductOption(IdMixin, TimestampMixin, Base):
    __tablename__ = "product_options"
    __table_args__ = (
        Index("ix_product_options_product_id", "product_id"),
        Index("ix_product_options_position", "position"),
    )

    product_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    product: Mapped[Product] = relationship(back_populates="options", lazy="raise")
    values: Mapped[list[OptionValue]] = relationship(
        back_populates="option",
        order_by="OptionValue.position, OptionValue.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class OptionValue(IdMixin, TimestampMixin, Base):
    __tablename__ = "option_values"
    __table_args__ = (
        Index("ix_option_values_product_option_id", "product_option_id"),
        Index("ix_option_values_position", "position"),
    )

    product_option_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("product_options.id", ondelete="CASCADE"), nullable=False
    )
    value: Mapped[str] = mapped_column(String(255), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    option: Mapped[ProductOption] = relationship(back_populates="values", lazy="raise")


# A tag's live products in each list order (migration 0034).
_LIVE_TAG_ROWS: dict[str, Any] = {
    "postgresql_where": sa.text("product_live"),
    "sqlite_where": sa.text("product_live"),
}


class ProductTag(IdMixin, CreatedAtMixin, Base):
    """One tag of a product, with the product's list sort keys and liveness, which triggers
    keep (migration 0034): a page of a tag's products is a range of one index."""

    __tablename__ = "product_tags"
    __table_args__ = (
        Index("ix_product_tags_product_id", "product_id"),
        Index("ix_product_tags_tag", "tag"),
        Index("ux_product_tags_product_id_tag", "product_id", "tag", unique=True),
        *(
            Index(
                f"ix_product_tags_tag_{sort}",
                "tag",
                f"product_{sort}",
                "product_id",
                **_LIVE_TAG_ROWS,
            )
            for sort in ("title", "created_at", "updated_at")
        ),
    )

    product_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    tag: Mapped[str] = mapped_column(String(255), nullable=False)
    # Written by the database's triggers only (copies of the product's columns).
    product_title: Mapped[str | None] = mapped_column(String(255))
    product_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    product_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True))
    product_live: Mapped[bool] = mapped_column(Boolean, server_default=sa.true(), nullable=False)

    product: Mapped[Product] = relationship(back_populates="tag_rows", lazy="raise")


class ProductImage(IdMixin, TimestampMixin, Base):
    """Not in the seed's DDL (its ProductDetailDto lists images). Files live in object storage."""

    __tablename__ = "product_images"
    __table_args__ = (
        CheckConstraint("size_bytes >= 0", name="size_bytes"),
        CheckConstraint("status IN ('processing', 'ready', 'failed')", name="status"),
        Index("ix_product_images_product_id_position", "product_id", "position"),
        UniqueConstraint("storage_key"),
    )

    product_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    alt: Mapped[str | None] = mapped_column(String(512))
    # Where the bytes are (a key in the storage backend) or, for imported images, the source URL.
    storage_key: Mapped[str | None] = mapped_column(String(512))
    src: Mapped[str | None] = mapped_column(String(2048))
    content_type: Mapped[str | None] = mapped_column(String(100))
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # Shopify's media status: an image created from a `src` URL is `processing` until the
    # worker has downloaded it (`images/fetch`), then `ready`, or `failed` with a reason.
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default="ready", server_default="ready"
    )
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(512))

    product: Mapped[Product] = relationship(back_populates="images", lazy="raise")
    # Shopify's `variant_ids`: an image shows for any number of the product's variants. Loaded
    # with the image (one more SELECT for all the images of a load), by variant id.
    variant_links: Mapped[list[ProductImageVariant]] = relationship(
        order_by="ProductImageVariant.variant_id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="selectin",
    )

    @property
    def variant_ids(self) -> list[int]:
        return [link.variant_id for link in self.variant_links]

    @property
    def variant_id(self) -> int | None:
        """The first of `variant_ids` (the API's `variantId`, from when there was one)."""
        return self.variant_links[0].variant_id if self.variant_links else None


class ProductImageVariant(IdMixin, Base):
    """Which variants an image belongs to (Shopify's `variant_ids`); not in the seed. A deleted
    image or variant takes its rows with it."""

    __tablename__ = "product_image_variants"
    __table_args__ = (
        UniqueConstraint("image_id", "variant_id"),
        Index("ix_product_image_variants_variant_id", "variant_id"),
    )

    image_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("product_images.id", ondelete="CASCADE"), nullable=False
    )
    variant_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("product_variants.id", ondelete="CASCADE"), nullable=False
    )


# PostgreSQL compresses a row's long values past ~2 kB (TOAST); a document (~2.2 kB with three
# variants) was then decompressed on every read, which cost a list page of 50 more than its
# index lookups. Up to 8,160 bytes a row is left as it is (migration 0035).
DOCUMENT_ROW_TARGET = 8160


class ProductDocument(Base):
    """Each product's finished detail document, kept between reads (not in the seed).

    A derived table: PostgreSQL builds a product's JSON document (read_model/documents.py) on
    the first read after a change and stores it here, so the next reads of that product, with
    or without the cache, fetch one row instead of building ~30. `stamp` counts the committed
    changes to the product's document: every transaction that changes a product, variant,
    option, image or stock bumps it just before it commits (read_model/stored.py). A document
    is current while `built_stamp` (the stamp it was built at) equals `stamp` and `version`
    equals the product's; a reader stores what it built only if the stamp it read is still
    the row's, so a document built from an older snapshot is never kept as current.

    No foreign key to products, on purpose: a reader's first INSERT would take a key-share
    lock on the product row and could deadlock with a writer holding it FOR UPDATE. Reads
    join products (a deleted product's row is never served); the bump removes the rows of
    products deleted for good. Unused on SQLite, whose documents are built in Python.
    """

    __tablename__ = "product_documents"
    __table_args__ = (
        CheckConstraint("built_stamp <= stamp", name="built_stamp"),
        # Documents stay uncompressed in the row up to a page (migration 0035).
        {"postgresql_with": {"toast_tuple_target": DOCUMENT_ROW_TARGET}},
    )

    product_id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=False)
    stamp: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")
    built_stamp: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, server_default="0")
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    document: Mapped[str | None] = mapped_column(Text, nullable=True)
