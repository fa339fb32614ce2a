"""Exporting the catalog in Shopify's product CSV format (what the importer reads back).

`Variant Inventory Qty` is the `available` quantity at ONE location (the first active one
unless another is named), the location the import then sets it at, so export -> import leaves
stock as it was. A variant not stocked there exports an empty cell, which the import skips.
Shopify keeps quantities per location in a separate inventory CSV; this file holds one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.imports.csv_format import (
    COLUMNS,
    GOOGLE_SHOPPING,
    CsvWriter,
    boolean,
    google_shopping_key,
    grams,
)
from shopdb.catalog.imports.extras import google_shopping, variant_images
from shopdb.catalog.products.repository import ProductRepository
from shopdb.inventory import service as inventory
from shopdb.models import InventoryItem, Product

BATCH = 200
GOOGLE_COLUMNS = [c for c in COLUMNS if c.startswith(GOOGLE_SHOPPING)]
# Inventory items per level query: well under any backend's limit on bound parameters.
ITEMS_PER_QUERY = 1000


def product_rows(
    product: Product,
    available: Mapping[int, int],
    google: Mapping[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """One row per variant, then extra rows for images beyond the variant count.

    `available` maps inventory item ids to their `available` at the exported location;
    `google` the product's Google Shopping values by metafield key.
    """
    names = [o.name for o in product.options]
    head = {
        "Handle": product.handle,
        "Title": product.title,
        "Body (HTML)": product.body_html or "",
        "Vendor": product.vendor or "",
        "Type": product.product_type or "",
        "Tags": product.tags or "",
        "Published": boolean(product.published_at is not None),
        "Product Category": product.product_category or "",
        "Gift Card": boolean(product.gift_card),
        "SEO Title": product.seo_title or "",
        "SEO Description": product.seo_description or "",
        "Status": product.status,
    }
    for column in GOOGLE_COLUMNS:
        head[column] = (google or {}).get(google_shopping_key(column), "")
    linked = variant_images(product.images)
    for k, name in enumerate(names[:3], start=1):
        head[f"Option{k} Name"] = name
    images = list(product.images)
    count = max(len(product.variants), len(images))
    for index in range(count):
        row: dict[str, str] = dict(head) if index == 0 else {"Handle": product.handle}
        if index < len(product.variants):
            variant = product.variants[index]
            item = variant.inventory_item
            for k, value in enumerate((variant.option1, variant.option2, variant.option3), 1):
                if k <= len(names):
                    row[f"Option{k} Value"] = value or ""
            row.update(
                {
                    "Variant SKU": variant.sku or "",
                    "Variant Grams": grams(variant.weight, variant.weight_unit),
                    "Variant Inventory Tracker": "shopify" if item is None or item.tracked else "",
                    "Variant Inventory Qty": _quantity(item, available),
                    "Variant Inventory Policy": variant.inventory_policy,
                    "Variant Fulfillment Service": "manual",
                    "Variant Price": str(variant.price),
                    "Variant Compare At Price": ""
                    if variant.compare_at_price is None
                    else str(variant.compare_at_price),
                    "Variant Requires Shipping": boolean(variant.requires_shipping),
                    "Variant Taxable": boolean(variant.taxable),
                    "Variant Barcode": variant.barcode or "",
                    "Variant Image": linked.get(variant.id, ""),
                    "Variant Weight Unit": variant.weight_unit or "kg",
                    "Cost per item": "" if item is None or item.cost is None else str(item.cost),
                }
            )
        if index < len(images):
            image = images[index]
            row.update(
                {
                    "Image Src": image.src or "",
                    "Image Position": str(image.position),
                    "Image Alt Text": image.alt or "",
                }
            )
        yield row


def _quantity(item: InventoryItem | None, available: Mapping[int, int]) -> str:
    if item is None or item.id not in available:
        return ""  # not stocked at the location: the import leaves such a cell alone
    return str(available[item.id])


async def _available_at(
    session: AsyncSession, products: Sequence[Product], location_id: int | None
) -> dict[int, int]:
    if location_id is None:
        return {}
    item_ids = [
        v.inventory_item.id for p in products for v in p.variants if v.inventory_item is not None
    ]
    available: dict[int, int] = {}
    for start in range(0, len(item_ids), ITEMS_PER_QUERY):
        levels = await inventory.levels_of_items(
            session, item_ids[start : start + ITEMS_PER_QUERY], location_id=location_id
        )
        available.update((level.inventory_item_id, level.available) for level in levels)
    return available


async def export_rows(
    session: AsyncSession, *, location_id: int | None
) -> AsyncIterator[dict[str, str]]:
    """Every live product by id, a batch of BATCH at a time (memory stays flat).

    `location_id`: whose `available` the quantity column holds (None: no location, all empty).
    """
    repository = ProductRepository(session)
    after = 0
    while True:
        batch = await repository.batch_after(after, BATCH)
        if not batch:
            return
        available = await _available_at(session, batch, location_id)
        google = await google_shopping(session, [product.id for product in batch])
        for product in batch:
            for row in product_rows(product, available, google[product.id]):
                yield row
        after = batch[-1].id


async def export_csv(session: AsyncSession, *, location_id: int | None) -> AsyncIterator[str]:
    writer = CsvWriter()
    yield writer.header()
    async for row in export_rows(session, location_id=location_id):
        yield writer.row(row)
