"""The one place a ProductDetail and its parts are built in Python.

Each function takes either an ORM object (writes, single reads) or a Row of the same-named
columns (lists, reader.py): both are read by attribute, so the two paths cannot drift apart.
PostgreSQL builds the same JSON itself (documents.py); tests/catalog/test_documents.py proves
the two equal.

`model_construct` skips validation: every value comes from a typed column of the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shopdb.catalog.read_model.schemas import (
    ImageOut,
    MetafieldSummary,
    OptionOut,
    ProductDetail,
    VariantOut,
)
from shopdb.models import Metafield, Product, ProductVariant

# An ORM object or a Row with these attribute names (see reader.py's column lists).
Fields = Any


def variant_out(variant: Fields, inventory_item_id: int | None) -> VariantOut:
    return VariantOut.model_construct(
        id=variant.id,
        product_id=variant.product_id,
        title=variant.title,
        price=variant.price,
        compare_at_price=variant.compare_at_price,
        sku=variant.sku,
        barcode=variant.barcode,
        position=variant.position,
        option1=variant.option1,
        option2=variant.option2,
        option3=variant.option3,
        weight=variant.weight,
        weight_unit=variant.weight_unit,
        inventory_quantity=variant.inventory_quantity,
        inventory_policy=variant.inventory_policy,
        taxable=variant.taxable,
        requires_shipping=variant.requires_shipping,
        inventory_item_id=inventory_item_id,
        created_at=variant.created_at,
        updated_at=variant.updated_at,
    )


def variant_of(variant: ProductVariant) -> VariantOut:
    """A variant loaded with its inventory item."""
    item = variant.inventory_item
    return variant_out(variant, item.id if item is not None else None)


def option_out(option: Fields, values: list[str]) -> OptionOut:
    return OptionOut.model_construct(
        id=option.id, name=option.name, position=option.position, values=values
    )


def image_out(image: Fields, variant_ids: list[int] | None = None) -> ImageOut:
    """`variant_ids` for a Row (reader.py); an ORM image has them (ordered by id)."""
    ids = image.variant_ids if variant_ids is None else variant_ids
    return ImageOut.model_construct(
        id=image.id,
        product_id=image.product_id,
        position=image.position,
        alt=image.alt,
        src=image.src,
        content_type=image.content_type,
        size_bytes=image.size_bytes,
        width=image.width,
        height=image.height,
        status=image.status,
        error_code=image.error_code,
        error_message=image.error_message,
        variant_id=ids[0] if ids else None,
        variant_ids=ids,
        created_at=image.created_at,
        updated_at=image.updated_at,
    )


def product_detail(
    product: Fields,
    variants: list[VariantOut],
    options: list[OptionOut],
    images: list[ImageOut],
    metafields: Sequence[Metafield] | None = None,
) -> ProductDetail:
    return ProductDetail.model_construct(
        id=product.id,
        title=product.title,
        handle=product.handle,
        body_html=product.body_html,
        vendor=product.vendor,
        product_type=product.product_type,
        status=product.status,
        tags=product.tags,
        product_category=product.product_category,
        gift_card=product.gift_card,
        seo_title=product.seo_title,
        seo_description=product.seo_description,
        published_at=product.published_at,
        created_at=product.created_at,
        updated_at=product.updated_at,
        variants=variants,
        options=options,
        images=images,
        metafields=None
        if metafields is None
        else [
            MetafieldSummary.model_construct(
                id=m.id, namespace=m.namespace, key=m.key, type=m.type, value=m.value
            )
            for m in metafields
        ],
    )


def product_detail_of(
    product: Product, metafields: Sequence[Metafield] | None = None
) -> ProductDetail:
    """A product loaded with its variants (and their items), options and images."""
    return product_detail(
        product,
        [variant_of(v) for v in product.variants],
        [option_out(o, [value.value for value in o.values]) for o in product.options],
        [image_out(i) for i in product.images],
        metafields,
    )
