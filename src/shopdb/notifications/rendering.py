"""Templates to messages: Jinja2 renders each notification's subject, plain text and HTML.

Each notification `name` has three templates in ./templates: `name.subject.txt`,
`name.txt` and `name.html` (and `name.sms.txt` where a text message goes too). Templates get
plain values (rendering.Line, Totals, strings), never ORM objects, and are rendered with
StrictUndefined, so a misspelt variable fails the job rather than sending a blank.

HTML is autoescaped: a customer named `<script>` reads as text. The plain-text parts are not
(there is no markup to escape), and the subject is folded to one line, so no value can add a
header. Links are rendered only when they are http(s) (`safe_url`), so an address such as
`javascript:` given as a tracking URL is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shopdb.kit.types import utcnow

ORDER_CONFIRMATION = "order_confirmation"
SHIPPING_CONFIRMATION = "shipping_confirmation"
REFUND = "refund"
CHECKOUT_RECOVERY = "checkout_recovery"
GIFT_CARD_ISSUED = "gift_card_issued"
TEMPLATES = (ORDER_CONFIRMATION, SHIPPING_CONFIRMATION, REFUND, CHECKOUT_RECOVERY, GIFT_CARD_ISSUED)


@dataclass(frozen=True)
class Line:
    title: str
    variant_title: str | None
    quantity: int
    price: Decimal
    total: Decimal


@dataclass(frozen=True)
class Totals:
    currency: str
    subtotal: Decimal
    total: Decimal
    discounts: Decimal = Decimal("0.00")
    shipping: Decimal = Decimal("0.00")
    tax: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class Rendered:
    name: str
    subject: str
    text: str
    html: str


def money(amount: Decimal | str | None, currency: str) -> str:
    if amount is None:
        return ""
    return f"{Decimal(amount):,.2f} {currency}"


def safe_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) address, else None (never a `javascript:` link)."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url.strip()


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("shopdb.notifications", "templates"),
        # .html templates (and what they include) escape every value; .txt ones do not.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["money"] = money
    environment.filters["safe_url"] = safe_url
    return environment


_ENVIRONMENT = _environment()


def render(name: str, context: dict[str, Any]) -> Rendered:
    """The notification `name` rendered with `context`."""
    if name not in TEMPLATES:
        raise ValueError(f"no notification template {name!r}")
    subject = _ENVIRONMENT.get_template(f"{name}.subject.txt").render(context)
    return Rendered(
        name=name,
        # One line whatever the values held: a newline there would start another header.
        subject=" ".join(subject.split()),
        text=_ENVIRONMENT.get_template(f"{name}.txt").render(context),
        html=_ENVIRONMENT.get_template(f"{name}.html").render(context),
    )


def render_sms(name: str, context: dict[str, Any]) -> str:
    return _ENVIRONMENT.get_template(f"{name}.sms.txt").render(context).strip()


def message_id(key: str, sender: str) -> str:
    """A Message-ID that is the same on every retry of one notification (`key`), so a mail
    system (and the file backend) can drop a duplicate from a retried job."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{key}@{domain}>"


def build_email(rendered: Rendered, *, to: str, sender: str, key: str) -> EmailMessage:
    """A multipart/alternative message: the plain text, then the HTML (which readers prefer)."""
    message = EmailMessage()
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = Address(addr_spec=to)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id(key, sender)
    message["X-Shopdb-Notification"] = rendered.name
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
