"""An order in the currency of the market it ships to (its presentment currency).

orders/quoting.py asks `price_in_market` once its quote is complete, and orders/placement.py
writes the answer onto the order and its lines with `apply_presentment`: the order keeps its
shop-currency amounts (what is charged, refunded and reported) and gains the amounts the buyer
saw. The market is the one whose region lists the shipping address's country (else the
billing address's, as tax does), in an enabled market; a region priced in the shop's currency
without currency settings changes nothing. The arithmetic is markets/rules.py.

Tax is computed again on the presentment amounts with the same rates (tax.service), so each
tax line has its presentment amount and the presentment total adds up exactly; a market with
tax-inclusive pricing prices the order tax-inclusive in both currencies (tax/ reads the same
region), and its tax is then the part of the prices that is tax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.kit.shared_reads import cached_settings
from shopdb.markets import rules
from shopdb.markets.repository import MarketPricing, MarketRepository
from shopdb.models import Order, OrderLineItem
from shopdb.orders.pricing import ZERO, PricedLine, Totals, to_minor_units

# NUMERIC(14,2): the presentment columns' largest amount.
MAX_AMOUNT = Decimal("999999999999.99")
COLUMN_QUANTUM = Decimal("0.01")


@dataclass(frozen=True)
class Presentment:
    """An order's amounts in its presentment currency (see rules.py for the identities)."""

    currency: str
    exchange_rate: Decimal
    rounding_rule: str
    lines: list[rules.ConvertedLine]  # in the order of the quote's lines
    subtotal: Decimal
    discount: Decimal
    shipping: Decimal
    tax: Decimal
    taxes_included: bool
    total: Decimal
    tax_lines: list[dict[str, Any]]  # the quote's, each with its `presentmentAmount`


async def price_in_market(
    session: AsyncSession,
    *,
    country: str | None,
    province: str | None,
    shop_currency: str,
    totals: Totals,
    tax_lines: list[dict[str, Any]],
) -> Presentment | None:
    """The quote (`totals` and its `tax_lines`) in the currency of the market that prices
    orders shipped to `country`; None when none does. `tax_lines` empty: the order carries
    no tax (no address, an exempt customer, no rate), and neither does its presentment."""
    if not country:
        return None
    country = country.strip().upper()

    async def read() -> bytes:
        found = await MarketRepository(session).pricing_for(country, shop_currency)
        if found is None:
            return b"null"
        return orjson.dumps(
            {
                "market_id": found.market_id,
                "currency": found.currency,
                "tax_inclusive": found.tax_inclusive,
                "exchange_rate": None if found.exchange_rate is None else str(found.exchange_rate),
                "rounding_rule": found.rounding_rule,
            }
        )

    # The shop's settings, through the settings cache (kit/shared_reads.py) when there is one.
    cached = orjson.loads(
        await cached_settings(session, f"market-pricing:{country}:{shop_currency}", read)
    )
    pricing = (
        None
        if cached is None
        else MarketPricing(
            market_id=cached["market_id"],
            currency=cached["currency"],
            tax_inclusive=cached["tax_inclusive"],
            exchange_rate=None
            if cached["exchange_rate"] is None
            else Decimal(cached["exchange_rate"]),
            rounding_rule=cached["rounding_rule"],
        )
    )
    if pricing is None or pricing.exchange_rate is None or pricing.rounding_rule is None:
        return None
    converted = rules.convert(
        [(p.line.price, p.line.quantity) for p in totals.lines],
        rate=pricing.exchange_rate,
        currency=pricing.currency,
        rule=pricing.rounding_rule,
        shop_subtotal=totals.subtotal,
        shop_discount=totals.discount,
        shop_shipping=totals.shipping,
    )
    tax, presented_lines = await _tax(
        session, converted, totals.lines, tax_lines, country, province, shop_currency
    )
    total = rules.total_of(converted, tax, taxes_included=totals.taxes_included)
    if total > MAX_AMOUNT:
        raise ValidationFailed.on(
            "lineItems", f"the order's total in {converted.currency} is too large to record"
        )
    return Presentment(
        currency=converted.currency,
        exchange_rate=converted.exchange_rate,
        rounding_rule=converted.rounding_rule,
        lines=converted.lines,
        subtotal=converted.subtotal,
        discount=converted.discount,
        shipping=converted.shipping,
        tax=tax,
        taxes_included=totals.taxes_included,
        total=total,
        tax_lines=presented_lines,
    )


async def _tax(
    session: AsyncSession,
    converted: rules.Converted,
    lines: Sequence[PricedLine],
    tax_lines: list[dict[str, Any]],
    country: str,
    province: str | None,
    shop_currency: str,
) -> tuple[Decimal, list[dict[str, Any]]]:
    """The presentment tax: the same rates on the presentment amounts, each line rounded to
    the currency's minor units; and the tax lines with their presentment amounts."""
    if not tax_lines:
        return ZERO, tax_lines
    from shopdb.tax.service import compute_tax

    taxable = sum(
        (
            c.total - c.discount
            for c, priced in zip(converted.lines, lines, strict=True)
            if priced.line.taxable
        ),
        ZERO,
    )
    # The shop's currency selects the region as the shop-currency tax did, so both agree on
    # whether prices include tax.
    result = await compute_tax(
        session,
        country=country,
        province=province,
        taxable_amount=taxable,
        shipping_amount=converted.shipping,
        currency=shop_currency,
    )
    amounts = [to_minor_units(line.amount, converted.currency) for line in result.lines]
    if len(amounts) != len(tax_lines):  # the rates changed between the two reads
        amounts = [ZERO for _ in tax_lines]
        if result.lines:
            amounts[0] = sum(
                (to_minor_units(line.amount, converted.currency) for line in result.lines), ZERO
            )
    presented = [
        {**line, "presentmentAmount": str(amount)}
        for line, amount in zip(tax_lines, amounts, strict=True)
    ]
    return sum(amounts, ZERO), presented


def apply_presentment(
    presentment: Presentment | None, order: Order, lines: Sequence[OrderLineItem]
) -> None:
    """Write `presentment` onto the new order and its lines (in the quote's order)."""
    if presentment is None:
        return
    order.presentment_currency = presentment.currency
    order.presentment_exchange_rate = presentment.exchange_rate.quantize(rules.RATE_QUANTUM)
    order.presentment_subtotal_price = _stored(presentment.subtotal)
    order.presentment_total_discounts = _stored(presentment.discount)
    order.presentment_total_shipping = _stored(presentment.shipping)
    order.presentment_total_tax = _stored(presentment.tax)
    order.presentment_total_price = _stored(presentment.total)
    order.tax_lines = presentment.tax_lines
    for line, converted in zip(lines, presentment.lines, strict=True):
        line.presentment_price = _stored(converted.price)
        line.presentment_total_discount = _stored(converted.discount)


def _stored(amount: Decimal) -> Decimal:
    """As the NUMERIC(14,2) column gives it back (3023 yen reads as 3023.00), so the order
    placed answers what a later read does."""
    return amount.quantize(COLUMN_QUANTUM)
