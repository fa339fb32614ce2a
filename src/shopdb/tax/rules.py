"""Pure tax arithmetic, no database: how a country rate and a province rate combine, and the
tax lines of an amount, tax-exclusive or tax-inclusive.

A province rate combines with its country's rate as Shopify's provinces do (`tax_type`):
`normal` adds to it (Canada's PST on top of the 5% GST: two lines), `harmonized` replaces it
(Canada's HST: one line), `compounded` is charged on the price plus the country tax (Quebec's
QST before 2013). With no province row the country rate alone applies; with no country row the
province rate alone.

Each line is rounded to cents on its own (ROUND_HALF_UP), and the total is the sum of the
rounded lines, so the lines always add up to the total. Tax-inclusive prices already hold every
tax that applies to them: the net is the gross divided by one plus the rates that apply, and a
line's tax is its rate times the net, which for a single rate is `gross - gross / (1 + rate)`.
Shipping is taxed only by the lines whose rate says `shipping_taxable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)


@dataclass(frozen=True)
class RateRule:
    """What the arithmetic needs of a stored tax rate."""

    name: str
    rate: Decimal
    shipping_taxable: bool
    tax_type: str = "normal"


@dataclass(frozen=True)
class TaxLine:
    title: str
    rate: Decimal
    amount: Decimal


@dataclass(frozen=True)
class TaxResult:
    lines: list[TaxLine]
    total: Decimal
    # Prices already include the tax (tax-inclusive region): the total is not added on top.
    included: bool


@dataclass(frozen=True)
class _Component:
    rule: RateRule
    effective: Decimal  # the rate applied to the net amount


def components(country: RateRule | None, province: RateRule | None) -> list[_Component]:
    """The rates that apply, in order (country first), each with its effective rate."""
    if province is None:
        found = [] if country is None else [_Component(country, country.rate)]
    elif country is None or province.tax_type == "harmonized":
        found = [_Component(province, province.rate)]
    elif province.tax_type == "compounded":
        found = [
            _Component(country, country.rate),
            _Component(province, province.rate * (1 + country.rate)),
        ]
    else:
        found = [_Component(country, country.rate), _Component(province, province.rate)]
    return [c for c in found if c.effective > 0]


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def compute(
    country: RateRule | None,
    province: RateRule | None,
    *,
    taxable_amount: Decimal,
    shipping_amount: Decimal,
    included: bool,
) -> TaxResult:
    if taxable_amount < 0 or shipping_amount < 0:
        raise ValueError("taxable and shipping amounts are never negative")
    applied = components(country, province)
    goods, shipping = taxable_amount, shipping_amount
    if included:
        goods = goods / (1 + sum((c.effective for c in applied), ZERO))
        shipping = shipping / (
            1 + sum((c.effective for c in applied if c.rule.shipping_taxable), ZERO)
        )
    lines = [
        TaxLine(
            title=c.rule.name,
            rate=c.rule.rate,
            amount=cents(c.effective * (goods + (shipping if c.rule.shipping_taxable else ZERO))),
        )
        for c in applied
    ]
    return TaxResult(
        lines=lines,
        total=sum((line.amount for line in lines), ZERO).quantize(CENT),
        included=included,
    )
