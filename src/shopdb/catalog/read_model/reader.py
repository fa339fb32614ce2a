"""Product details for lists, read with plain SELECTs instead of ORM objects (SQLite's path;
PostgreSQL builds the documents itself, documents.py).

A page of 250 products is about 3,000 rows across variants, options and images; building ORM
instances (identity map, collections) for them costs more than the queries. Lists and
collection pages therefore read rows and build the DTOs directly, in four queries whatever
the page size. Single-product reads and writes keep using the ORM.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.read_model.presenters import image_out, option_out, product_detail, variant_out
from shopdb.catalog.read_model.schemas import ImageOut, OptionOut, ProductDetail, VariantOut
from shopdb.kit.pagination import AnySelect
from shopdb.models import (
    InventoryItem,
    OptionValue,
    Product,
    ProductImage,
    ProductOption,
    ProductVariant,
)
from shopdb.models.catalog import ProductImageVariant

PRODUCT_COLUMNS = (
    Product.id,
    Product.title,
    Product.handle,
    Product.body_html,
    Product.vendor,
    Product.product_type,
    Product.status,
    Product.tags,
    Product.product_category,
    Product.gift_card,
    Product.seo_title,
    Product.seo_description,
    Product.published_at,
    Product.created_at,
    Product.updated_at,
)
_VARIANT_FIELDS = (
    "id",
    "product_id",
    "title",
    "price",
    "compare_at_price",
    "sku",
    "barcode",
    "position",
    "option1",
    "option2",
    "option3",
    "weight",
    "weight_unit",
    "inventory_quantity",
    "inventory_policy",
    "taxable",
    "requires_shipping",
    "created_at",
    "updated_at",
)
_IMAGE_FIELDS = (
    "id",
    "product_id",
    "position",
    "alt",
    "src",
    "content_type",
    "size_bytes",
    "width",
    "height",
    "status",
    "error_code",
    "error_message",
    "created_at",
    "updated_at",
)


def product_columns_select() -> AnySelect:
    return select(*PRODUCT_COLUMNS)


class ProductReader:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def details(self, rows: Sequence[Any]) -> list[ProductDetail]:
        """ProductDetails for product rows (PRODUCT_COLUMNS), in the rows' order."""
        ids = [row.id for row in rows]
        if not ids:
            return []
        variants = await self._variants(ids)
        options = await self._options(ids)
        images = await self._images(ids)
        return [
            product_detail(
                row, variants.get(row.id, []), options.get(row.id, []), images.get(row.id, [])
            )
            for row in rows
        ]

    async def details_by_ids(self, ids: Sequence[int]) -> list[ProductDetail]:
        if not ids:
            return []
        result = await self.session.execute(
            product_columns_select().where(Product.id.in_(list(ids)))
        )
        by_id = {row.id: row for row in result}
        return await self.details([by_id[i] for i in ids if i in by_id])

    async def _variants(self, ids: list[int]) -> dict[int, list[VariantOut]]:
        columns = [getattr(ProductVariant, name) for name in _VARIANT_FIELDS]
        result = await self.session.execute(
            select(*columns, InventoryItem.id.label("inventory_item_id"))
            .outerjoin(InventoryItem, InventoryItem.product_variant_id == ProductVariant.id)
            .where(ProductVariant.product_id.in_(ids))
            .order_by(ProductVariant.product_id, ProductVariant.position, ProductVariant.id)
        )
        grouped: dict[int, list[VariantOut]] = defaultdict(list)
        for row in result:
            grouped[row.product_id].append(variant_out(row, row.inventory_item_id))
        return grouped

    async def _options(self, ids: list[int]) -> dict[int, list[OptionOut]]:
        result = await self.session.execute(
            select(
                ProductOption.id,
                ProductOption.product_id,
                ProductOption.name,
                ProductOption.position,
                OptionValue.value,
            )
            .outerjoin(OptionValue, OptionValue.product_option_id == ProductOption.id)
            .where(ProductOption.product_id.in_(ids))
            .order_by(
                ProductOption.product_id,
                ProductOption.position,
                ProductOption.id,
                OptionValue.position,
                OptionValue.id,
            )
        )
        grouped: dict[int, list[OptionOut]] = defaultdict(list)
        current: OptionOut | None = None
        for row in result:
            if current is None or current.id != row.id:
                current = option_out(row, [])
                grouped[row.product_id].append(current)
            if row.value is not None:
                current.values.append(row.value)
        return grouped

    async def _images(self, ids: list[int]) -> dict[int, list[ImageOut]]:
        """One row per image and variant (or one for an image without variants)."""
        columns = [getattr(ProductImage, name) for name in _IMAGE_FIELDS]
        result = await self.session.execute(
            select(*columns, ProductImageVariant.variant_id.label("linked_variant_id"))
            .outerjoin(ProductImageVariant, ProductImageVariant.image_id == ProductImage.id)
            .where(ProductImage.product_id.in_(ids))
            .order_by(
                ProductImage.product_id,
                ProductImage.position,
                ProductImage.id,
                ProductImageVariant.variant_id,
            )
        )
        grouped: dict[int, list[ImageOut]] = defaultdict(list)
        current: ImageOut | None = None
        for row in result:
            if current is None or current.id != row.id:
                current = image_out(row, [])
                grouped[row.product_id].append(current)
            if row.linked_variant_id is not None:
                current.variant_ids.append(row.linked_variant_id)
                current.variant_id = current.variant_ids[0]
        return grouped
