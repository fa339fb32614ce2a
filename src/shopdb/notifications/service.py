"""What each notification says and to whom: read from the domains' services, never their tables.

Each builder takes the job's ids, reads what the message needs in one read-only session and
returns a Notification (template name, recipient, the template's plain values) or Skipped
when the message no longer applies (a recovered checkout, a disabled gift card). The worker
(jobs.py) sends it after the session is closed, so no transaction is held open while a mail
server answers.

A text message goes with the shipping confirmation to the customer's phone when the
customer's SMS consent is `subscribed`.

The customer's name comes from the customer record when the order (checkout, card) has one,
else from the billing, then the shipping address. Emails are sealed in the database and are
opened here with the application's cipher.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.checkouts.service import load_checkout
from shopdb.checkouts.settings import CheckoutSettings
from shopdb.config import Settings
from shopdb.customers.service import load_contact
from shopdb.gift_cards.service import expires_on, load_gift_card
from shopdb.kit.crypto import FieldCipher
from shopdb.models.checkouts import CHECKOUT_EMAIL
from shopdb.notifications.outbox import open_gift_card_code
from shopdb.notifications.rendering import (
    CHECKOUT_RECOVERY,
    GIFT_CARD_ISSUED,
    ORDER_CONFIRMATION,
    REFUND,
    SHIPPING_CONFIRMATION,
    Line,
    Totals,
)
from shopdb.orders.fulfillments.service import get_fulfillment
from shopdb.orders.refunds.service import get_refund
from shopdb.orders.schemas import LineItemRead, OrderDetail
from shopdb.orders.service import get_order_document


@dataclass(frozen=True)
class Notification:
    name: str
    to: str
    context: dict[str, Any]
    # A phone number the text message version goes to, when the notification has one.
    sms_to: str | None = None


@dataclass(frozen=True)
class Skipped:
    reason: str


@dataclass(frozen=True)
class Recipient:
    name: str
    phone: str | None = None
    email: str | None = None


def _name_in(address: dict[str, Any] | None) -> str:
    if not address:
        return ""
    parts = (address.get("firstName"), address.get("lastName"))
    return " ".join(str(p).strip() for p in parts if p and str(p).strip())


async def _recipient(
    session: AsyncSession,
    cipher: FieldCipher,
    customer_id: int | None,
    *addresses: dict[str, Any] | None,
) -> Recipient:
    # The contact only (one row), not the customer's detail with its tags, groups and
    # addresses: every order's confirmation reads it. None when the customer was deleted (or
    # redacted) since: the addresses may still name the buyer.
    contact = None if customer_id is None else await load_contact(session, cipher, customer_id)
    name = ""
    phone = email = None
    if contact is not None:
        parts = (contact.first_name, contact.last_name)
        name = " ".join(p.strip() for p in parts if p and p.strip())
        email = contact.email
        # Texts only to a customer who agreed to receive them.
        if contact.sms_marketing_state == "subscribed":
            phone = contact.phone
    for address in addresses:
        if name:
            break
        name = _name_in(address)
    return Recipient(name=name, phone=phone, email=email)


def _base(settings: Settings, recipient: Recipient) -> dict[str, Any]:
    return {"shop_name": settings.shop_name, "customer_name": recipient.name}


def _order_line(line: LineItemRead, quantity: int | None = None) -> Line:
    count = line.quantity if quantity is None else quantity
    return Line(line.title, line.variant_title, count, line.price, line.price * count)


def _order_totals(order: OrderDetail) -> Totals:
    return Totals(
        currency=order.currency,
        subtotal=order.subtotal_price,
        discounts=order.total_discounts,
        shipping=order.total_shipping,
        tax=order.total_tax,
        total=order.total_price,
    )


async def _order_and_recipient(
    session: AsyncSession, cipher: FieldCipher, order_id: int
) -> tuple[OrderDetail, Recipient]:
    # The order's document (one statement on PostgreSQL, the API's own JSON) rather than its
    # rows: a confirmation email is sent for every order the worker sees.
    order = OrderDetail.model_validate_json(await get_order_document(session, cipher, order_id))
    recipient = await _recipient(
        session, cipher, order.customer_id, order.billing_address, order.shipping_address
    )
    return order, recipient


async def order_confirmation(
    session: AsyncSession, cipher: FieldCipher, settings: Settings, payload: dict[str, Any]
) -> Notification | Skipped:
    order, recipient = await _order_and_recipient(session, cipher, int(payload["orderId"]))
    context = _base(settings, recipient) | {
        "order_number": order.number,
        "lines": [_order_line(line) for line in order.line_items],
        "totals": _order_totals(order),
    }
    return Notification(ORDER_CONFIRMATION, order.email, context)


async def shipping_confirmation(
    session: AsyncSession, cipher: FieldCipher, settings: Settings, payload: dict[str, Any]
) -> Notification | Skipped:
    order_id = int(payload["orderId"])
    fulfillment = await get_fulfillment(session, order_id, int(payload["fulfillmentId"]))
    if fulfillment.status == "cancelled":
        return Skipped("fulfillment cancelled")
    order, recipient = await _order_and_recipient(session, cipher, order_id)
    by_id = {line.id: line for line in order.line_items}
    context = _base(settings, recipient) | {
        "order_number": order.number,
        "currency": order.currency,
        "lines": [
            _order_line(by_id[shipped.id], shipped.quantity)
            for shipped in fulfillment.line_items
            if shipped.id in by_id
        ],
        "tracking_company": fulfillment.tracking_company,
        "tracking_numbers": list(fulfillment.tracking_numbers),
        "tracking_urls": list(fulfillment.tracking_urls),
    }
    return Notification(SHIPPING_CONFIRMATION, order.email, context, sms_to=recipient.phone)


async def refund_notification(
    session: AsyncSession, cipher: FieldCipher, settings: Settings, payload: dict[str, Any]
) -> Notification | Skipped:
    order_id = int(payload["orderId"])
    refund = await get_refund(session, order_id, int(payload["refundId"]))
    order, recipient = await _order_and_recipient(session, cipher, order_id)
    by_id = {line.id: line for line in order.line_items}
    lines = [
        Line(
            by_id[r.line_item_id].title,
            by_id[r.line_item_id].variant_title,
            r.quantity,
            r.price,
            r.subtotal,
        )
        for r in refund.refund_line_items
        if r.line_item_id in by_id
    ]
    context = _base(settings, recipient) | {
        "order_number": order.number,
        "currency": refund.currency,
        "amount": refund.total_amount,
        "shipping": refund.shipping.amount,
        "lines": lines,
    }
    return Notification(REFUND, order.email, context)


def _checkout_line(line: dict[str, Any]) -> Line:
    quantity = int(line.get("quantity") or 0)
    price = Decimal(str(line.get("price") or "0"))
    total = line.get("linePrice")
    return Line(
        str(line.get("title") or ""),
        line.get("variantTitle"),
        quantity,
        price,
        price * quantity if total is None else Decimal(str(total)),
    )


async def checkout_recovery(
    session: AsyncSession, cipher: FieldCipher, settings: Settings, payload: dict[str, Any]
) -> Notification | Skipped:
    checkout = await load_checkout(session, str(payload["token"]))
    if checkout.completed_at is not None:
        return Skipped("checkout completed")
    recipient = await _recipient(
        session, cipher, checkout.customer_id, checkout.billing_address, checkout.shipping_address
    )
    context = _base(settings, recipient) | {
        "lines": [_checkout_line(line) for line in checkout.line_items or []],
        "totals": Totals(
            currency=checkout.currency,
            subtotal=checkout.subtotal_price,
            discounts=checkout.total_discounts,
            shipping=checkout.total_shipping,
            tax=checkout.total_tax,
            total=checkout.total_price,
        ),
        "recovery_url": CheckoutSettings.from_settings(settings).recovery_url(checkout.token),
    }
    email = cipher.decrypt(checkout.email, context=CHECKOUT_EMAIL)
    return Notification(CHECKOUT_RECOVERY, email, context)


def display_code(code: str) -> str:
    """As printed on a card: upper case, in groups of four."""
    upper = code.upper()
    return " ".join(upper[i : i + 4] for i in range(0, len(upper), 4))


async def gift_card_issued(
    session: AsyncSession, cipher: FieldCipher, settings: Settings, payload: dict[str, Any]
) -> Notification | Skipped:
    card = await load_gift_card(session, int(payload["giftCardId"]))
    if card.status == "disabled":
        return Skipped("gift card disabled")
    recipient = await _recipient(session, cipher, card.customer_id)
    if recipient.email is None:
        return Skipped("no customer")
    context = _base(settings, recipient) | {
        "code": display_code(open_gift_card_code(str(payload["code"]))),
        "balance": card.initial_value,
        "currency": card.currency,
        "expires_on": expires_on(card),
    }
    return Notification(GIFT_CARD_ISSUED, recipient.email, context)
