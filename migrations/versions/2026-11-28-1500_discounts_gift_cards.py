"""Discount codes and gift cards as checkout uses them (issue 12).

`discount_codes` gains `currency` (required for a fixed amount; on other types it restricts the
code to checkouts in that currency) and CHECKs for what the API validates: the type, a
percentage in (0, 100], a positive fixed amount, a free-shipping value of 0, a non-negative
minimum, a usage limit of at least 1 that `used_count` never passes, and an end after the start.
Codes become unique in any letter case: a unique index on lower(code) (the lookup's index).

`gift_cards` gains `last_characters`, `note` and `disabled_at`, and CHECKs on `status` and a
positive initial value. The CHECK `balance <= initial_value` goes: as Shopify's credits, an
adjustment may take a balance above the initial value (never below zero). From now on `code`
holds the keyed hash of the code (shopdb.gift_cards.codes), never the code: rows written before
keep their plaintext until `shopdb.gift_cards.service.hash_plaintext_codes` runs (a row's last
four characters are filled here from it).

`gift_card_transactions` is new: each card's ledger (issue, adjustment, debit, credit), whose
amounts add up to the card's balance; `order_id` is a plain BIGINT (no foreign key).

Downgrade: the ledger is dropped; a balance above its initial value raises the initial value
to it, so that the restored CHECK holds.

Revision ID: 0013_discounts_gift_cards
Revises: 0012_filtered_keyset_indexes
Create Date: 2026-11-28 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopdb.kit.types

revision: str = "0013_discounts_gift_cards"
down_revision: str | None = "0012_filtered_keyset_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# As of this revision (shopdb.models.discounts has the living lists).
DISCOUNT_CHECKS = {
    "type": "type IN ('percentage', 'fixed_amount', 'free_shipping')",
    "value": (
        "(type = 'percentage' AND value > 0 AND value <= 100)"
        " OR (type = 'fixed_amount' AND value > 0 AND currency IS NOT NULL)"
        " OR (type = 'free_shipping' AND value = 0)"
    ),
    "minimum_amount": "minimum_amount IS NULL OR minimum_amount >= 0",
    "usage_limit": "usage_limit IS NULL OR (usage_limit >= 1 AND used_count <= usage_limit)",
    "window": "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at",
}
GIFT_CARD_CHECKS = {
    "initial_value": "initial_value > 0",
    "status": "status IN ('active', 'disabled')",
}


def upgrade() -> None:
    with op.batch_alter_table("discount_codes") as batch:
        batch.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        for name, condition in DISCOUNT_CHECKS.items():
            batch.create_check_constraint(op.f(f"ck_discount_codes_{name}"), condition)
    # After the batch: SQLite's rebuild would not carry an expression index it cannot reflect.
    op.create_index(
        "ux_discount_codes_lower_code",
        "discount_codes",
        [sa.literal_column("lower(code)")],
        unique=True,
    )

    with op.batch_alter_table("gift_cards") as batch:
        batch.add_column(sa.Column("last_characters", sa.String(length=4), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("disabled_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE gift_cards SET last_characters = lower(substr(code, -4))")
    with op.batch_alter_table("gift_cards") as batch:
        batch.alter_column("last_characters", existing_type=sa.String(length=4), nullable=False)
        batch.drop_constraint(op.f("ck_gift_cards_balance_within_initial_value"), type_="check")
        for name, condition in GIFT_CARD_CHECKS.items():
            batch.create_check_constraint(op.f(f"ck_gift_cards_{name}"), condition)
        batch.create_index("ix_gift_cards_last_characters", ["last_characters"], unique=False)

    op.create_table(
        "gift_card_transactions",
        sa.Column("id", _BIGINT_ID, sa.Identity(always=False), nullable=False),
        sa.Column("gift_card_id", _BIGINT_ID, nullable=False),
        sa.Column("amount", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            shopdb.kit.types.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_gift_card_transactions_amount")),
        sa.CheckConstraint(
            "kind IN ('issue', 'adjustment', 'debit', 'credit')",
            name=op.f("ck_gift_card_transactions_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["gift_card_id"],
            ["gift_cards.id"],
            name=op.f("fk_gift_card_transactions_gift_card_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gift_card_transactions")),
    )
    op.create_index(
        "ix_gift_card_transactions_gift_card_id_id",
        "gift_card_transactions",
        ["gift_card_id", "id"],
        unique=False,
    )
    op.create_index(
        "ix_gift_card_transactions_order_id", "gift_card_transactions", ["order_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_gift_card_transactions_order_id", table_name="gift_card_transactions")
    op.drop_index("ix_gift_card_transactions_gift_card_id_id", table_name="gift_card_transactions")
    op.drop_table("gift_card_transactions")

    op.execute("UPDATE gift_cards SET initial_value = balance WHERE balance > initial_value")
    with op.batch_alter_table("gift_cards") as batch:
        batch.drop_index("ix_gift_cards_last_characters")
        for name in GIFT_CARD_CHECKS:
            batch.drop_constraint(op.f(f"ck_gift_cards_{name}"), type_="check")
        batch.create_check_constraint(
            op.f("ck_gift_cards_balance_within_initial_value"), "balance <= initial_value"
        )
        batch.drop_column("disabled_at")
        batch.drop_column("note")
        batch.drop_column("last_characters")

    op.drop_index("ux_discount_codes_lower_code", table_name="discount_codes")
    with op.batch_alter_table("discount_codes") as batch:
        for name in DISCOUNT_CHECKS:
            batch.drop_constraint(op.f(f"ck_discount_codes_{name}"), type_="check")
        batch.drop_column("currency")
