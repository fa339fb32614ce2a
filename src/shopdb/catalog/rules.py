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

from shopdb.errors import ErrorDetail, ValidationFailed

DEFAULT_OPTION_NAME = "Title"
DEFAULT_OPTION_VALUE = "Default Title"
MAX_TAGS = 250
MAX_TAG_LENGTH = 255


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


def effective_options(
    options: Sequence[OptionSpec], variant_count: int, field: str = "options"
) -> list[OptionSpec]:
    """A product without options has Shopify's implicit Title option, and one variant."""
    if options:
        return list(options)
    if variant_count > 1:
        raise ValidationFailed.on(field, "options are required when there is more than one variant")
    return [OptionSpec(DEFAULT_OPTION_NAME, [DEFAULT_OPTION_VALUE])]


def fill_default_option(
    options: Sequence[OptionSpec], variant: VariantOptions
) -> tuple[str | None, str | None, str | None]:
    """Option values of a variant, with the implicit Title option filled in when omitted."""
    values = option_values(variant)
    if (
        len(options) == 1
        and options[0].name == DEFAULT_OPTION_NAME
        and options[0].values == [DEFAULT_OPTION_VALUE]
        and values == (None, None, None)
    ):
        return (DEFAULT_OPTION_VALUE, None, None)
    return values


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
