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

import secrets
from dataclasses import dataclass
from decimal import Decimal
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import EmailPolicy
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
        # Templates ship with the package: no check of their files' times at every render.
        auto_reload=False,
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


HEADERS_KEPT = 512  # parsed header values a process keeps (then it starts over)


class _ParsedOnce(HeaderRegistry):
    """The default policy's header registry, minus the repeated work: each header class is
    built once (HeaderRegistry builds a new one, `type(...)`, at every lookup, twice per
    header set), and a header value met before (the sender, the parts' Content-Type and
    Content-Transfer-Encoding, MIME-Version) is not parsed again. Header objects are
    immutable, so messages can share them. Together this was half the CPU of building a
    message, which every order's confirmation does."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._parsed: dict[tuple[str, str], BaseHeader] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()  # the registry's own lookup is by the lower-cased name
        found = self._classes.get(key)
        if found is None:
            found = self._classes[key] = super().__getitem__(name)
        return found

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if not isinstance(value, str):  # an Address, say: parsed as given
            return super().__call__(name, value)
        key = (name, value)
        found = self._parsed.get(key)
        if found is None:
            if len(self._parsed) >= HEADERS_KEPT:
                self._parsed.clear()
            found = self._parsed[key] = super().__call__(name, value)
        return found


class _FoldedOnce(EmailPolicy):
    """email.policy.default, folding a header met before (the sender, the parts' headers) as
    it did the first time rather than again: folding re-walks the header's parse tree, which
    was half of writing a message out. Keyed on everything folding depends on, so a clone
    (aiosmtplib's, with CRLF line ends) folds afresh."""

    def fold(self, name: str, value: Any) -> str:
        folded: str = self._folded(name, value, binary=False)
        return folded

    def fold_binary(self, name: str, value: Any) -> bytes:
        folded: bytes = self._folded(name, value, binary=True)
        return folded

    def _folded(self, name: str, value: Any, *, binary: bool) -> Any:
        fold = super().fold_binary if binary else super().fold
        if not isinstance(value, BaseHeader):  # a raw value (a parsed message's): as it is
            return fold(name, value)
        key = (
            name,
            str(value),
            type(value),
            binary,
            self.max_line_length,
            self.linesep,
            self.utf8,
            self.cte_type,
            self.refold_source,
        )
        found = _FOLDED.get(key)
        if found is None:
            if len(_FOLDED) >= HEADERS_KEPT:
                _FOLDED.clear()
            found = _FOLDED[key] = fold(name, value)
        return found


_FOLDED: dict[tuple[Any, ...], Any] = {}

# email.policy.default, with headers parsed and folded once (the messages are the same).
POLICY = _FoldedOnce(header_factory=_ParsedOnce())


def build_email(rendered: Rendered, *, to: str, sender: str, key: str) -> EmailMessage:
    """A multipart/alternative message: the plain text, then the HTML (which readers prefer)."""
    message = EmailMessage(policy=POLICY)
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = Address(addr_spec=to)
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = message_id(key, sender)
    message["X-Shopdb-Notification"] = rendered.name
    message.set_content(rendered.text)
    # A boundary of our own: the generator's would be checked against the whole text with a
    # regular expression compiled anew for each message (a sixth of building it). "=_" never
    # occurs in quoted-printable, and 128 random bits in nothing a customer can write.
    message.make_alternative(boundary="=_" + secrets.token_hex(16))
    message.add_alternative(rendered.html, subtype="html")
    return message
