"""Pure arithmetic of pricing in a market's currency, no database.

A price in the shop's currency becomes a presentment price in two steps: it is multiplied by
the currency's exchange rate and rounded half up to the currency's minor units, then the
rounding rule applies to that amount:

    none           12.3449 -> 12.34       the converted amount, to the cent
    nearest_0_05   12.3449 -> 12.35       the nearest multiple of 0.05 (halves up)
    nearest_whole  12.3449 -> 12.00       the nearest whole unit (halves up)
    up_to_0_99     12.3449 -> 12.99       the smallest x.99 at or above it (12.99 stays)
    up_to_whole    12.3449 -> 13.00       the smallest whole unit at or above it

A free item stays free, and a priced item never becomes free: where a `nearest` rule would
round a positive price to zero, it takes one step (0.05 or 1). The rules with a fractional
step (nearest_0_05, up_to_0_99) need a currency with cents; a currency without minor units
(JPY) takes the others only.

Only unit prices are rounded by the rule. The order's other amounts follow from them exactly
(`convert`): line totals are unit price x quantity and the subtotal is their sum; the
discount is the same share of the presentment subtotal as of the shop's (so a percentage code
takes its percentage of the prices the buyer sees), rounded to minor units and split over the
lines as orders split it (pricing.allocate); shipping is converted to minor units without the
rule (a rate is not a shelf price); the tax is computed again on the presentment amounts by
the caller. So the presentment amounts satisfy the same identities as the shop's:

    sum(line totals)                       = subtotal
    sum(line discount shares)              = discount <= subtotal
    subtotal - discount + shipping + tax   = total      (taxes added to the prices)
    subtotal - discount + shipping         = total      (taxes included in the prices)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from shopdb.models.markets import ROUNDING_RULES
from shopdb.orders.pricing import ZERO, allocate, quantum, to_minor_units

__all__ = [
    "FRACTIONAL_RULES",
    "RATE_QUANTUM",
    "ROUNDING_RULES",
    "Converted",
    "ConvertedLine",
    "convert",
    "present_price",
    "rule_problem",
    "total_of",
]

# NUMERIC(18,8): a rate as the column holds it.
RATE_QUANTUM = Decimal("0.00000001")
FRACTIONAL_RULES = frozenset({"nearest_0_05", "up_to_0_99"})
_FIVE_CENTS = Decimal("0.05")
_ONE = Decimal(1)


def rule_problem(rule: str, currency: str) -> str | None:
    """Why `rule` cannot round prices in `currency` (None: it can)."""
    if rule not in ROUNDING_RULES:
        return "must be one of " + ", ".join(ROUNDING_RULES)
    if rule in FRACTIONAL_RULES and quantum(currency) >= _ONE:
        return f"needs a currency with minor units; {currency} has none"
    return None


def present_price(price: Decimal, rate: Decimal, currency: str, rule: str) -> Decimal:
    """The presentment unit price of a shop-currency `price` (see the module docstring)."""
    step = quantum(currency)
    converted = to_minor_units(price * rate, currency)
    if converted <= 0 or rule == "none":
        return converted
    if rule == "nearest_0_05":
        rounded = (converted / _FIVE_CENTS).quantize(_ONE, rounding=ROUND_HALF_UP) * _FIVE_CENTS
        rounded = max(rounded, _FIVE_CENTS)
    elif rule == "nearest_whole":
        rounded = max(converted.quantize(_ONE, rounding=ROUND_HALF_UP), _ONE)
    elif rule == "up_to_whole":
        rounded = converted.quantize(_ONE, rounding=ROUND_CEILING)
    elif rule == "up_to_0_99":
        rounded = converted.quantize(_ONE, rounding=ROUND_FLOOR) + Decimal("0.99")
        if rounded < converted:
            rounded += _ONE
    else:
        raise ValueError(f"unknown rounding rule {rule!r}")
    return rounded.quantize(step)


@dataclass(frozen=True)
class ConvertedLine:
    price: Decimal  # per unit, in the presentment currency
    total: Decimal  # price x quantity
    discount: Decimal  # its share of the presentment discount


@dataclass(frozen=True)
class Converted:
    """An order's amounts in the presentment currency, before its tax."""

    currency: str
    exchange_rate: Decimal
    rounding_rule: str
    lines: list[ConvertedLine]
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal

    @property
    def discounted(self) -> Decimal:
        return self.subtotal - self.discount


def convert(
    prices: Sequence[tuple[Decimal, int]],
    *,
    rate: Decimal,
    currency: str,
    rule: str,
    shop_subtotal: Decimal,
    shop_discount: Decimal,
    shop_shipping: Decimal,
) -> Converted:
    """The lines (unit price in the shop's currency, quantity) and the order's discount and
    shipping in `currency` (see the module docstring)."""
    unit_prices = [present_price(price, rate, currency, rule) for price, _ in prices]
    totals = [unit * quantity for unit, (_, quantity) in zip(unit_prices, prices, strict=True)]
    subtotal = sum(totals, ZERO).quantize(quantum(currency))
    discount = ZERO
    if shop_subtotal > 0 and shop_discount > 0:
        discount = min(to_minor_units(shop_discount * subtotal / shop_subtotal, currency), subtotal)
    shares = allocate(discount, totals, currency)
    return Converted(
        currency=currency,
        exchange_rate=rate,
        rounding_rule=rule,
        lines=[
            ConvertedLine(unit, total, share)
            for unit, total, share in zip(unit_prices, totals, shares, strict=True)
        ],
        subtotal=subtotal,
        discount=discount.quantize(quantum(currency)),
        shipping=to_minor_units(max(shop_shipping, ZERO) * rate, currency),
    )


def total_of(converted: Converted, tax: Decimal, *, taxes_included: bool) -> Decimal:
    """subtotal - discount + shipping (+ tax unless the prices include it)."""
    return converted.discounted + converted.shipping + (ZERO if taxes_included else tax)
