"""Shopify's product CSV (the columns of its published product_template.csv).

One product spans several rows sharing a Handle: the first carries the product's fields, the
continuation rows only variant columns and/or an image. Parsing here is pure: rows in, products
out, each value checked and each problem tied to its line number. A problem is an error (the
product is not imported) or a warning (the product is imported without that value).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

COLUMNS = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Gift Card",
    "SEO Title",
    "SEO Description",
    "Google Shopping / Google Product Category",
    "Google Shopping / Gender",
    "Google Shopping / Age Group",
    "Google Shopping / MPN",
    "Google Shopping / Condition",
    "Google Shopping / Custom Product",
    "Variant Image",
    "Variant Weight Unit",
    "Variant Tax Code",
    "Cost per item",
    "Included / United States",
    "Price / United States",
    "Compare At Price / United States",
    "Status",
]
VARIANT_COLUMNS = (
    "Option1 Value",
    "Option2 Value",
    "Option3 Value",
    "Variant SKU",
    "Variant Price",
    "Variant Grams",
    "Variant Barcode",
    "Variant Inventory Qty",
)
GRAMS_PER_UNIT = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}
# 100 tonnes: nine whole digits and six decimals, within what a stored weight holds.
MAX_GRAMS = Decimal(100_000_000)
WEIGHT_QUANTUM = Decimal("0.000001")  # a stored weight's six decimals (revision 0010)
# What a spreadsheet makes of a long number typed into a General cell: 3.65275E+11.
SCIENTIFIC = re.compile(r"^[+-]?\d+(\.\d+)?[eE][+-]?\d+$")
SCIENTIFIC_HINT = (
    "looks like a number a spreadsheet rewrote in scientific notation (digits are lost)"
)
GOOGLE_SHOPPING = "Google Shopping / "
TRUE = {"true", "yes", "1"}
FALSE = {"false", "no", "0"}


@dataclass
class LineError:
    line: int
    message: str


@dataclass
class VariantRow:
    line: int
    options: tuple[str | None, str | None, str | None]
    sku: str | None
    barcode: str | None
    price: Decimal | None
    compare_at_price: Decimal | None
    weight: Decimal | None
    weight_unit: str
    quantity: int | None
    inventory_policy: str | None
    requires_shipping: bool | None
    taxable: bool | None
    cost: Decimal | None
    tracked: bool | None
    image: str | None = None
    # The cell held a value that could not be read (a mangled barcode): keep what is stored.
    barcode_unreadable: bool = False


@dataclass
class ImageRow:
    line: int
    src: str
    position: int | None
    alt: str | None


@dataclass
class ProductRows:
    handle: str
    first_line: int
    title: str | None = None
    body_html: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    tags: str | None = None
    published: bool | None = None
    status: str | None = None
    seo_title: str | None = None
    seo_description: str | None = None
    product_category: str | None = None
    gift_card: bool | None = None
    # Google Shopping columns: metafield key -> the cell (None when empty).
    google_shopping: dict[str, str | None] = field(default_factory=dict)
    option_names: list[str] = field(default_factory=list)
    variants: list[VariantRow] = field(default_factory=list)
    images: list[ImageRow] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    warnings: list[LineError] = field(default_factory=list)
    has_product_row: bool = False
    # The file's header: a column it lacks changes nothing (Shopify's rule for updates).
    columns: frozenset[str] = frozenset()

    def has(self, column: str) -> bool:
        return column in self.columns

    @property
    def lines(self) -> list[int]:
        return sorted(
            {self.first_line, *(v.line for v in self.variants), *(i.line for i in self.images)}
        )


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (not CSV, no Handle column)."""


def _text(row: dict[str, str], column: str) -> str | None:
    value = (row.get(column) or "").strip()
    return value or None


