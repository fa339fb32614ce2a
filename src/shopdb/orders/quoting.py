"""Quote an order: catalog prices, the discount, the shipping rate and the tax (reads only).

The discount, shipping and tax rules belong to their domains; this module asks each for its
part (through its service) and hands the amounts to the pure `pricing.compute_totals`.
Tax is computed from the shipping address (else the billing address): with neither, or for a
tax-exempt customer, an order carries no tax.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.markets.pricing import Presentment, price_in_market
from shopdb.orders.pricing import (
    ZERO,
    CatalogLine,
    LineRequest,
    Totals,
    compute_totals,
    load_catalog_lines,
)
from shopdb.orders.schemas import AddressInput, OrderCreate


class AppliedDiscount(Protocol):
    """What an order reads of the discounts domain's DiscountApplication."""

    @property
    def discount_code_id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def free_shipping(self) -> bool: ...


@dataclass(frozen=True)
class ShippingLine:
    rate_id: int
    title: str
    price: Decimal  # the rate's price (0 when a discount gives free shipping)


@dataclass(frozen=True)
class Quote:
    lines: list[CatalogLine]
    totals: Totals
    discount: AppliedDiscount | None
    shipping: ShippingLine | None
    tax_lines: list[dict[str, Any]]
    # The same order in the currency of the market it ships to (None: none prices it).
    presentment: Presentment | None = None


def tax_address(data: OrderCreate) -> AddressInput | None:
    for address in (data.shipping_address, data.billing_address):
        if address is not None and address.country_for_rates:
            return address
    return None


async def preview_discount(
    session: AsyncSession, data: OrderCreate, subtotal: Decimal, currency: str, now: datetime
) -> AppliedDiscount | None:
    if data.discount_code is None:
        return None
    from shopdb.discounts.service import preview_discount_code

    applied: AppliedDiscount = await preview_discount_code(
        session, data.discount_code, subtotal=subtotal, currency=currency, now=now
    )
    return applied


async def redeem_discount(
    session: AsyncSession, data: OrderCreate, subtotal: Decimal, currency: str, now: datetime
) -> AppliedDiscount | None:
    if data.discount_code is None:
        return None
    from shopdb.discounts.service import redeem_discount_code

    applied: AppliedDiscount = await redeem_discount_code(
        session, data.discount_code, subtotal=subtotal, currency=currency, now=now
    )
    return applied


async def catalog_lines(
    session: AsyncSession, data: OrderCreate, currency: str
) -> list[CatalogLine]:
    """The order's lines priced from the catalog, selling plans applied: what quote_order
    prices when it is not given them."""
    requested = [LineRequest(i.variant_id, i.quantity) for i in data.line_items]
    lines = await load_catalog_lines(session, requested, currency)
    if any(i.selling_plan_id is not None for i in data.line_items):
        from shopdb.selling_plans.ordering import apply_selling_plans

        lines = await apply_selling_plans(session, data, lines, currency)
    return lines


async def quote_order(
    session: AsyncSession,
    data: OrderCreate,
    *,
    currency: str,
    now: datetime,
    tax_exempt: bool = False,
    lines: list[CatalogLine] | None = None,
    discount: AppliedDiscount | None = None,
) -> Quote:
    """Price `data`. `lines` and `discount`, when given, are used instead of being read and
    previewed again (the placing transaction re-quotes with the discount it redeemed)."""
    if lines is None:
        lines = await catalog_lines(session, data, currency)
    subtotal = sum((line.line_total for line in lines), ZERO)
    if discount is None:
        discount = await preview_discount(session, data, subtotal, currency, now)
    amount = discount.amount if discount is not None else ZERO
    shipping = await _shipping(session, data, lines, subtotal, currency)
    if shipping is not None and discount is not None and discount.free_shipping:
        shipping = ShippingLine(shipping.rate_id, shipping.title, ZERO)
    shipping_price = shipping.price if shipping is not None else ZERO
    untaxed = compute_totals(lines, currency=currency, discount=amount, shipping=shipping_price)
    address = tax_address(data)
    if address is None or tax_exempt or (untaxed.taxable_amount <= 0 and shipping_price <= 0):
        return await _in_market(session, address, Quote(lines, untaxed, discount, shipping, []))
    from shopdb.tax.service import compute_tax

    country = address.country_for_rates
    assert country is not None  # tax_address returns only addresses with one
    tax = await compute_tax(
        session,
        country=country,
        province=address.province_for_rates,
        taxable_amount=untaxed.taxable_amount,
        shipping_amount=shipping_price,
        currency=currency,
    )
    totals = compute_totals(
        lines,
        currency=currency,
        discount=amount,
        shipping=shipping_price,
        tax=tax.total,
        taxes_included=tax.included,
    )
    tax_lines = [
        {"title": t.title, "rate": str(t.rate), "amount": str(t.amount)} for t in tax.lines
    ]
    return await _in_market(session, address, Quote(lines, totals, discount, shipping, tax_lines))


async def _in_market(session: AsyncSession, address: AddressInput | None, quote: Quote) -> Quote:
    """`quote` with its prices in the currency of the market `address` (the quote's tax
    address) is in, if any."""
    if address is None:
        return quote
    presentment = await price_in_market(
        session,
        country=address.country_for_rates,
        province=address.province_for_rates,
        shop_currency=quote.totals.currency,
        totals=quote.totals,
        tax_lines=quote.tax_lines,
    )
    if presentment is None:
        return quote
    return replace(quote, presentment=presentment, tax_lines=presentment.tax_lines)


async def _shipping(
    session: AsyncSession,
    data: OrderCreate,
    lines: list[CatalogLine],
    subtotal: Decimal,
    currency: str,
) -> ShippingLine | None:
    if data.shipping_rate_id is None:
        return None
    address = data.shipping_address
    country = address.country_for_rates if address is not None else None
    if address is None or country is None:
        raise ValidationFailed.on("shippingAddress.countryCode", "is required with shippingRateId")
    from shopdb.shipping.service import rate_for_order

    weight = sum(line.grams * line.quantity for line in lines if line.requires_shipping)
    quote = await rate_for_order(
        session,
        data.shipping_rate_id,
        country=country,
        province=address.province_for_rates,
        weight_grams=Decimal(weight),
        subtotal=subtotal,
        currency=currency,
    )
    return ShippingLine(quote.rate_id, quote.name, quote.price)
