"""Pure catalog rules: handles, tags, and the consistency of options with variants.

No database here: these functions take plain values and return or raise validation errors that
name the offending field, so the API, the CSV importer and the tests share one rulebook.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from shopdb.catalog.errors import VariantLimitExceeded
from shopdb.errors import ErrorDetail, ValidationFailed

DEFAULT_OPTION_NAME = "Title"
DEFAULT_OPTION_VALUE = "Default Title"
MAX_TAGS = 250
MAX_TAG_LENGTH = 255
# Shopify's limits per product (the 2,048 variants of its current API, 3 options, 250 images).
MAX_VARIANTS = 2048
MAX_OPTIONS = 3
MAX_IMAGES = 250
MAX_NAME_LENGTH = 255
# A soft-deleted product's handle and SKUs get this mark and the row's id, which frees the
# originals for new products while the seed's UNIQUE constraints hold. Clients cannot use
# names that end like this, so a rename can never collide with a live row.
DELETED_MARK = "--deleted-"
RESERVED_ENDING = f"cannot end with {DELETED_MARK}<number> (kept for deleted products)"
_DELETED_NAME = re.compile(re.escape(DELETED_MARK) + r"[0-9]+$")


class VariantOptions(Protocol):
    @property
    def option1(self) -> str | None: ...
    @property
    def option2(self) -> str | None: ...
    @property
    def option3(self) -> str | None: ...


@dataclass(frozen=True)
class OptionSpec:
    name: str
    values: list[str]


def option_values(variant: VariantOptions) -> tuple[str | None, str | None, str | None]:
    return (variant.option1, variant.option2, variant.option3)


def slugify(title: str) -> str:
    """Shopify-style handle from a title: lower-case ASCII words joined by hyphens."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:200].strip("-") or "product"


def normalise_tags(raw: str | None, field: str = "tags") -> list[str]:
    """Split the seed's comma-separated string; trimmed, de-duplicated case-insensitively."""
    if not raw:
        return []
    seen: dict[str, str] = {}
    for part in raw.split(","):
        tag = part.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationFailed.on(
                field, f"each tag must be at most {MAX_TAG_LENGTH} characters"
            )
        seen.setdefault(tag.lower(), tag)
    if len(seen) > MAX_TAGS:
        raise ValidationFailed.on(field, f"at most {MAX_TAGS} tags")
    return list(seen.values())


def tags_string(tags: Sequence[str]) -> str | None:
    return ", ".join(tags) if tags else None


def variant_title(values: Sequence[str | None]) -> str:
    return " / ".join(v for v in values if v is not None) or DEFAULT_OPTION_VALUE


def check_options(options: Sequence[OptionSpec], field: str = "options") -> list[ErrorDetail]:
    errors: list[ErrorDetail] = []
    names: set[str] = set()
    for i, option in enumerate(options):
        if option.name.lower() in names:
            errors.append({"field": f"{field}[{i}].name", "message": "duplicate option name"})
        names.add(option.name.lower())
        if len(set(option.values)) != len(option.values):
            errors.append({"field": f"{field}[{i}].values", "message": "duplicate option value"})
    return errors


def effective_options(options: Sequence[OptionSpec]) -> list[OptionSpec]:
    """The options to check variants against: the ones given, or Shopify's implicit `Title`
    option, whose values the variants then supply (`Default Title` for a lone variant)."""
    if options:
        return list(options)
    return [OptionSpec(DEFAULT_OPTION_NAME, [])]


def _implicit_title(options: Sequence[OptionSpec]) -> bool:
    return (
        len(options) == 1
        and options[0].name == DEFAULT_OPTION_NAME
        and (not options[0].values or DEFAULT_OPTION_VALUE in options[0].values)
    )


def fill_default_option(
    options: Sequence[OptionSpec], variant: VariantOptions
) -> tuple[str | None, str | None, str | None]:
    """Option values of a variant, with the implicit Title option filled in when omitted."""
    values = option_values(variant)
    if _implicit_title(options) and values == (None, None, None):
        return (DEFAULT_OPTION_VALUE, None, None)
    return values


