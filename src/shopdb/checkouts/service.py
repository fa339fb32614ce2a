"""Checkouts: create, read and update one (repriced each time), shaped for the wire.

A checkout's token is its only name on the API: 32 random bytes, URL-safe, unguessable.
Updates are optimistic: `If-Match` with the ETag last read (412 when stale), and the row's
version guards the write itself (409 when a concurrent update won). A completed checkout, or
one being completed, is never changed (409).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.checkouts.abandonment import refresh_abandoned
from shopdb.checkouts.errors import (
    CheckoutCompleted,
    CheckoutCompletionInProgress,
    CheckoutNotFound,
)
from shopdb.checkouts.pricing import (
    Cart,
    apply_quote,
    buyer_of,
    cart_of,
    gift_card_codes,
    quote_cart,
    seal_codes,
)
from shopdb.checkouts.repository import CheckoutRepository
from shopdb.checkouts.schemas import (
    CheckoutCreate,
    CheckoutLineRead,
    CheckoutRead,
    CheckoutUpdate,
    GiftCardRead,
)
from shopdb.checkouts.settings import CheckoutSettings
from shopdb.events.service import record_event
from shopdb.jobs.kinds import CHECKOUTS_MARK_ABANDONED
from shopdb.jobs.queue import enqueue
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.etags import check_if_match
from shopdb.kit.types import utcnow
from shopdb.models.checkouts import CHECKOUT_EMAIL, Checkout
from shopdb.orders.schemas import ShippingLineRead, TaxLineRead

TOKEN_BYTES = 32
# What a gift card shows once its code was given (as the gift cards domain does).
GIFT_CARD_SHOWN = 4


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


async def create_checkout(
    session: AsyncSession,
    cipher: FieldCipher,
    config: CheckoutSettings,
    data: CheckoutCreate,
    *,
    currency: str,
    actor: str | None = None,
    now: datetime | None = None,
) -> Checkout:
    """A new checkout, priced; its abandonment check is queued for when it would be due."""
    now = now or utcnow()
    cart = Cart(
        customer_id=data.customer_id,
        email=data.email,
        line_items=data.line_items,
        shipping_address=data.shipping_address,
        billing_address=data.billing_address,
        shipping_rate_id=data.shipping_rate_id,
        discount_code=data.discount_code,
        gift_card_codes=data.gift_card_codes,
        note=data.note,
    )
    buyer = await buyer_of(session, cipher, cart)
    quote = await quote_cart(session, cart, buyer, currency=currency, now=now)
    checkout = Checkout(token=new_token(), created_at=now, updated_at=now)
    apply_quote(checkout, cart, buyer, quote)
    checkout.gift_card_codes = seal_codes(cipher, cart.gift_card_codes)
    repository = CheckoutRepository(session)
    await repository.add(checkout)
    await enqueue(
        session,
        CHECKOUTS_MARK_ABANDONED,
        {"checkoutId": checkout.id},
        run_after=now + timedelta(seconds=config.checkout_abandon_after_seconds),
        actor=actor,
    )
    _record(session, "checkouts/create", checkout, actor)
    return checkout


def _record(session: AsyncSession, topic: str, checkout: Checkout, actor: str | None) -> None:
    # No token (it is the checkout's only credential) and no email: ids, amounts, counts.
    record_event(
        session,
        topic=topic,
        subject_type="Checkout",
        subject_id=checkout.id,
        body={
            "id": checkout.id,
            "customerId": checkout.customer_id,
            "currency": checkout.currency,
            "totalPrice": str(checkout.total_price),
            "lineItems": len(checkout.line_items or []),
        },
        actor=actor,
    )


async def load_checkout(session: AsyncSession, token: str) -> Checkout:
    checkout = await CheckoutRepository(session).by_token(token)
    if checkout is None:
        raise CheckoutNotFound
    return checkout


def check_open(checkout: Checkout, now: datetime) -> None:
    if checkout.completed_at is not None:
        raise CheckoutCompleted(checkout.order_id)
    if checkout.completing_until is not None and checkout.completing_until > now:
        raise CheckoutCompletionInProgress


async def update_checkout(
    session: AsyncSession,
    cipher: FieldCipher,
    config: CheckoutSettings,
    token: str,
    data: CheckoutUpdate,
    *,
    if_match: str | None,
    currency: str,
    actor: str | None = None,
    now: datetime | None = None,
) -> Checkout:
    """Apply the fields sent and price the checkout again (today's catalog prices, the
    discount code as it stands now)."""
    now = now or utcnow()
    checkout = await load_checkout(session, token)
    check_if_match(if_match, checkout.version)
    check_open(checkout, now)
    current = cart_of(cipher, checkout)
    sent = data.model_fields_set
    email = data.email if "email" in sent else current.email
    customer_id = data.customer_id if "customer_id" in sent else current.customer_id
    if "customer_id" in sent and "email" not in sent and customer_id is not None:
        email = None  # the new customer's own email, unless one is given with it
    cart = Cart(
        customer_id=customer_id,
        email=email,
        line_items=data.line_items
        if "line_items" in sent and data.line_items is not None
        else current.line_items,
        shipping_address=data.shipping_address
        if "shipping_address" in sent
        else current.shipping_address,
        billing_address=data.billing_address
        if "billing_address" in sent
        else current.billing_address,
        shipping_rate_id=data.shipping_rate_id
        if "shipping_rate_id" in sent
        else current.shipping_rate_id,
        discount_code=data.discount_code if "discount_code" in sent else current.discount_code,
        gift_card_codes=list(data.gift_card_codes or [])
        if "gift_card_codes" in sent
        else current.gift_card_codes,
        note=data.note if "note" in sent else current.note,
    )
    buyer = await buyer_of(session, cipher, cart)
    quote = await quote_cart(session, cart, buyer, currency=currency, now=now)
    apply_quote(checkout, cart, buyer, quote)
    if "gift_card_codes" in sent:
        checkout.gift_card_codes = seal_codes(cipher, cart.gift_card_codes)
    checkout.updated_at = now
    # The version check happens here: a concurrent update makes this flush match no row
    # (StaleDataError, 409).
    await session.flush()
    if checkout.abandoned_at is not None:
        await refresh_abandoned(session, cipher, config, checkout)
    _record(session, "checkouts/update", checkout, actor)
    return checkout


def checkout_read(
    cipher: FieldCipher, config: CheckoutSettings, checkout: Checkout
) -> CheckoutRead:
    shipping = checkout.shipping_line
    return CheckoutRead(
        token=checkout.token,
        email=cipher.decrypt(checkout.email, context=CHECKOUT_EMAIL),
        customer_id=checkout.customer_id,
        currency=checkout.currency,
        line_items=[CheckoutLineRead.model_validate(line) for line in checkout.line_items],
        shipping_address=checkout.shipping_address,
        billing_address=checkout.billing_address,
        shipping_rate_id=checkout.shipping_rate_id,
        shipping_line=None if shipping is None else ShippingLineRead.model_validate(shipping),
        discount_code=checkout.discount_code,
        gift_cards=[
            GiftCardRead(last_characters=code[-GIFT_CARD_SHOWN:])
            for code in gift_card_codes(cipher, checkout)
        ],
        note=checkout.note,
        subtotal_price=checkout.subtotal_price,
        total_discounts=checkout.total_discounts,
        total_shipping=checkout.total_shipping,
        total_tax=checkout.total_tax,
        total_price=checkout.total_price,
        taxes_included=checkout.taxes_included,
        tax_lines=[TaxLineRead.model_validate(t) for t in checkout.tax_lines or []],
        total_weight=checkout.total_weight,
        completed_at=checkout.completed_at,
        order_id=checkout.order_id,
        abandoned_at=checkout.abandoned_at,
        recovered_at=checkout.recovered_at,
        recovery_url=config.recovery_url(checkout.token),
        created_at=checkout.created_at,
        updated_at=checkout.updated_at,
    )
