"""The CSV's columns a product body does not carry: SEO, gift card, category, inventory
tracking, variant images and Google Shopping.

SEO Title, SEO Description, Product Category and Gift Card are product columns (revision
0010). `Variant Inventory Tracker` is the inventory item's `tracked`. `Variant Image` links an
image of the product (added by its URL when the product lacks it) to the variant. The Google
Shopping columns are product metafields in Shopify's own namespace, `mm-google-shopping`
(`Google Shopping / Age Group` -> key `age_group`), written through the metafields service.

As everywhere in the import, a column the file lacks changes nothing, and a product whose
cells match what is stored writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.catalog.images import service as images
from shopdb.catalog.imports.csv_format import ProductRows
from shopdb.catalog.products import service as products
from shopdb.metafields import service as metafields
from shopdb.metafields.schemas import MetafieldWrite
from shopdb.models import Product, ProductImage

GOOGLE_NAMESPACE = "mm-google-shopping"
GOOGLE_TYPE = "single_line_text_field"
# What the import may do to metafields: the products' own, nothing else.
IMPORT_PERMISSIONS = frozenset({"products:read", "products:write"})


def importer(actor: str | None) -> Subject:
    """The caller the metafields service checks and names in its events: the import's actor
    (`user:N`, `api_key:N`; the CLI's is neither), holding only the products' permissions,
    which the import itself required."""
    kind, _, number = (actor or "").partition(":")
    if kind == "api_key" and number.isdigit():
        return Subject("api_key", 0, IMPORT_PERMISSIONS, api_key_id=int(number))
    return Subject(
        "user", int(number) if kind == "user" and number.isdigit() else 0, IMPORT_PERMISSIONS
    )


async def apply_extras(
    session: AsyncSession, rows: ProductRows, product: Product, *, recorded: bool, actor: str | None
) -> bool:
    """Whether anything changed. `product` is as the products service returned it, its
    variants in the rows' order. `recorded`: this import already recorded the product's
    create or update event and moved its version, so the extras add no event of their own."""
    touched = False
    for row, variant in zip(rows.variants, product.variants, strict=False):
        item = variant.inventory_item
        if row.tracked is not None and item is not None and item.tracked != row.tracked:
            item.tracked = row.tracked
            touched = True
    if touched and not recorded:
        await products.announce_update(session, product, actor=actor)
    elif touched:
        await session.flush()
    linked = await _link_variant_images(session, rows, product, actor=actor)
    google = await _google_shopping(session, rows, product, actor=actor)
    return touched or linked or google


def variant_images(images_: Sequence[ProductImage]) -> dict[int, str]:
    """Variant id -> the src of its image (the first by position), for the export."""
    linked: dict[int, str] = {}
    for image in images_:
        for variant_id in image.variant_ids:
            if image.src and variant_id not in linked:
                linked[variant_id] = image.src
    return linked


async def _link_variant_images(
    session: AsyncSession, rows: ProductRows, product: Product, *, actor: str | None
) -> bool:
    """Each variant row's `Variant Image` becomes that variant's image (an empty cell: none).
    An image can be several variants' image, as in Shopify (its `variant_ids`)."""
    if not rows.has("Variant Image"):
        return False
    wanted = [
        (variant.id, row) for row, variant in zip(rows.variants, product.variants, strict=False)
    ]
    known = {image.src for image in product.images}
    missing = list(dict.fromkeys(r.image for _, r in wanted if r.image and r.image not in known))
    changed = False
    if missing:
        await images.add_linked_images(session, product.id, [(s, None, None) for s in missing])
        changed = True
    current = await products.get_product(session, product.id)
    by_src: dict[str, int] = {}
    for stored in current.images:
        if stored.src:
            by_src.setdefault(stored.src, stored.id)
    image_of_variant = {
        variant_id: by_src.get(row.image) if row.image else None for variant_id, row in wanted
    }
    linked = await images.assign_variants(session, product.id, image_of_variant, actor=actor)
    return changed or linked


async def google_shopping(
    session: AsyncSession, product_ids: Sequence[int]
) -> dict[int, dict[str, str]]:
    """Each product's Google Shopping values by key, for an export batch (one statement)."""
    return await metafields.namespace_of_owners(session, "products", product_ids, GOOGLE_NAMESPACE)


async def _google_shopping(
    session: AsyncSession, rows: ProductRows, product: Product, *, actor: str | None
) -> bool:
    if not rows.has_product_row or not rows.google_shopping:
        return False
    stored = {
        m.key: m
        for m in await metafields.metafields_of(session, "products", product.id)
        if m.namespace == GOOGLE_NAMESPACE
    }
    subject = importer(actor)
    changed = False
    for key, value in rows.google_shopping.items():
        current = stored.get(key)
        if value is None:
            if current is not None:
                await metafields.delete_metafield(session, subject, current.id)
                changed = True
            continue
        if current is not None and current.value == value and current.type == GOOGLE_TYPE:
            continue
        body: Mapping[str, Any] = {
            "ownerResource": "products",
            "ownerId": product.id,
            "namespace": GOOGLE_NAMESPACE,
            "key": key,
            "type": GOOGLE_TYPE,
            "value": value,
        }
        await metafields.upsert_metafield(session, subject, MetafieldWrite.model_validate(body))
        changed = True
    return changed