def grow_options(
    options: Sequence[OptionSpec], combos: Sequence[tuple[str | None, str | None, str | None]]
) -> list[OptionSpec]:
    """Shopify's REST rule: a variant's value that its option lacks is added to that option's
    values, at the end, in the order the variants use them. The implicit `Default Title`
    value goes once no variant uses it and the option has other values (a product that had
    only its default variant and now has real ones)."""
    grown: list[OptionSpec] = []
    for k, option in enumerate(options):
        values = list(option.values)
        known = set(values)
        used: set[str] = set()
        for combo in combos:
            value = combo[k] if k < 3 else None
            if value is None:
                continue
            used.add(value)
            if value not in known:
                known.add(value)
                values.append(value)
        if (
            option.name == DEFAULT_OPTION_NAME
            and len(options) == 1
            and DEFAULT_OPTION_VALUE in values
            and DEFAULT_OPTION_VALUE not in used
            and len(values) > 1
        ):
            values.remove(DEFAULT_OPTION_VALUE)
        grown.append(OptionSpec(option.name, values))
    return grown


def ordered_positions(requested: Sequence[int | None]) -> list[int]:
    """Positions 1..n for variants listed in this order, some asking for a position.

    A variant asking for position k comes before one that is k-th only by its place in the
    list; otherwise the list order decides. Whatever is asked, the result is 1..n.
    """
    order = sorted(
        range(len(requested)),
        key=lambda i: (requested[i] or i + 1, 0 if requested[i] is not None else 1, i),
    )
    positions = [0] * len(requested)
    for position, index in enumerate(order, start=1):
        positions[index] = position
    return positions


def check_variant_count(count: int, *, listed: bool = True, field: str = "variants") -> None:
    """More than MAX_VARIANTS listed in a request (400), or a product already at the limit
    getting one more (409)."""
    if (listed and count > MAX_VARIANTS) or (not listed and count >= MAX_VARIANTS):
        raise VariantLimitExceeded(MAX_VARIANTS, count, listed=listed, field=field)


def is_deleted_name(value: str | None) -> bool:
    return value is not None and _DELETED_NAME.search(value) is not None


def deleted_name(value: str, row_id: int) -> str:
    """`value` marked as deleted with its row's id, cut to fit the 255-character columns."""
    mark = f"{DELETED_MARK}{row_id}"
    return value[: MAX_NAME_LENGTH - len(mark)] + mark


def check_variants(
    options: Sequence[OptionSpec],
    combos: Sequence[tuple[str | None, str | None, str | None]],
    skus: Sequence[str | None],
    field: str = "variants",
) -> list[ErrorDetail]:
    """Every variant picks one value of each option and no value beyond them; no duplicates."""
    errors: list[ErrorDetail] = []
    seen_combos: dict[tuple[str | None, ...], int] = {}
    seen_skus: dict[str, int] = {}
    for i, combo in enumerate(combos):
        for k in range(3):
            name = f"{field}[{i}].option{k + 1}"
            value = combo[k]
            if k < len(options):
                if value is None:
                    errors.append(
                        {"field": name, "message": f"required by option {options[k].name!r}"}
                    )
                elif value not in options[k].values:
                    errors.append(
                        {
                            "field": name,
                            "message": f"{value!r} is not a value of option {options[k].name!r}",
                        }
                    )
            elif value is not None:
                errors.append(
                    {"field": name, "message": f"the product has only {len(options)} option(s)"}
                )
        if combo in seen_combos:
            errors.append(
                {
                    "field": f"{field}[{i}]",
                    "message": f"same options as {field}[{seen_combos[combo]}]",
                }
            )
        seen_combos.setdefault(combo, i)
        sku = skus[i]
        if sku and is_deleted_name(sku):
            errors.append(
                {
                    "field": f"{field}[{i}].sku",
                    "message": RESERVED_ENDING,
                }
            )
        if sku:
            if sku in seen_skus:
                errors.append(
                    {
                        "field": f"{field}[{i}].sku",
                        "message": f"same SKU as {field}[{seen_skus[sku]}]",
                    }
                )
            seen_skus.setdefault(sku, i)
    return errors


def raise_if(errors: list[ErrorDetail]) -> None:
    if errors:
        raise ValidationFailed("Validation failed", errors)


def clean_optional(value: str | None) -> str | None:
    """Empty strings are no value (an empty SKU must not collide with another empty SKU)."""
    if value is None:
        return None
    value = value.strip()
    return value or None
