"""Inventory: Shopify's quantity states and adjustment reasons (issue 17).

`inventory_levels` gains Shopify's other states, each never negative: `incoming` (not on
hand) and the unavailable `reserved`, `damaged`, `safety_stock` and `quality_control`.
Existing levels hold none of them (0). The CHECK `available >= 0` goes: a variant whose
inventory policy is `continue` (or whose item is not tracked) is sold beyond its stock and its
`available` goes negative, as Shopify shows it; a `deny` variant's floor is enforced by the
inventory repository's guarded UPDATE, which can read the policy (a CHECK cannot).

`inventory_adjustments` gains `quantity_name`, the state a row moved (one row per state a
change moved; every existing row moved `available`), and a CHECK that `reason` is one of
Shopify's reasons. Stored reasons are mapped first: a Shopify reason in another letter case or
with spaces around it is that reason; shopdb's own `import` (product CSV) and `disconnect`
become `correction` with a note saying what they were (when the row had none); any other text
becomes `other`, the original text kept at the start of the note. NULL stays NULL (the seed's
column is nullable).

Downgrade: the rows of states other than `available` are removed from the log (the old log
only knew `available`); the new states' units are dropped with their columns; a negative
`available` is raised to 0 and its variant's `inventory_quantity` (the sum of `available`)
follows, so that the restored CHECK holds. Mapped reasons stay mapped.

Revision ID: 0009_inventory_states
Revises: 0008_customer_consent
Create Date: 2026-11-28 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_inventory_states"
down_revision: str | None = "0008_customer_consent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As of this revision (models.inventory has the living lists).
NEW_STATES = ("incoming", "reserved", "damaged", "safety_stock", "quality_control")
STATES = ("available", "committed", *NEW_STATES)
REASONS = (
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
)
LEGACY_REASONS = {
    "import": "product CSV import",
    "disconnect": "disconnected from the location",
}


def _one_of(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    _map_stored_reasons()
    with op.batch_alter_table("inventory_adjustments") as batch:
        batch.add_column(
            sa.Column(
                "quantity_name", sa.String(length=20), server_default="available", nullable=False
            )
        )
        batch.create_check_constraint(
            op.f("ck_inventory_adjustments_quantity_name"), _one_of("quantity_name", STATES)
        )
        batch.create_check_constraint(
            op.f("ck_inventory_adjustments_reason"),
            f"reason IS NULL OR {_one_of('reason', REASONS)}",
        )
    with op.batch_alter_table("inventory_levels") as batch:
        for name in NEW_STATES:
            batch.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))
        batch.drop_constraint(op.f("ck_inventory_levels_available"), type_="check")
        for name in NEW_STATES:
            batch.create_check_constraint(op.f(f"ck_inventory_levels_{name}"), f"{name} >= 0")


def downgrade() -> None:
    op.execute("DELETE FROM inventory_adjustments WHERE quantity_name <> 'available'")
    with op.batch_alter_table("inventory_adjustments") as batch:
        batch.drop_constraint(op.f("ck_inventory_adjustments_reason"), type_="check")
        batch.drop_constraint(op.f("ck_inventory_adjustments_quantity_name"), type_="check")
        batch.drop_column("quantity_name")
    # Oversold levels back to 0, and their variants' totals (the sum of available) with them.
    op.execute(
        """
        UPDATE product_variants SET inventory_quantity = inventory_quantity - (
            SELECT sum(l.available) FROM inventory_levels l
            JOIN inventory_items i ON i.id = l.inventory_item_id
            WHERE i.product_variant_id = product_variants.id AND l.available < 0
        )
        WHERE id IN (
            SELECT i.product_variant_id FROM inventory_levels l
            JOIN inventory_items i ON i.id = l.inventory_item_id
            WHERE l.available < 0
        )
        """
    )
    op.execute("UPDATE inventory_levels SET available = 0 WHERE available < 0")
    with op.batch_alter_table("inventory_levels") as batch:
        for name in NEW_STATES:
            batch.drop_constraint(op.f(f"ck_inventory_levels_{name}"), type_="check")
        for name in NEW_STATES:
            batch.drop_column(name)
        batch.create_check_constraint(op.f("ck_inventory_levels_available"), "available >= 0")


def _map_stored_reasons() -> None:
    adjustments = sa.table(
        "inventory_adjustments", sa.column("reason", sa.String), sa.column("note", sa.Text)
    )
    reason, note = adjustments.c.reason, adjustments.c.note
    unknown = sa.and_(reason.is_not(None), reason.not_in(REASONS))
    # A Shopify reason written in another case or with spaces around it.
    cleaned = sa.func.lower(sa.func.trim(reason))
    op.execute(adjustments.update().where(unknown, cleaned.in_(REASONS)).values(reason=cleaned))
    for legacy, said in LEGACY_REASONS.items():
        op.execute(
            adjustments.update()
            .where(reason == legacy)
            .values(reason="correction", note=sa.func.coalesce(note, said))
        )
    # Anything else: `other`, and the note keeps what the reason said.
    kept = sa.literal("reason: ") + reason + sa.case((note.is_(None), ""), else_=" / " + note)
    op.execute(adjustments.update().where(unknown).values(reason="other", note=kept))