class _Line:
    """Reads one row's cells, collecting problems instead of stopping at the first."""

    def __init__(
        self,
        line: int,
        row: dict[str, str],
        errors: list[LineError],
        warnings: list[LineError],
    ) -> None:
        self.line = line
        self.row = row
        self.errors = errors
        self.warnings = warnings

    def fail(self, column: str, message: str) -> None:
        self.errors.append(LineError(self.line, f"{column}: {message}"))

    def warn(self, column: str, message: str) -> None:
        self.warnings.append(LineError(self.line, f"{column}: {message}"))

    def refuse_nul(self, columns: Iterable[str]) -> None:
        """A NUL character cannot be stored (PostgreSQL text refuses it): the cell is an error
        and reads as empty from here on."""
        for column in columns:
            if "\x00" in (self.row.get(column) or ""):
                self.fail(column, "contains a NUL character (\\x00), which cannot be stored")
                self.row[column] = ""

    def text(self, column: str, max_length: int = 255) -> str | None:
        value = _text(self.row, column)
        if value is not None and len(value) > max_length:
            self.fail(column, f"longer than {max_length} characters")
            return None
        return value

    def money(self, column: str) -> Decimal | None:
        value = _text(self.row, column)
        if value is None:
            return None
        try:
            amount = Decimal(value)
        except InvalidOperation:
            self.fail(column, f"{value!r} is not a number")
            return None
        if not amount.is_finite() or amount < 0 or amount >= Decimal("100000000"):
            self.fail(column, f"{value!r} must be between 0 and 99999999.99")
            return None
        if amount != amount.quantize(Decimal("0.01")):
            self.fail(column, f"{value!r} has more than two decimals")
            return None
        return amount.quantize(Decimal("0.01"))

    def integer(self, column: str, *, minimum: int | None = None) -> int | None:
        value = _text(self.row, column)
        if value is None:
            return None
        if not re.fullmatch(r"[+-]?\d+", value):
            self.fail(column, f"{value!r} is not a whole number")
            return None
        number = int(value)
        if minimum is not None and number < minimum:
            self.fail(column, f"must be at least {minimum}")
            return None
        if abs(number) > 1_000_000_000:
            self.fail(column, "is out of range")
            return None
        return number

    def boolean(self, column: str) -> bool | None:
        value = _text(self.row, column)
        if value is None:
            return None
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        self.fail(column, f"{value!r} is not TRUE or FALSE")
        return None

    def identifier(self, column: str) -> str | None:
        """SKUs: refused when a spreadsheet turned them into 3.65275E+11. A SKU identifies the
        variant to other systems; a wrong one, or silently none, is worse than no import."""
        value = self.text(column)
        if value is not None and SCIENTIFIC.match(value):
            self.fail(
                column,
                f"{value!r} {SCIENTIFIC_HINT}; format the column as text and export again",
            )
            return None
        return value

    def barcode(self, column: str) -> tuple[str | None, bool]:
        """(barcode, unreadable). A mangled barcode is left out with a warning rather than
        refusing the row: Shopify's own product_template.csv carries one on every row."""
        value = self.text(column)
        if value is not None and SCIENTIFIC.match(value):
            self.warn(
                column,
                f"{value!r} {SCIENTIFIC_HINT}; not imported: a new variant has no barcode, an "
                "existing one keeps its stored barcode (format the column as text to import it)",
            )
            return None, True
        return value, False

    def choice(self, column: str, allowed: Iterable[str]) -> str | None:
        value = _text(self.row, column)
        if value is None:
            return None
        options = list(allowed)
        if value.lower() not in options:
            self.fail(column, f"{value!r} is not one of {', '.join(options)}")
            return None
        return value.lower()


