"""Importing Shopify's product CSV: each product all-or-nothing, the good ones kept.

A product whose rows have any problem is skipped as a whole (its lines are reported), because
importing it partly would, on the next re-import, delete the variants that were left out. A
handle that already exists is updated in place: variants are matched by their option values,
so ids, inventory items and stock history survive a re-import. A product whose rows match
what is stored is `unchanged`: nothing is written for it (no version, event or stock row).

`Variant Inventory Qty` is the `available` quantity at ONE location, the same rule as the
export's: an empty cell changes nothing.
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
    rows: ProductRows, stored: Sequence[ProductOption] = ()
) -> tuple[list[dict[str, Any]], bool]:
    """Options from the first row's names and the values the variant rows use.

    A stored value no variant uses cannot appear in a file; when the file's values are the
    stored ones in the stored order, short of such values, the stored list is kept.
    """
    names = rows.option_names
    if not names or (
        names == [DEFAULT_OPTION_NAME]
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


def _variant_payload(variant: VariantRow, default_option: bool, *, new: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if not default_option:
        body.update(
            option1=variant.options[0], option2=variant.options[1], option3=variant.options[2]
        )
    for name in (
        "sku",
        "barcode",
        "price",
        "compare_at_price",
        "inventory_policy",
        "requires_shipping",
        "taxable",
        "cost",
    ):
        value = getattr(variant, name)
        if value is not None or name in ("sku", "barcode", "compare_at_price"):
            body[name] = value
    if variant.barcode_unreadable:
        del body["barcode"]  # unknown, not empty: an existing variant keeps its barcode
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
    if existing is None and not rows.has_product_row:
        return "failed", [LineError(rows.first_line, "Title: required for a new product")]
    if existing is None and not rows.variants:
        return "failed", [
            LineError(rows.first_line, "Variant Price: a product needs a variant row")
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


def _product_fields(rows: ProductRows) -> dict[str, Any]:
    if not rows.has_product_row:
        return {}
    return {
        "title": rows.title,
        "body_html": rows.body_html,
        "vendor": rows.vendor,
        "product_type": rows.product_type,
        "tags": rows.tags,
        "status": rows.status or "active",
    }


async def _create(
    session: AsyncSession, rows: ProductRows, *, location_id: int | None, actor: str | None
) -> None:
    options, default_option = _option_payload(rows)
    data = ProductCreate.model_validate(
        {
            **_product_fields(rows),
            "handle": rows.handle,
            "options": options,
            "variants": [_variant_payload(v, default_option, new=True) for v in rows.variants],
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


async def _update(
    session: AsyncSession,
    rows: ProductRows,
    existing: Product,
    *,
    location_id: int | None,
    actor: str | None,
) -> bool:
    """Update in place; whether anything changed (the product, its stock or its images)."""
    version = existing.version
    update = _product_fields(rows)
    if rows.variants:
        options, default_option = _option_payload(rows, existing.options)
        update["variants"] = [_variant_payload(v, default_option, new=False) for v in rows.variants]
        update["options"] = options
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
    return changed


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
        variant.inventory_item.id: row.quantity
        for row, variant in zip(rows.variants, product.variants, strict=False)
        if row.quantity is not None and variant.inventory_item is not None
    }
    if not wanted:
        return False
    levels = await inventory.levels_of_items(session, list(wanted), location_id=location_id)
    current = {level.inventory_item_id: level.available for level in levels}
    changed = False
    for item_id, quantity in wanted.items():
        if current.get(item_id) == quantity:
            continue
        await inventory.set_available(
            session,
            inventory_item_id=item_id,
            location_id=location_id,
            available=quantity,
            reason="import",
            actor=actor,
        )
        changed = True
    return changed


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
