"""Why a quantity changed: Shopify's adjustment reasons, the only ones stored.

Shopify lists them for `inventoryAdjustQuantities`, `inventoryMoveQuantities` and
`inventorySetQuantities` ("the value must be one of the possible reasons"); the API refuses any
other value with a 400 naming `reason`. The log (`inventory_adjustments.reason`) has a CHECK
with the same list. Reasons shopdb wrote before it followed Shopify (migration
0009_inventory_states mapped the stored ones) are still taken from code that passes them, and
stored as the Shopify reason they became, with a note saying what they were.
"""

from __future__ import annotations

from shopdb.errors import ValidationFailed
from shopdb.models.inventory import ADJUSTMENT_REASONS

REASONS = ADJUSTMENT_REASONS
DEFAULT_REASON = "correction"  # Shopify's "general adjustment reason"

# Older shopdb reasons -> (Shopify's reason, the note to keep when none is given).
LEGACY_REASONS: dict[str, tuple[str, str]] = {
    "import": ("correction", "product CSV import"),
    "disconnect": ("correction", "disconnected from the location"),
}


def checked_reason(
    reason: str | None, note: str | None, *, field: str = "reason"
) -> tuple[str, str | None]:
    """(reason, note) to store: the default when none is given, a legacy reason mapped, and
    anything else outside Shopify's list a 400 naming `field`."""
    if reason is None:
        return DEFAULT_REASON, note
    if reason in REASONS:
        return reason, note
    legacy = LEGACY_REASONS.get(reason)
    if legacy is not None:
        return legacy[0], note if note is not None else legacy[1]
    raise ValidationFailed.on(field, f"must be one of: {', '.join(REASONS)}")
