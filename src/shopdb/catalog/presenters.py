"""ORM rows to DTOs, field by field (relationships must already be loaded)."""

from __future__ import annotations

from collections.abc import Sequence

from shopdb.catalog.schemas import (
    ImageOut,
    MetafieldSummary,
    OptionOut,
    ProductDetail,
    VariantOut,
)
from shopdb.models import Metafield, Product, ProductImage, ProductOption, ProductVariant


def variant_out(variant: ProductVariant) -> VariantOut:
    item = variant.inventory_item
    return VariantOut(
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
        inventory_item_id=item.id if item is not None else None,
        created_at=variant.created_at,
        updated_at=variant.updated_at,
    )


def option_out(option: ProductOption) -> OptionOut:
    return OptionOut(
        id=option.id,
        name=option.name,
        position=option.position,
        values=[value.value for value in option.values],
    )


def image_out(image: ProductImage) -> ImageOut:
    return ImageOut(
        id=image.id,
        product_id=image.product_id,
        position=image.position,
        alt=image.alt,
        src=image.src,
        content_type=image.content_type,
        size_bytes=image.size_bytes,
        width=image.width,
        height=image.height,
        variant_id=image.variant_id,
        created_at=image.created_at,
        updated_at=image.updated_at,
    )


def product_detail(
    product: Product, metafields: Sequence[Metafield] | None = None
) -> ProductDetail:
    detail = ProductDetail(
        id=product.id,
        title=product.title,
        handle=product.handle,
        body_html=product.body_html,
        vendor=product.vendor,
        product_type=product.product_type,
        status=product.status,
        tags=product.tags,
        published_at=product.published_at,
        created_at=product.created_at,
        updated_at=product.updated_at,
        variants=[variant_out(v) for v in product.variants],
        options=[option_out(o) for o in product.options],
        images=[image_out(i) for i in product.images],
    )
    if metafields is not None:
        detail.metafields = [
            MetafieldSummary(id=m.id, namespace=m.namespace, key=m.key, type=m.type, value=m.value)
            for m in metafields
        ]
    return detail
