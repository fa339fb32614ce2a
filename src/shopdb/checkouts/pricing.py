"""A checkout's buyer and price: the orders domain's quote, applied to the checkout's cart.

Prices, discounts, shipping and tax come from orders.quoting (the same code an order is
priced with), so a checkout completed with nothing changed becomes an order with the same
totals. Pricing only previews the discount: no code is used and no stock or gift card is
touched until the checkout is completed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.customers.errors import CustomerNotFound
from shopdb.customers.pii import CUSTOMER_EMAIL
from shopdb.customers.service import load_customer
from shopdb.errors import ValidationFailed
from shopdb.kit.crypto import FieldCipher, normalise_email, seal_email
from shopdb.models.checkouts import CHECKOUT_EMAIL, CHECKOUT_GIFT_CARD_CODES, Checkout
from shopdb.orders.quoting import Quote, quote_order
from shopdb.orders.schemas import AddressInput, LineItemInput, OrderCreate, PaymentInput


@dataclass(frozen=True)
class Cart:
    """What a checkout asks for, as the order it would become (without a payment)."""

    customer_id: int | None
    email: str | None
    line_items: list[LineItemInput]
    shipping_address: AddressInput | None
    billing_address: AddressInput | None
    shipping_rate_id: int | None
    discount_code: str | None
    gift_card_codes: list[str]
    note: str | None

    def as_order(self, email: str, payment: PaymentInput | None = None) -> OrderCreate:
        return OrderCreate(
            customer_id=self.customer_id,
            email=email,
            line_items=self.line_items,
            shipping_address=self.shipping_address,
            billing_address=self.billing_address,
            shipping_rate_id=self.shipping_rate_id,
            discount_code=self.discount_code,
            gift_card_codes=self.gift_card_codes,
            payment=payment,
            note=self.note,
        )


@dataclass(frozen=True)
class Buyer:
    email: str  # normalised
    sealed_email: str
    email_hash: str
    tax_exempt: bool


async def buyer_of(session: AsyncSession, cipher: FieldCipher, cart: Cart) -> Buyer:
    """The checkout's email (given, else its customer's) sealed for checkouts.email."""
    email = cart.email
    tax_exempt = False
    if cart.customer_id is not None:
        try:
            customer = await load_customer(session, cart.customer_id)
        except CustomerNotFound:
            raise ValidationFailed.on("customerId", "does not exist") from None
        tax_exempt = customer.tax_exempt
        if email is None:
            email = cipher.decrypt(customer.email, context=CUSTOMER_EMAIL)
    if email is None:
        raise ValidationFailed.on("email", "customerId or email is required")
    sealed, email_hash = seal_email(cipher, email, context=CHECKOUT_EMAIL)
    return Buyer(normalise_email(email), sealed, email_hash, tax_exempt)


async def quote_cart(
    session: AsyncSession, cart: Cart, buyer: Buyer, *, currency: str, now: datetime
) -> Quote:
    return await quote_order(
        session, cart.as_order(buyer.email), currency=currency, now=now, tax_exempt=buyer.tax_exempt
    )


def address_dump(address: AddressInput | None) -> dict[str, Any] | None:
    if address is None:
        return None
    dumped: dict[str, Any] = address.model_dump(by_alias=True, exclude_none=True)
    return dumped


def seal_codes(cipher: FieldCipher, codes: list[str]) -> str | None:
    if not codes:
        return None
    return cipher.encrypt(json.dumps(codes), context=CHECKOUT_GIFT_CARD_CODES)


def gift_card_codes(cipher: FieldCipher, checkout: Checkout) -> list[str]:
    if checkout.gift_card_codes is None:
        return []
    codes: list[str] = json.loads(
        cipher.decrypt(checkout.gift_card_codes, context=CHECKOUT_GIFT_CARD_CODES)
    )
    return codes


def cart_of(cipher: FieldCipher, checkout: Checkout) -> Cart:
    """The stored checkout as a cart again (its sealed gift card codes opened)."""
    return Cart(
        customer_id=checkout.customer_id,
        email=cipher.decrypt(checkout.email, context=CHECKOUT_EMAIL),
        line_items=[LineItemInput.model_validate(line) for line in checkout.requested_lines],
        shipping_address=_address(checkout.shipping_address),
        billing_address=_address(checkout.billing_address),
        shipping_rate_id=checkout.shipping_rate_id,
        discount_code=checkout.discount_code,
        gift_card_codes=gift_card_codes(cipher, checkout),
        note=checkout.note,
    )


def _address(stored: dict[str, Any] | None) -> AddressInput | None:
    return None if stored is None else AddressInput.model_validate(stored)


def apply_quote(checkout: Checkout, cart: Cart, buyer: Buyer, quote: Quote) -> None:
    """Write the cart, its buyer and its price onto `checkout`."""
    totals = quote.totals
    checkout.email = buyer.sealed_email
    checkout.email_hash = buyer.email_hash
    checkout.customer_id = cart.customer_id
    checkout.currency = totals.currency
    checkout.requested_lines = [
        {"variantId": line.variant_id, "quantity": line.quantity} for line in cart.line_items
    ]
    checkout.line_items = [
        {
            "variantId": priced.line.variant_id,
            "title": priced.line.title,
            "variantTitle": priced.line.variant_title,
            "sku": priced.line.sku,
            "quantity": priced.line.quantity,
            "price": str(priced.line.price),
            "linePrice": str(priced.total),
            "totalDiscount": str(priced.discount),
            "taxable": priced.line.taxable,
            "requiresShipping": priced.line.requires_shipping,
            "grams": priced.line.grams,
        }
        for priced in totals.lines
    ]
    checkout.shipping_address = address_dump(cart.shipping_address)
    checkout.billing_address = address_dump(cart.billing_address)
    checkout.shipping_rate_id = cart.shipping_rate_id
    checkout.discount_code = cart.discount_code
    checkout.note = cart.note
    checkout.subtotal_price = totals.subtotal
    checkout.total_discounts = totals.discount
    checkout.total_shipping = totals.shipping
    checkout.total_tax = totals.tax
    checkout.total_price = totals.total
    checkout.taxes_included = totals.taxes_included
    checkout.total_weight = sum(
        p.line.grams * p.line.quantity for p in totals.lines if p.line.requires_shipping
    )
    checkout.tax_lines = quote.tax_lines
    shipping = quote.shipping
    checkout.shipping_line = (
        None
        if shipping is None
        else {"rateId": shipping.rate_id, "title": shipping.title, "price": str(shipping.price)}
    )
