"""Shopify metafield types and definition validations, as pure functions.

A value always travels as a string (Shopify stores every type as text). `parse_value` checks it
against its type and returns a comparable Python value; `check_validations` then applies a
definition's `min`, `max`, `regex`, `choices`, `max_precision` (and a few type-specific ones),
raising ValueError whose message names the failing rule.

A definition's `regex` runs on RE2 (google-re2), as Shopify documents for this validation:
its matching time is linear in the value, so a client's pattern cannot hold the worker (Python's
backtracking `re` takes seconds on `(a+)+$`). Patterns are capped at MAX_PATTERN_LENGTH when a
definition is written, and a regex only ever runs on up to MAX_REGEX_SUBJECT characters.
JSON text is checked for nesting (kit.bounds) before it is parsed, since `json.loads` recurses
per level.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse

import re2  # google-re2 ships no type information

from shopdb.kit.bounds import MAX_BIGINT, MAX_JSON_DEPTH, text_nesting_exceeds
from shopdb.metafields.richtext import check_link_url, check_rich_text

MAX_PATTERN_LENGTH = 1_000
# The longest value (or list item) a `regex` validation runs on. RE2 is linear, so this bounds
# the time one check can take; it is far above any sensible single-line text.
MAX_REGEX_SUBJECT = 65_536
# RE2's memory budget for one compiled pattern (its default is 8 MiB).
RE2_MAX_MEM = 8 << 20
MAX_INTEGER = 9_007_199_254_740_991
MAX_DECIMAL = Decimal("9999999999999.999999999")
MAX_CHOICES = 128
MAX_LIST_ITEMS = 128

WEIGHT_UNITS = {
    "g": Decimal("0.001"),
    "grams": Decimal("0.001"),
    "kg": Decimal(1),
    "kilograms": Decimal(1),
    "lb": Decimal("0.45359237"),
    "pounds": Decimal("0.45359237"),
    "oz": Decimal("0.028349523125"),
    "ounces": Decimal("0.028349523125"),
}
VOLUME_UNITS = {
    "ml": Decimal("0.001"),
    "milliliters": Decimal("0.001"),
    "cl": Decimal("0.01"),
    "centiliters": Decimal("0.01"),
    "l": Decimal(1),
    "liters": Decimal(1),
    "m3": Decimal(1000),
    "cubic_meters": Decimal(1000),
    "us_fl_oz": Decimal("0.0295735295625"),
    "us_gal": Decimal("3.785411784"),
}
DIMENSION_UNITS = {
    "mm": Decimal("0.001"),
    "millimeters": Decimal("0.001"),
    "cm": Decimal("0.01"),
    "centimeters": Decimal("0.01"),
    "m": Decimal(1),
    "meters": Decimal(1),
    "in": Decimal("0.0254"),
    "inches": Decimal("0.0254"),
    "ft": Decimal("0.3048"),
    "feet": Decimal("0.3048"),
    "yd": Decimal("0.9144"),
    "yards": Decimal("0.9144"),
}
MEASUREMENTS = {"weight": WEIGHT_UNITS, "volume": VOLUME_UNITS, "dimension": DIMENSION_UNITS}

SCALAR_TYPES = frozenset(
    {
        "single_line_text_field",
        "multi_line_text_field",
        "number_integer",
        "number_decimal",
        "boolean",
        "json",
        "date",
        "date_time",
        "url",
        "color",
        "weight",
        "volume",
        "dimension",
        "money",
        "rating",
        "rich_text_field",
        "link",
        "id",
        "product_reference",
        "variant_reference",
        "collection_reference",
        "customer_reference",
        "file_reference",
    }
)
LISTABLE = frozenset(
    {
        "single_line_text_field",
        "number_integer",
        "number_decimal",
        "date",
        "date_time",
        "url",
        "color",
        "weight",
        "volume",
        "dimension",
        "rating",
        "link",
        "product_reference",
        "variant_reference",
        "collection_reference",
        "customer_reference",
        "file_reference",
    }
)
TYPES = SCALAR_TYPES | {f"list.{t}" for t in LISTABLE}

TEXT = frozenset({"single_line_text_field", "multi_line_text_field"})
# Types whose min/max validations bound the value's length, as for text.
LENGTH_BOUNDED = TEXT | {"id"}

# Reference types: the GID resource name Shopify uses in their values, and the shopdb resource
# it points to. `file_reference` points to product images (shopdb has no Files resource; a
# product image is what Shopify calls a MediaImage). Pages do not exist, so no page_reference.
REFERENCES: dict[str, tuple[str, str]] = {
    "product_reference": ("Product", "products"),
    "variant_reference": ("ProductVariant", "variants"),
    "collection_reference": ("Collection", "collections"),
    "customer_reference": ("Customer", "customers"),
    "file_reference": ("MediaImage", "images"),
}
# Definitions of these types (owned by products or variants) may be smart collection
# conditions (Shopify's smartCollectionCondition capability; metaobject_reference has no
# metaobjects to point to here).
COLLECTION_CONDITION_TYPES = frozenset(
    {"boolean", "number_integer", "number_decimal", "rating", "single_line_text_field"}
)
COLLECTION_CONDITION_OWNERS = frozenset({"products", "variants"})
ALLOWED_VALIDATIONS: dict[str, frozenset[str]] = {
    "single_line_text_field": frozenset({"min", "max", "regex", "choices"}),
    "multi_line_text_field": frozenset({"min", "max", "regex"}),
    "number_integer": frozenset({"min", "max"}),
    "number_decimal": frozenset({"min", "max", "max_precision"}),
    "date": frozenset({"min", "max"}),
    "date_time": frozenset({"min", "max"}),
    "url": frozenset({"allowed_domains"}),
    "weight": frozenset({"min", "max"}),
    "volume": frozenset({"min", "max"}),
    "dimension": frozenset({"min", "max"}),
    "rating": frozenset({"scale_min", "scale_max"}),
    "boolean": frozenset(),
    "json": frozenset(),
    "color": frozenset(),
    "money": frozenset(),
    "id": frozenset({"min", "max", "regex"}),
    "rich_text_field": frozenset(),
    "link": frozenset(),
    **{reference: frozenset() for reference in REFERENCES},
}

_INTEGER = re.compile(r"^[-+]?\d+$")
_DECIMAL = re.compile(r"^[-+]?\d+(\.\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_GID = re.compile(r"^gid://shopify/([A-Za-z]+)/([0-9]{1,19})$")


class RuleError(ValueError):
    """A definition's validation that is refused, with its position in `validations`."""

    def __init__(self, message: str, index: int | None = None, part: str = "value") -> None:
        super().__init__(message)
        self.index = index
        self.part = part


