"""The catalog's typed errors: each carries its status, a stable code and the field it is about.

Clients branch on `code`; `details` names the field so a form (or a CSV line) can point at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shopdb.errors import Conflict, ErrorDetail, NotFound


def product_not_found(product_id: int) -> NotFound:
    """A live product with this id does not exist (soft-deleted ones are not found either)."""
    return NotFound.resource("Product", product_id)


class HandleTaken(Conflict):
    """Another product (or collection) already has this handle; soft-deleted ones keep theirs."""

    code = "HANDLE_TAKEN"

    def __init__(self, handle: str, field: str = "handle") -> None:
        super().__init__(
            f"Handle {handle!r} is already taken", [{"field": field, "message": "is already taken"}]
        )


class SkuTaken(Conflict):
    """SKUs are unique across the catalog; details name each clashing variant's `sku` field."""

    code = "SKU_TAKEN"

    def __init__(self, details: Sequence[ErrorDetail]) -> None:
        super().__init__("SKU already in use", details)


@dataclass(frozen=True)
class CommittedVariant:
    """A variant whose removal was refused: its id, SKU, committed units, the field naming it."""

    variant_id: int
    sku: str | None
    committed: int
    field: str

    def describe(self) -> str:
        named = f"variant {self.variant_id}" + (f" (SKU {self.sku!r})" if self.sku else "")
        return f"{named} holds {self.committed} committed unit(s)"


class VariantHasCommittedStock(Conflict):
    """Removing the variants would delete levels holding units that orders are waiting for."""

    code = "VARIANT_HAS_COMMITTED_STOCK"

    def __init__(self, variants: Sequence[CommittedVariant]) -> None:
        self.variants = list(variants)
        held = "; ".join(v.describe() for v in self.variants)
        super().__init__(
            f"{held[:1].upper()}{held[1:]}; fulfil or cancel those orders before removing it",
            [{"field": v.field, "message": v.describe()} for v in self.variants],
        )


class LastVariant(Conflict):
    code = "LAST_VARIANT"

    def __init__(self, field: str = "id") -> None:
        super().__init__(
            "A product keeps at least one variant; delete the product instead",
            [{"field": field, "message": "is the product's only variant"}],
        )


class VariantLimitExceeded(Conflict):
    """More variants than a product may have (Shopify's 2,048).

    400 when the request itself lists too many (a product create or PUT); 409 when the product
    already holds the maximum and one more is added (POST /products/{id}/variants).
    """

    code = "VARIANT_LIMIT_EXCEEDED"

    def __init__(self, limit: int, count: int, *, listed: bool, field: str = "variants") -> None:
        if listed:
            self.status_code = 400
            message = f"A product has at most {limit} variants; {count} were sent"
            detail = f"at most {limit} variants ({count} sent)"
        else:
            message = f"The product already has {count} variants, the most it may have"
            detail = f"the product already has {limit} variants"
        super().__init__(message, [{"field": field, "message": detail}])


class ImageLimitExceeded(Conflict):
    """The product already has (or the request would give it) more images than allowed."""

    code = "IMAGE_LIMIT_EXCEEDED"

    def __init__(self, limit: int, count: int, field: str = "images") -> None:
        super().__init__(
            f"A product has at most {limit} images; it would have {count}",
            [{"field": field, "message": f"at most {limit} images per product"}],
        )
