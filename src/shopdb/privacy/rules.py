"""What redaction leaves of each kind of value: pure rules, no database.

- An address (an order's, a checkout's, a fulfillment's destination) keeps where tax and
  shipping were charged (country and province, with their codes) and loses the rest: names,
  company, street, city, zip, phone.
- A sealed email column (NOT NULL, with its blind index) gets the customer's placeholder,
  `redacted-customer-<id>@redacted.invalid` (RFC 2606: `.invalid` never resolves), whose blind
  index matches no real address: the customer is no longer found by the old email.
- Free text and JSON documents (notes, event bodies, webhook payloads, stored idempotent
  responses) lose every string that contains one of the customer's values (`Needles`, any
  letter case); JSON addresses among them are redacted as above.

A needle shorter than MIN_NEEDLE characters, or a number of fewer than MIN_PHONE_DIGITS digits
(a zip code), is not searched for in free text (a two-letter surname would erase unrelated
words, a zip code amounts); the structured fields holding it are erased all the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REDACTED = "[redacted]"
MIN_NEEDLE = 3
MIN_PHONE_DIGITS = 7
# Address fields a redacted order keeps: the tax and shipping jurisdiction, in either case.
KEPT_ADDRESS_FIELDS = frozenset(
    {"country", "countryCode", "country_code", "province", "provinceCode", "province_code"}
)
# Keys whose value is an address (or a list of them) in the JSON documents shopdb writes.
ADDRESS_KEYS = frozenset(
    {
        "shippingAddress",
        "billingAddress",
        "shipping_address",
        "billing_address",
        "defaultAddress",
        "default_address",
        "addresses",
        "destination",
    }
)
EMAIL_KEYS = frozenset({"email", "contactEmail", "contact_email"})


PLACEHOLDER_DOMAIN = "redacted.invalid"


def placeholder_email(customer_id: int) -> str:
    return f"redacted-customer-{customer_id}@{PLACEHOLDER_DOMAIN}"


def is_placeholder(email: str) -> bool:
    """Whether an address is a redacted customer's placeholder: no one to write to."""
    return email.strip().lower().endswith("@" + PLACEHOLDER_DOMAIN)


@dataclass(frozen=True)
class Needles:
    """A customer's personal values, lower-cased, longest first, for substring searches."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, texts: Iterable[str | None]) -> Needles:
        found = {t.strip().lower() for t in texts if t and _searchable(t.strip())}
        return cls(tuple(sorted(found, key=lambda v: (-len(v), v))))

    def __or__(self, other: Needles) -> Needles:
        return Needles.of([*self.values, *other.values])

    def __bool__(self) -> bool:
        return bool(self.values)

    def found_in(self, text: str) -> bool:
        lowered = text.lower()
        return any(needle in lowered for needle in self.values)


def _searchable(text: str) -> bool:
    """Long enough, and not a short number: a zip code such as 10001 would otherwise erase
    amounts ("10001.00") from the customer's event bodies. Phones have 7 digits or more."""
    if len(text) < MIN_NEEDLE:
        return False
    return any(c.isalpha() for c in text) or sum(c.isdigit() for c in text) >= MIN_PHONE_DIGITS


def address_values(address: dict[str, Any] | None) -> list[str]:
    """The personal values of a JSON address (what redact_address removes)."""
    if not isinstance(address, dict):
        return []
    return [
        str(value)
        for key, value in address.items()
        if key not in KEPT_ADDRESS_FIELDS and isinstance(value, str | int) and value != ""
    ]


def redact_address(address: Any) -> Any:
    if isinstance(address, list):
        return [redact_address(a) for a in address]
    if not isinstance(address, dict):
        return address
    return {k: v for k, v in address.items() if k in KEPT_ADDRESS_FIELDS}


def scrub_text(text: str | None, needles: Needles) -> str | None:
    if text is None or not needles.found_in(text):
        return text
    return REDACTED


def scrub_json(value: Any, needles: Needles, *, email: str) -> Any:
    """`value` with its addresses redacted, its emails replaced by `email` and every other
    string holding a needle replaced by REDACTED; the same object when nothing changes."""
    if isinstance(value, str):
        return REDACTED if needles.found_in(value) else value
    if isinstance(value, list):
        items = [scrub_json(v, needles, email=email) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, dict):
        return value
    changed = False
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in ADDRESS_KEYS and isinstance(item, dict | list) and _holds_address(item):
            redacted = redact_address(item)
            new = item if redacted == item else redacted
        elif key in EMAIL_KEYS and isinstance(item, str) and needles.found_in(item):
            new = email
        else:
            new = scrub_json(item, needles, email=email)
        changed = changed or new is not item
        out[key] = new
    return out if changed else value


def _holds_address(value: dict[str, Any] | list[Any]) -> bool:
    """Whether a value under an address key is an address (or a list of them), not, say, a
    fulfillment's `destination` id."""
    items = value if isinstance(value, list) else [value]
    return all(isinstance(i, dict) for i in items) and any(address_values(i) for i in items)