def _weight(line: _Line) -> tuple[Decimal | None, str]:
    """`Variant Grams` as a weight in `Variant Weight Unit` (six decimals of the unit), refused
    rather than changed when that weight would not export as the same grams again."""
    unit = line.choice("Variant Weight Unit", GRAMS_PER_UNIT) or "kg"
    raw = _text(line.row, "Variant Grams")
    if raw is None:
        return None, unit
    try:
        given = Decimal(raw)
    except InvalidOperation:
        line.fail("Variant Grams", f"{raw!r} is not a number")
        return None, unit
    if not given.is_finite() or given < 0 or given > MAX_GRAMS:
        line.fail("Variant Grams", f"{raw!r} must be a number from 0 to {MAX_GRAMS}")
        return None, unit
    weight = weight_of(given, unit)
    if Decimal(grams(weight, unit)) != given:
        line.fail(
            "Variant Grams",
            f"{raw!r} cannot be kept exactly in {unit}; give at most three decimals",
        )
        return None, unit
    return weight, unit


def weight_of(given_grams: Decimal, unit: str) -> Decimal:
    """Grams in `unit`, to the six decimals a stored weight has."""
    return (given_grams / GRAMS_PER_UNIT[unit]).quantize(WEIGHT_QUANTUM)


def google_shopping_key(column: str) -> str:
    """`Google Shopping / Age Group` -> `age_group`, as Shopify's mm-google-shopping keys."""
    name = column[len(GOOGLE_SHOPPING) :]
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _tracked(line: _Line) -> bool | None:
    """`shopify`: Shopify tracks the quantity; empty: not tracked. Another tracker (a
    fulfillment service's) is read as tracked, with a warning that it exports as `shopify`."""
    if "Variant Inventory Tracker" not in line.row:
        return None
    value = _text(line.row, "Variant Inventory Tracker")
    if value is None:
        return False
    if value.lower() != "shopify":
        line.warn(
            "Variant Inventory Tracker",
            f"{value!r} is read as tracked by shopdb (exported as 'shopify')",
        )
    return True


def _has_any(row: dict[str, str], columns: Iterable[str]) -> bool:
    return any(_text(row, c) is not None for c in columns)


def _image_src(line: _Line, column: str) -> str | None:
    src = line.text(column, max_length=2048)
    if src is not None and not re.match(r"^(https?://|/)", src):
        line.fail(column, "must be an http(s) URL")
        return None
    return src


