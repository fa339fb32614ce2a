"""What an order costs, recomputed on the server from the catalog: never the client's prices.

Two parts. `compute_totals` is pure arithmetic on exact decimals (no database), so its
identities can be checked for any input (tests/orders/test_pricing.py, with hypothesis):

    sum(line totals)                       = subtotal
    sum(line discount shares)              = discount <= subtotal
    subtotal - discount + shipping + tax   = total      (taxes added to the prices)
    subtotal - discount + shipping         = total      (taxes included in the prices)
    total >= 0

`load_catalog_lines` reads, in one query, what the arithmetic and the stock moves need about
each requested variant. Checkouts price a cart with the same two.

Money is rounded once, where a value enters (a discount, a rate, a tax amount from another
domain), to the currency's minor units with ROUND_HALF_UP; after that every step is an exact
sum or difference of such amounts, so nothing is rounded twice and the identities hold to
the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.orders.repository import CatalogRow, OrderRepository

# ISO 4217 minor units of the currencies that do not have two; every other has two.
MINOR_UNITS = {"BIF": 0, "CLP": 0, "JPY": 0, "KRW": 0, "PYG": 0, "VND": 0, "XAF": 0, "XOF": 0}
GRAMS_PER_UNIT = {
    "g": Decimal(1),
    "kg": Decimal(1000),
    "lb": Decimal("453.59237"),
    "oz": Decimal("28.349523125"),
}
ZERO = Decimal(0)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency.upper(), 2))


def to_minor_units(amount: Decimal, currency: str) -> Decimal:
    """`amount` rounded half up to the currency's minor units (cents for USD)."""
    return amount.quantize(quantum(currency), rounding=ROUND_HALF_UP)


def grams(weight: Decimal | None, unit: str | None) -> int:
    if weight is None:
        return 0
    factor = GRAMS_PER_UNIT.get((unit or "kg").lower(), GRAMS_PER_UNIT["kg"])
    return int((weight * factor).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class CatalogLine:
    """A requested line as the catalog prices it (`quantity` is the client's)."""

    variant_id: int
    product_id: int
    title: str
    variant_title: str | None
    sku: str | None
    price: Decimal
    quantity: int
    grams: int
    taxable: bool
    requires_shipping: bool
    inventory_item_id: int | None
    tracked: bool
    field: str  # the request field naming this line: lineItems[2]
    # The variant's inventory policy is `continue`: sold beyond its stock (`deny`: never).
    oversells: bool = False
    # The selling plan the line is sold under (its price is the plan's: selling_plans).
    selling_plan_id: int | None = None

    @property
    def line_total(self) -> Decimal:
        return self.price * self.quantity

    @property
    def stocked(self) -> bool:
        """Whether placing the line moves stock: a tracked inventory item (untracked items
        are sold without limit and without counting)."""
        return self.tracked and self.inventory_item_id is not None


@dataclass(frozen=True)
class PricedLine:
    line: CatalogLine
    total: Decimal  # price x quantity
    discount: Decimal  # its share of the order's discount


@dataclass(frozen=True)
class Totals:
    lines: list[PricedLine]
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    taxes_included: bool
    total: Decimal
    currency: str

    @property
    def taxable_amount(self) -> Decimal:
        """What tax is computed on: the taxable lines after their discount shares."""
        return sum((p.total - p.discount for p in self.lines if p.line.taxable), ZERO)


def allocate(amount: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split `amount` over `weights` in proportion, in minor units, adding up exactly.

    Each share is first rounded down; the units left over go one each to the largest
    remainders (ties to the earlier line), so no share exceeds its exact proportion by a
    whole unit and the shares sum to `amount`.
    """
    step = quantum(currency)
    total_weight = sum(weights, ZERO)
    if not weights or amount == 0 or total_weight == 0:
        return [ZERO.quantize(step) for _ in weights]
    exact = [amount * w / total_weight for w in weights]
    shares = [e.quantize(step, rounding=ROUND_DOWN) for e in exact]
    left = int((amount - sum(shares, ZERO)) / step)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - shares[i]), i))
    for index in by_remainder[:left]:
        shares[index] += step
    return shares


def compute_totals(
    lines: Sequence[CatalogLine],
    *,
    currency: str,
    discount: Decimal = ZERO,
    shipping: Decimal = ZERO,
    tax: Decimal = ZERO,
    taxes_included: bool = False,
) -> Totals:
    """The order's totals (see the module docstring for the identities they satisfy).

    A discount larger than the subtotal is capped at it: a discount never makes a total
    negative, and never reduces shipping or tax.
    """
    priced_totals = [line.line_total for line in lines]
    subtotal = sum(priced_totals, ZERO)
    applied = min(to_minor_units(max(discount, ZERO), currency), subtotal)
    shares = allocate(applied, priced_totals, currency)
    shipping = to_minor_units(max(shipping, ZERO), currency)
    tax = to_minor_units(max(tax, ZERO), currency)
    total = subtotal - applied + shipping + (ZERO if taxes_included else tax)
    return Totals(
        lines=[
            PricedLine(line, amount, share)
            for line, amount, share in zip(lines, priced_totals, shares, strict=True)
        ],
        subtotal=subtotal,
        discount=applied,
        shipping=shipping,
        tax=tax,
        taxes_included=taxes_included,
        total=total,
        currency=currency,
    )


@dataclass(frozen=True)
class LineRequest:
    variant_id: int
    quantity: int


async def load_catalog_lines(
    session: AsyncSession, requested: Sequence[LineRequest], currency: str
) -> list[CatalogLine]:
    """Each requested line priced from the catalog (one query for all of them).

    A variant that does not exist, or whose product is deleted, is a 400 naming the line's
    `variantId`.
    """
    rows = await OrderRepository(session).catalog_rows({r.variant_id for r in requested})
    lines: list[CatalogLine] = []
    for position, request in enumerate(requested):
        field = f"lineItems[{position}]"
        row = rows.get(request.variant_id)
        if row is None:
            raise ValidationFailed.on(f"{field}.variantId", "does not exist")
        lines.append(_catalog_line(row, request, field, currency))
    return lines


def _catalog_line(row: CatalogRow, request: LineRequest, field: str, currency: str) -> CatalogLine:
    return CatalogLine(
        variant_id=row.variant_id,
        product_id=row.product_id,
        title=row.product_title,
        # Shopify names a single default variant "Default Title"; an order line shows none.
        variant_title=None if row.variant_title == "Default Title" else row.variant_title,
        sku=row.sku,
        price=to_minor_units(row.price, currency),
        quantity=request.quantity,
        grams=grams(row.weight, row.weight_unit),
        taxable=row.taxable,
        requires_shipping=row.requires_shipping,
        inventory_item_id=row.inventory_item_id,
        tracked=bool(row.tracked),
        field=field,
        oversells=row.inventory_policy == "continue",
    )
