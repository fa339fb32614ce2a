"""Importing Shopify's product CSV: each product all-or-nothing, the good ones kept.

A product whose rows have any problem is skipped as a whole (its lines are reported), because
importing it partly would, on the next re-import, delete the variants that were left out. A
handle that already exists is updated in place: variants are matched by their option values,
so ids, inventory items and stock history survive a re-import. A product whose rows match
what is stored is `unchanged`: nothing is written for it (no version, event or stock row).

`Variant Inventory Qty` is the `available` quantity at ONE location, the same rule as the
export's: an empty cell changes nothing.

A column the file lacks changes nothing (Shopify: "existing values are used for any missing
column"): the bodies sent to the products service carry only the fields whose columns the
header has. Without option value columns, the rows update the stored variants in order.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.errors import VariantHasCommittedStock
from shopdb.catalog.images import service as images
from shopdb.catalog.imports.csv_format import LineError, ProductRows, VariantRow
from shopdb.catalog.imports.extras import apply_extras
from shopdb.catalog.products import service
from shopdb.catalog.products.repository import ProductRepository
from shopdb.catalog.products.schemas import ProductCreate, ProductUpdate
from shopdb.catalog.rules import DEFAULT_OPTION_NAME, DEFAULT_OPTION_VALUE
from shopdb.errors import ShopdbError, ValidationFailed
from shopdb.inventory import service as inventory
from shopdb.models import Product, ProductOption

log = structlog.get_logger(__name__)

Progress = Callable[[int], Awaitable[None]]
Outcome = Literal["created", "updated", "unchanged", "failed"]
_VARIANT_FIELD = re.compile(r"^variants\[(\d+)\]")
DATABASE_ERROR = "could not be saved (database error); nothing of this product was imported"


def _lines(problems: Sequence[LineError], handle: str) -> list[dict[str, Any]]:
    return [{"line": p.line, "handle": handle, "message": p.message} for p in problems]


@dataclass
class ImportReport:
    total: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    # Values left out of products that were imported (a mangled barcode): not failures.
    warnings: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "processed": self.processed,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "errors": self.errors,
            "warnings": self.warnings,
        }

    def add(self, outcome: Outcome, rows: ProductRows, errors: Sequence[LineError]) -> None:
        self.processed += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.errors.extend(_lines(errors, rows.handle))
        self.warnings.extend(_lines(rows.warnings, rows.handle))


def _in_order_within(values: Sequence[str], stored: Sequence[str]) -> bool:
    """Whether `values` are some of `stored`, in the same order."""
    remaining = iter(stored)
    return all(value in remaining for value in values)


def _option_payload(
    rows: ProductRows, names: Sequence[str], stored: Sequence[ProductOption] = ()
) -> tuple[list[dict[str, Any]], bool]:
    """Options from the option names and the values the variant rows use.

    A stored value no variant uses cannot appear in a file; when the file's values are the
    stored ones in the stored order, short of such values, the stored list is kept.
    """
    if not names or (
        list(names) == [DEFAULT_OPTION_NAME]
        and all(v.options[0] in (None, DEFAULT_OPTION_VALUE) for v in rows.variants)
    ):
        return [], True
    options = []
    for k, name in enumerate(names):
        values: list[str] = []
        for variant in rows.variants:
            value = variant.options[k]
            if value is not None and value not in values:
                values.append(value)
        if k < len(stored) and stored[k].name == name:
            stored_values = [v.value for v in stored[k].values]
            if _in_order_within(values, stored_values):
                values = stored_values
        options.append({"name": name, "values": values})
    return options, False


# Variant attributes by the column that sets them. An empty cell clears those in CLEARED
# (as Shopify's export writes an empty cell for none); in the others it keeps the value.
VARIANT_CELLS = {
    "sku": "Variant SKU",
    "barcode": "Variant Barcode",
    "price": "Variant Price",
    "compare_at_price": "Variant Compare At Price",
    "inventory_policy": "Variant Inventory Policy",
    "requires_shipping": "Variant Requires Shipping",
    "taxable": "Variant Taxable",
    "cost": "Cost per item",
}
CLEARED = {"sku", "barcode", "compare_at_price"}


def _variant_payload(
    variant: VariantRow, rows: ProductRows, default_option: bool, *, new: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if not default_option:
        body.update(
            option1=variant.options[0], option2=variant.options[1], option3=variant.options[2]
        )
    for name, column in VARIANT_CELLS.items():
        value = getattr(variant, name)
        if value is not None or (name in CLEARED and rows.has(column)):
            body[name] = value
    if variant.barcode_unreadable:
        body.pop("barcode", None)  # unknown, not empty: an existing variant keeps its barcode
    if variant.weight is not None:
        body["weight"] = variant.weight
        body["weight_unit"] = variant.weight_unit
    if new and "price" not in body:
        body["price"] = None  # reported as "Variant Price: required" below
    return body


def _line_errors(rows: ProductRows, details: Sequence[dict[str, str]]) -> list[LineError]:
    errors = []
    for detail in details:
        line = rows.first_line
        found = _VARIANT_FIELD.match(detail.get("field", ""))
        if found and int(found.group(1)) < len(rows.variants):
            line = rows.variants[int(found.group(1))].line
        errors.append(LineError(line, f"{detail.get('field')}: {detail.get('message')}"))
    return errors


def _validation_details(exc: ValidationError) -> list[dict[str, str]]:
    details = []
    for error in exc.errors():
        parts = [str(p) for p in error.get("loc", ())]
        path = ""
        for part in parts:
            path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
        details.append({"field": path or "row", "message": str(error.get("msg"))})
    return details


async def import_product(
    session: AsyncSession, rows: ProductRows, *, location_id: int | None, actor: str | None
) -> tuple[Outcome, list[LineError]]:
    """Create or update one product from its rows, in a savepoint: all of it or none of it."""
    if rows.errors:
        return "failed", rows.errors
    existing = await ProductRepository(session).get_by_handle(rows.handle)
    if existing is not None and existing.deleted_at is not None:
        return "failed", [LineError(rows.first_line, "Handle: belongs to a deleted product")]
    if existing is None and rows.title is None:
        return "failed", [LineError(rows.first_line, "Title: required for a new product")]
    if existing is None and not rows.variants:
        return "failed", [
            LineError(rows.first_line, "Variant Price: a product needs a variant row")
        ]
    if existing is not None and _by_position(rows) and len(rows.variants) > len(existing.variants):
        return "failed", [
            LineError(v.line, "Option1 Value: needed for a variant the product does not have")
            for v in rows.variants[len(existing.variants) :]
        ]
    stocked = [v for v in rows.variants if v.quantity is not None]
    if location_id is None and any(v.quantity for v in stocked):
        return "failed", [
            LineError(v.line, "Variant Inventory Qty: no active location to stock it at")
            for v in stocked
            if v.quantity
        ]
    try:
        async with session.begin_nested():
            if existing is None:
                await _create(session, rows, location_id=location_id, actor=actor)
                return "created", []
            changed = await _update(session, rows, existing, location_id=location_id, actor=actor)
            return ("updated" if changed else "unchanged"), []
    except ValidationError as exc:
        return "failed", _line_errors(rows, _validation_details(exc))
    except StockRefused as exc:
        return "failed", [exc.error]
    except VariantHasCommittedStock as exc:
        # The variants are the stored ones the file leaves out: no line of the file names them.
        return "failed", [
            LineError(rows.first_line, f"{v.describe()} and is not in the file; it stays")
            for v in exc.variants
        ]
    except ShopdbError as exc:
        details = exc.details or [{"field": "row", "message": exc.message}]
        return "failed", _line_errors(rows, details)
    except SQLAlchemyError:
        # The savepoint is rolled back; the next product goes on. The statement and its
        # parameters go to the log only: they can hold anything from the file.
        log.exception("product_import_database_error", handle=rows.handle, line=rows.first_line)
        return "failed", [LineError(rows.first_line, DATABASE_ERROR)]


# Product attributes by the column that sets them; an empty cell clears the value.
PRODUCT_CELLS = {
    "body_html": "Body (HTML)",
    "vendor": "Vendor",
    "product_type": "Type",
    "tags": "Tags",
    "seo_title": "SEO Title",
    "seo_description": "SEO Description",
    "product_category": "Product Category",
    "gift_card": "Gift Card",
}
# Cells whose blank keeps the stored value (the others' blank clears it).
KEPT_WHEN_BLANK = frozenset({"gift_card"})


def _product_fields(rows: ProductRows, *, new: bool) -> dict[str, Any]:
    """What the product row sets: only the file's columns, and a blank Status keeps the
    stored status (a new product is active, as Shopify makes it)."""
    if not rows.has_product_row:
        return {}
    fields: dict[str, Any] = {} if rows.title is None else {"title": rows.title}
    for name, column in PRODUCT_CELLS.items():
        value = getattr(rows, name)
        if rows.has(column) and not (value is None and name in KEPT_WHEN_BLANK):
            fields[name] = value
    if rows.status is not None or new:
        fields["status"] = rows.status or "active"
    return fields


async def _create(
    session: AsyncSession, rows: ProductRows, *, location_id: int | None, actor: str | None
) -> None:
    options, default_option = _option_payload(rows, rows.option_names)
    data = ProductCreate.model_validate(
        {
            **_product_fields(rows, new=True),
            "handle": rows.handle,
            "options": options,
            "variants": [
                _variant_payload(v, rows, default_option, new=True) for v in rows.variants
            ],
        }
    )
    product = await service.create_product(session, data, actor=actor)
    if rows.published is not None:
        await service.set_published(session, product, rows.published)
    await _set_stock(session, rows, product, location_id=location_id, actor=actor)
    if rows.images:
        await images.add_linked_images(
            session, product.id, [(i.src, i.position, i.alt) for i in rows.images]
        )
    await apply_extras(session, rows, product, recorded=True, actor=actor)


async def _update(
    session: AsyncSession,
    rows: ProductRows,
    existing: Product,
    *,
    location_id: int | None,
    actor: str | None,
) -> bool:
    """Update in place; whether anything changed (the product, its stock, images, extras)."""
    version = existing.version
    update = _product_fields(rows, new=False)
    if rows.variants:
        update.update(_structure(rows, existing))
    product = await service.update_product(
        session,
        existing.id,
        ProductUpdate.model_validate(update),
        if_match=None,
        actor=actor,
        published=rows.published,
    )
    changed = product.version != version
    if await _set_stock(session, rows, product, location_id=location_id, actor=actor):
        changed = True
    if rows.images and await images.add_linked_images(
        session, product.id, [(i.src, i.position, i.alt) for i in rows.images]
    ):
        changed = True
    # The extras' own products/update event only when the update above recorded none.
    announce = product.version == version
    if await apply_extras(session, rows, product, recorded=not announce, actor=actor):
        changed = True
    return changed


def _by_position(rows: ProductRows) -> bool:
    return bool(rows.variants) and not any(rows.has(f"Option{k} Value") for k in (1, 2, 3))


def _structure(rows: ProductRows, existing: Product) -> dict[str, Any]:
    """The variants (and options) the rows give an existing product.

    Without option value columns the rows are the stored variants in their order (the first
    row the first variant...): their option values and the options stay, and stored variants
    past the last row are kept as they are. Without option name columns the stored names are
    used.
    """
    if _by_position(rows):
        variants = []
        for index, stored in enumerate(existing.variants):
            body: dict[str, Any] = {
                "id": stored.id,
                "option1": stored.option1,
                "option2": stored.option2,
                "option3": stored.option3,
            }
            if index < len(rows.variants):
                body.update(_variant_payload(rows.variants[index], rows, True, new=False))
            variants.append(body)
        return {"variants": variants}
    names_given = rows.has_product_row and any(rows.has(f"Option{k} Name") for k in (1, 2, 3))
    names = rows.option_names if names_given else [o.name for o in existing.options]
    options, default_option = _option_payload(rows, names, existing.options)
    return {
        "variants": [_variant_payload(v, rows, default_option, new=False) for v in rows.variants],
        "options": options,
    }


async def _set_stock(
    session: AsyncSession,
    rows: ProductRows,
    product: Product,
    *,
    location_id: int | None,
    actor: str | None,
) -> bool:
    """`available` at the location for each variant row with a quantity; whether any moved."""
    if location_id is None:
        return False
    # The service keeps the rows' order (positions 1..n), so rows and variants pair.
    wanted = {
        variant.inventory_item.id: row
        for row, variant in zip(rows.variants, product.variants, strict=False)
        if row.quantity is not None and variant.inventory_item is not None
    }
    if not wanted:
        return False
    levels = await inventory.levels_of_items(session, list(wanted), location_id=location_id)
    current = {level.inventory_item_id: level.available for level in levels}
    changed = False
    for item_id, row in wanted.items():
        if row.quantity is None or current.get(item_id) == row.quantity:
            continue
        try:
            await inventory.set_available(
                session,
                inventory_item_id=item_id,
                location_id=location_id,
                available=row.quantity,
                reason="correction",
                actor=actor,
            )
        except ShopdbError as exc:  # a `deny` variant below zero, a quantity past the bound
            reason = exc.details[0]["message"] if exc.details else exc.message
            raise StockRefused(LineError(row.line, f"Variant Inventory Qty: {reason}")) from exc
        changed = True
    return changed


class StockRefused(Exception):
    """A row's `Variant Inventory Qty` the inventory refused, reported on its own line."""

    def __init__(self, error: LineError) -> None:
        super().__init__(error.message)
        self.error = error


async def default_location(session: AsyncSession, location_id: int | None) -> int | None:
    """The location import quantities go to: the one asked for, else the first active one."""
    if location_id is None:
        return await inventory.default_location_id(session)
    from shopdb.inventory.locations import get_location

    location = await get_location(session, location_id)
    if not location.active:
        raise ValidationFailed.on("locationId", "is deactivated")
    return location.id


async def import_products(
    session: AsyncSession,
    products: Sequence[ProductRows],
    *,
    location_id: int | None,
    actor: str | None,
    report: ImportReport | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import in the caller's transaction (each product in its own savepoint)."""
    report = report or ImportReport(total=len(products))
    for rows in products:
        outcome, errors = await import_product(session, rows, location_id=location_id, actor=actor)
        report.add(outcome, rows, errors)
        if progress is not None:
            await progress(report.processed)
    return report
