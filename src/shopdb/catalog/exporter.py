"""Exporting the catalog in Shopify's product CSV format (what the importer reads back)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.csv_format import CsvWriter, boolean, grams
from shopdb.catalog.repository import ProductRepository
from shopdb.models import Product

BATCH = 200


def product_rows(product: Product) -> Iterator[dict[str, str]]:
    """One row per variant, then extra rows for images beyond the variant count."""
    names = [o.name for o in product.options]
    head = {
        "Handle": product.handle,
        "Title": product.title,
        "Body (HTML)": product.body_html or "",
        "Vendor": product.vendor or "",
        "Type": product.product_type or "",
        "Tags": product.tags or "",
        "Published": boolean(product.published_at is not None),
        "Gift Card": "FALSE",
        "Status": product.status,
    }
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
                    "Variant Inventory Qty": str(variant.inventory_quantity),
                    "Variant Inventory Policy": variant.inventory_policy,
                    "Variant Fulfillment Service": "manual",
                    "Variant Price": str(variant.price),
                    "Variant Compare At Price": ""
                    if variant.compare_at_price is None
                    else str(variant.compare_at_price),
                    "Variant Requires Shipping": boolean(variant.requires_shipping),
                    "Variant Taxable": boolean(variant.taxable),
                    "Variant Barcode": variant.barcode or "",
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


async def export_rows(session: AsyncSession) -> AsyncIterator[dict[str, str]]:
    """Every live product by id, a batch of BATCH at a time (memory stays flat)."""
    repository = ProductRepository(session)
    after = 0
    while True:
        batch = await repository.batch_after(after, BATCH)
        if not batch:
            return
        for product in batch:
            for row in product_rows(product):
                yield row
        after = batch[-1].id


async def export_csv(session: AsyncSession) -> AsyncIterator[str]:
    writer = CsvWriter()
    yield writer.header()
    async for row in export_rows(session):
        yield writer.row(row)