def read_rows(text: str) -> tuple[frozenset[str], Iterator[tuple[int, dict[str, str]]]]:
    """The header's columns, and (line number where the row starts, row) for each data row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if reader.fieldnames is None or "Handle" not in [f.strip() for f in reader.fieldnames]:
        raise CsvFormatError("the file has no Handle column; is it Shopify's product CSV?")
    reader.fieldnames = [f.strip() for f in reader.fieldnames]

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        start = reader.line_num + 1
        for row in reader:
            yield (
                start,
                {k: v for k, v in row.items() if isinstance(k, str) and isinstance(v, str)},
            )
            start = reader.line_num + 1

    return frozenset(reader.fieldnames), rows()


def parse_products(text: str) -> list[ProductRows]:
    """Group the rows by Handle (in order of first appearance) and check every cell."""
    products: dict[str, ProductRows] = {}
    try:
        columns, reading = read_rows(text)
        rows = list(reading)
    except csv.Error as exc:
        raise CsvFormatError(f"not a readable CSV file: {exc}") from exc
    for line_no, row in rows:
        handle = _text(row, "Handle")
        if handle is None:
            if any((v or "").strip() for v in row.values()):
                orphan = ProductRows(handle="", first_line=line_no, columns=columns)
                orphan.errors.append(LineError(line_no, "Handle: required on every row"))
                products[f"\0{line_no}"] = orphan
            continue
        product = products.get(handle)
        if product is None:
            product = products[handle] = ProductRows(
                handle=handle.lower(), first_line=line_no, columns=columns
            )
            if not re.fullmatch(r"[a-z0-9-]+", handle.lower()) or len(handle) > 255:
                product.errors.append(
                    LineError(line_no, "Handle: only letters, digits and hyphens")
                )
        line = _Line(line_no, row, product.errors, product.warnings)
        line.refuse_nul(c for c in COLUMNS if c != "Handle")  # the handle's pattern refuses it
        # The product's row is its first with a Title; in a file without a Title column
        # (an update of some columns: Handle and Status, say), its first row.
        if not product.has_product_row and (
            _text(row, "Title") is not None or "Title" not in columns
        ):
            product.has_product_row = True
            product.first_line = line_no
            product.title = line.text("Title")
            product.body_html = line.text("Body (HTML)", max_length=512 * 1024)
            product.vendor = line.text("Vendor")
            product.product_type = line.text("Type")
            product.tags = line.text("Tags", max_length=65_535)
            product.published = line.boolean("Published")
            product.status = line.choice("Status", ("active", "draft", "archived", "unlisted"))
            product.seo_title = line.text("SEO Title")
            product.seo_description = line.text("SEO Description", max_length=65_535)
            product.product_category = line.text("Product Category", max_length=512)
            product.gift_card = line.boolean("Gift Card")
            product.google_shopping = {
                google_shopping_key(c): line.text(c)
                for c in sorted(product.columns)
                if c.startswith(GOOGLE_SHOPPING) and google_shopping_key(c)
            }
            product.option_names = [
                name for name in (line.text(f"Option{k} Name") for k in (1, 2, 3)) if name
            ]
        if _has_any(row, VARIANT_COLUMNS):
            weight, unit = _weight(line)
            values = tuple(line.text(f"Option{k} Value") for k in (1, 2, 3))
            barcode, barcode_unreadable = line.barcode("Variant Barcode")
            product.variants.append(
                VariantRow(
                    line=line_no,
                    options=(values[0], values[1], values[2]),
                    sku=line.identifier("Variant SKU"),
                    barcode=barcode,
                    price=line.money("Variant Price"),
                    compare_at_price=line.money("Variant Compare At Price"),
                    weight=weight,
                    weight_unit=unit,
                    quantity=line.integer("Variant Inventory Qty"),
                    inventory_policy=line.choice("Variant Inventory Policy", ("deny", "continue")),
                    requires_shipping=line.boolean("Variant Requires Shipping"),
                    taxable=line.boolean("Variant Taxable"),
                    cost=line.money("Cost per item"),
                    tracked=_tracked(line),
                    image=_image_src(line, "Variant Image"),
                    barcode_unreadable=barcode_unreadable,
                )
            )
        src = _image_src(line, "Image Src")
        if src is not None:
            product.images.append(
                ImageRow(
                    line=line_no,
                    src=src,
                    position=line.integer("Image Position", minimum=1),
                    alt=line.text("Image Alt Text", max_length=512),
                )
            )
    return list(products.values())


# --- writing -------------------------------------------------------------------------------


def grams(weight: Decimal | None, unit: str | None) -> str:
    """The weight in grams, with the fewest decimals that read back as the same weight.

    An imported weight exports the grams its file had (155, 5, 0.5 in any unit): those are the
    shortest such number, since distinct grams with up to three decimals never share a
    stored weight in any unit.
    """
    if weight is None:
        return ""
    unit = unit if unit in GRAMS_PER_UNIT else "kg"
    exact = weight * GRAMS_PER_UNIT[unit]
    for decimals in range(10):
        candidate = exact.quantize(Decimal(1).scaleb(-decimals))
        if weight_of(candidate, unit) == weight:
            return _plain(candidate)
    return _plain(exact)


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def boolean(value: bool | None) -> str:
    if value is None:
        return ""
    return "TRUE" if value else "FALSE"


class CsvWriter:
    """Shopify's header, then one CSV line (or quoted multi-line record) per row."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = csv.DictWriter(
            self.buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n"
        )

    def _take(self) -> str:
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text

    def header(self) -> str:
        self.writer.writeheader()
        return self._take()

    def row(self, row: dict[str, str]) -> str:
        self.writer.writerow(row)
        return self._take()