def _check_nesting(raw: str) -> None:
    """Refuse JSON text nested deeper than MAX_JSON_DEPTH, before anything parses it.

    Counting brackets is linear but a Python loop: it only runs when there are enough brackets
    to nest that deep at all (str.count is C).
    """
    if raw.count("[") + raw.count("{") > MAX_JSON_DEPTH and text_nesting_exceeds(raw):
        raise ValueError(f"must not nest deeper than {MAX_JSON_DEPTH} levels")


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.max_mem = RE2_MAX_MEM
    options.log_errors = False  # a client's bad pattern is a 400, not a line on stderr
    return options


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Any:
    """The pattern compiled by RE2; ValueError (with RE2's reason) when it does not compile."""
    try:
        return re2.compile(pattern, _re2_options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(str(reason)) from exc


def check_pattern(pattern: str) -> None:
    """A `regex` validation's pattern, as a definition may hold it."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"must be at most {MAX_PATTERN_LENGTH} characters")
    try:
        compile_pattern(pattern)
    except ValueError as exc:
        raise ValueError(
            f"is not an RE2 expression ({exc}); RE2 has no backreferences or lookaround"
        ) from exc


def _matches(pattern: str, raw: str) -> bool:
    if len(raw) > MAX_REGEX_SUBJECT:
        raise ValueError(
            f"fails validation 'regex': values checked against a pattern are limited to "
            f"{MAX_REGEX_SUBJECT} characters"
        )
    try:
        compiled = compile_pattern(pattern)
    except ValueError as exc:
        # A pattern stored before RE2 was enforced: refuse rather than run it on `re`.
        raise ValueError(
            "fails validation 'regex': the definition's pattern is not an RE2 expression; "
            "update the definition"
        ) from exc
    return compiled.fullmatch(raw) is not None


def _decimal(raw: object, what: str = "a number") -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
        raise ValueError(f"must be {what}")
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation as exc:
        raise ValueError(f"must be {what}") from exc
    if not number.is_finite():
        raise ValueError(f"must be {what}")
    return number


def _json_object(raw: str, keys: tuple[str, ...]) -> dict[str, Any]:
    _check_nesting(raw)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"must be a JSON object with {', '.join(keys)}") from exc
    if not isinstance(data, dict) or any(k not in data for k in keys):
        raise ValueError(f"must be a JSON object with {', '.join(keys)}")
    return data


def _measurement(raw: str, kind: str) -> Decimal:
    """A weight/volume/dimension as its value in the base unit (kg, l, m)."""
    data = _json_object(raw, ("value", "unit"))
    units = MEASUREMENTS[kind]
    unit = str(data["unit"]).lower()
    if unit not in units:
        raise ValueError(f"unit must be one of {', '.join(sorted(units))}")
    value = _decimal(data["value"], "a number")
    if value < 0:
        raise ValueError("value must not be negative")
    return value * units[unit]


@dataclass(frozen=True)
class Rating:
    value: Decimal
    scale_min: Decimal
    scale_max: Decimal


@dataclass(frozen=True)
class Reference:
    """A reference value: the shopdb resource it points to and the record's id."""

    resource: str
    id: int
    gid: str


def _reference(type_: str, raw: str) -> Reference:
    name, resource = REFERENCES[type_]
    match = _GID.match(raw)
    if match is None or match.group(1) != name:
        raise ValueError(f"must be a Shopify GID like gid://shopify/{name}/123")
    identifier = int(match.group(2))
    if not 1 <= identifier <= MAX_BIGINT:
        raise ValueError(f"the id in gid://shopify/{name}/ must be between 1 and {MAX_BIGINT}")
    return Reference(resource, identifier, raw)


def _link(raw: str) -> dict[str, str]:
    data = _json_object(raw, ("text", "url"))
    extra = sorted(set(data) - {"text", "url"})
    if extra:
        raise ValueError(f"must be a JSON object with text and url only, not {extra[0]!r}")
    if not isinstance(data["text"], str):
        raise ValueError("text must be a string")
    check_link_url(data["url"])
    return {"text": data["text"], "url": data["url"]}


def parse_scalar(type_: str, raw: str) -> Any:
    if type_ == "single_line_text_field":
        if "\n" in raw or "\r" in raw:
            raise ValueError("must be a single line")
        return raw
    if type_ == "multi_line_text_field":
        return raw
    if type_ == "id":
        if not raw:
            raise ValueError("must not be empty")
        if "\n" in raw or "\r" in raw:
            raise ValueError("must be a single line")
        return raw
    if type_ in REFERENCES:
        return _reference(type_, raw)
    if type_ == "link":
        return _link(raw)
    if type_ == "rich_text_field":
        _check_nesting(raw)
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ValueError("must be a JSON object (Shopify's rich text schema)") from exc
        return check_rich_text(document)
    if type_ == "number_integer":
        if not _INTEGER.match(raw.strip()):
            raise ValueError("must be an integer")
        number = int(raw)
        if abs(number) > MAX_INTEGER:
            raise ValueError(f"must be between -{MAX_INTEGER} and {MAX_INTEGER}")
        return number
    if type_ == "number_decimal":
        if not _DECIMAL.match(raw.strip()):
            raise ValueError("must be a decimal number")
        decimal = Decimal(raw.strip())
        if abs(decimal) > MAX_DECIMAL:
            raise ValueError(f"must be between -{MAX_DECIMAL} and {MAX_DECIMAL}")
        return decimal
    if type_ == "boolean":
        if raw not in ("true", "false"):
            raise ValueError('must be "true" or "false"')
        return raw == "true"
    if type_ == "json":
        _check_nesting(raw)
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ValueError("must be valid JSON") from exc
    if type_ == "date":
        try:
            if not _DATE.match(raw):
                raise ValueError
            return date.fromisoformat(raw)
        except ValueError as exc:
            raise ValueError("must be a date as YYYY-MM-DD") from exc
    if type_ == "date_time":
        try:
            if "T" not in raw:
                raise ValueError
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError("must be an ISO 8601 date and time (YYYY-MM-DDTHH:MM:SS)") from exc
        # Without an offset a time is taken as UTC, so any two values compare.
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if type_ == "url":
        parsed = urlparse(raw)
        if parsed.scheme not in ("http", "https", "mailto", "sms", "tel"):
            raise ValueError("must be a URL with scheme http, https, mailto, sms or tel")
        if parsed.scheme in ("http", "https") and not parsed.netloc:
            raise ValueError("must be an absolute URL")
        return parsed
    if type_ == "color":
        if not _COLOR.match(raw):
            raise ValueError("must be a hex color like #1a2b3c")
        return raw.lower()
    if type_ in MEASUREMENTS:
        return _measurement(raw, type_)
    if type_ == "money":
        data = _json_object(raw, ("amount", "currency_code"))
        amount = _decimal(data["amount"], "a decimal amount")
        if not _CURRENCY.match(str(data["currency_code"])):
            raise ValueError("currency_code must be an ISO 4217 code such as USD")
        return amount
    if type_ == "rating":
        data = _json_object(raw, ("value", "scale_min", "scale_max"))
        rating = Rating(
            _decimal(data["value"]), _decimal(data["scale_min"]), _decimal(data["scale_max"])
        )
        if not rating.scale_min <= rating.value <= rating.scale_max:
            raise ValueError("value must be between scale_min and scale_max")
        return rating
    raise ValueError(f"unknown type {type_!r}")


def parse_value(type_: str, raw: str) -> Any:
    """The value as Python (a list for list types); ValueError says what is wrong."""
    if not type_.startswith("list."):
        return parse_scalar(type_, raw)
    base = type_.removeprefix("list.")
    _check_nesting(raw)
    try:
        items = json.loads(raw)
    except ValueError as exc:
        raise ValueError("must be a JSON array") from exc
    if not isinstance(items, list):
        raise ValueError("must be a JSON array")
    if len(items) > MAX_LIST_ITEMS:
        raise ValueError(f"at most {MAX_LIST_ITEMS} items")
    parsed = []
    for i, item in enumerate(items):
        if isinstance(item, (dict, list)):
            text = json.dumps(item)
        elif isinstance(item, bool) or item is None:
            raise ValueError(f"item {i}: must not be {json.dumps(item)}")
        else:
            text = str(item)
        try:
            parsed.append(parse_scalar(base, text))
        except ValueError as exc:
            raise ValueError(f"item {i}: {exc}") from exc
    return parsed


# --- definition validations ----------------------------------------------------------------


def _bound(type_: str, raw: str, name: str) -> Any:
    """A min/max validation's value as the same kind of thing the values parse to."""
    try:
        if type_ in LENGTH_BOUNDED:
            length = int(raw)
            if length < 0:
                raise ValueError
            return length
        if type_ in MEASUREMENTS:
            return _measurement(raw, type_)
        return parse_scalar(type_, raw)
    except ValueError as exc:
        raise ValueError(f"validation {name!r}: {raw!r} is not a valid bound for {type_}") from exc


def check_definition_validations(type_: str, validations: list[tuple[str, str]]) -> None:
    """Refuse validations the type does not take, or whose values do not parse.

    RuleError says which one (`index`) and whether its name or its value is wrong.
    """
    base = type_.removeprefix("list.")
    allowed = ALLOWED_VALIDATIONS.get(base, frozenset())
    if type_.startswith("list."):
        allowed = allowed | {"list.min", "list.max"}
    names = [name for name, _ in validations]
    for index, (name, raw) in enumerate(validations):
        if names.count(name) > 1:
            raise RuleError(f"validation {name!r} is given twice", index, "name")
        if name not in allowed:
            raise RuleError(
                f"validation {name!r} does not apply to {type_}"
                + (f"; use {', '.join(sorted(allowed))}" if allowed else ""),
                index,
                "name",
            )
        try:
            _check_rule_value(base, name, raw)
        except ValueError as exc:
            raise RuleError(str(exc), index) from exc
    if base == "rating" and not {"scale_min", "scale_max"} <= set(names):
        raise RuleError("rating definitions require 'scale_min' and 'scale_max' validations")


def _check_rule_value(base: str, name: str, raw: str) -> None:
    if name in ("min", "max"):
        _bound(base, raw, name)
    elif name in ("list.min", "list.max", "max_precision"):
        if not raw.isdigit():
            raise ValueError(f"validation {name!r} must be a non-negative integer")
    elif name == "regex":
        try:
            check_pattern(raw)
        except ValueError as exc:
            raise ValueError(f"validation 'regex' {exc}") from exc
    elif name == "choices":
        choices = _choices(raw)
        if not choices or len(choices) > MAX_CHOICES:
            raise ValueError(f"validation 'choices' must list 1 to {MAX_CHOICES} strings")
    elif name in ("scale_min", "scale_max"):
        _decimal(raw)
    elif name == "allowed_domains":
        _choices(raw)


def _choices(raw: str) -> list[str]:
    _check_nesting(raw)
    try:
        choices = json.loads(raw)
    except ValueError as exc:
        raise ValueError("must be a JSON array of strings") from exc
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise ValueError("must be a JSON array of strings")
    return choices


def _check_one(type_: str, value: Any, raw: str, rules: dict[str, str]) -> None:
    if type_ in LENGTH_BOUNDED:
        if "min" in rules and len(raw) < int(rules["min"]):
            raise ValueError(f"fails validation 'min': at least {rules['min']} characters")
        if "max" in rules and len(raw) > int(rules["max"]):
            raise ValueError(f"fails validation 'max': at most {rules['max']} characters")
        if "regex" in rules and not _matches(rules["regex"], raw):
            raise ValueError(f"fails validation 'regex': must match {rules['regex']}")
        if "choices" in rules and raw not in _choices(rules["choices"]):
            raise ValueError(f"fails validation 'choices': must be one of {rules['choices']}")
        return
    if "min" in rules and value < _bound(type_, rules["min"], "min"):
        raise ValueError(f"fails validation 'min': must be at least {rules['min']}")
    if "max" in rules and value > _bound(type_, rules["max"], "max"):
        raise ValueError(f"fails validation 'max': must be at most {rules['max']}")
    if "max_precision" in rules and isinstance(value, Decimal):
        exponent = value.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if places > int(rules["max_precision"]):
            raise ValueError(
                f"fails validation 'max_precision': at most {rules['max_precision']} decimals"
            )
    if "allowed_domains" in rules and type_ == "url":
        host = (value.hostname or "").lower()
        domains = [d.lower() for d in _choices(rules["allowed_domains"])]
        if not any(host == d or host.endswith("." + d) for d in domains):
            raise ValueError(f"fails validation 'allowed_domains': {', '.join(domains)}")
    if type_ == "rating":
        if "scale_min" in rules and value.value < Decimal(rules["scale_min"]):
            raise ValueError(f"fails validation 'scale_min': at least {rules['scale_min']}")
        if "scale_max" in rules and value.value > Decimal(rules["scale_max"]):
            raise ValueError(f"fails validation 'scale_max': at most {rules['scale_max']}")


def check_validations(
    type_: str, raw: str, parsed: Any, validations: list[tuple[str, str]]
) -> None:
    """Apply a definition's validations to a value that already parsed as `type_`."""
    rules = dict(validations)
    if not type_.startswith("list."):
        _check_one(type_, parsed, raw, rules)
        return
    base = type_.removeprefix("list.")
    if "list.min" in rules and len(parsed) < int(rules["list.min"]):
        raise ValueError(f"fails validation 'list.min': at least {rules['list.min']} items")
    if "list.max" in rules and len(parsed) > int(rules["list.max"]):
        raise ValueError(f"fails validation 'list.max': at most {rules['list.max']} items")
    items = json.loads(raw)  # parse_value has checked its nesting
    for i, (item, value) in enumerate(zip(items, parsed, strict=True)):
        text = json.dumps(item) if isinstance(item, (dict, list)) else str(item)
        try:
            _check_one(base, value, text, rules)
        except ValueError as exc:
            raise ValueError(f"item {i}: {exc}") from exc


def references(type_: str, parsed: Any) -> list[tuple[int | None, Reference]]:
    """The references a parsed value holds, with their list index (None for a single one)."""
    base = type_.removeprefix("list.")
    if base not in REFERENCES:
        return []
    if type_.startswith("list."):
        return list(enumerate(parsed))
    return [(None, parsed)]
