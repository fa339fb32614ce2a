"""Checkouts, and abandoned checkouts with their recovery.

- checkouts: a priced cart with its buyer (email sealed, blind index), addresses, shipping
  rate, discount code and sealed gift card codes; its totals; its completion (the order) and
  its abandonment and recovery. A partial index on updated_at covers the rows the abandonment
  job still has to look at.
- abandoned_checkouts_enhanced (the source of truth of abandoned checkouts) and
  abandoned_checkouts (its summary mirror): their emails are sealed like every other email
  (wider columns, and an `email_hash` blind index); the mirror carries the checkout's `token`
  to find its row again.

Revision ID: 0018_checkouts
Revises: 0017_lists_at_scale
Create Date: 2026-11-28 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types

revision: str = "0018_checkouts"
down_revision: str | None = "0017_lists_at_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_MONEY = sa.Numeric(precision=10, scale=2)
_SEALED_EMAIL = 512  # shopdb.models.customers.ENCRYPTED_EMAIL_LENGTH
PENDING = sa.text("completed_at IS NULL AND abandoned_at IS NULL")


def _time(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, shopdb.kit.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "checkouts",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=_SEALED_EMAIL), nullable=False),
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("requested_lines", _JSON, nullable=False),
        sa.Column("line_items", _JSON, nullable=False),
        sa.Column("shipping_address", _JSON, nullable=True),
        sa.Column("billing_address", _JSON, nullable=True),
        sa.Column("shipping_rate_id", _ID, nullable=True),
        sa.Column("discount_code", sa.String(length=255), nullable=True),
        sa.Column("gift_card_codes", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        *(
            sa.Column(name, _MONEY, nullable=False)
            for name in (
                "subtotal_price",
                "total_discounts",
                "total_shipping",
                "total_tax",
                "total_price",
            )
        ),
        sa.Column("taxes_included", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("total_weight", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tax_lines", _JSON, nullable=True),
        sa.Column("shipping_line", _JSON, nullable=True),
        _time("completing_until"),
        _time("completed_at"),
        sa.Column("order_id", _ID, nullable=True),
        _time("abandoned_at"),
        _time("recovered_at"),
        sa.Column(
            "created_at",
            shopdb.kit.types.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            shopdb.kit.types.UTCDateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_checkouts_customer_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["shipping_rate_id"],
            ["shipping_rates.id"],
            name=op.f("fk_checkouts_shipping_rate_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_checkouts_order_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkouts")),
    )
    op.create_index("ux_checkouts_token", "checkouts", ["token"], unique=True)
    op.create_index("ix_checkouts_email_hash", "checkouts", ["email_hash"])
    op.create_index("ix_checkouts_customer_id", "checkouts", ["customer_id"])
    op.create_index(
        "ix_checkouts_pending_updated_at",
        "checkouts",
        ["updated_at"],
        postgresql_where=PENDING,
        sqlite_where=PENDING,
    )

    with op.batch_alter_table("abandoned_checkouts_enhanced") as batch:
        batch.alter_column(
            "email",
            existing_type=sa.String(length=255),
            type_=sa.String(length=_SEALED_EMAIL),
            existing_nullable=True,
        )
        batch.add_column(sa.Column("email_hash", sa.String(length=64), nullable=True))
    op.create_index(
        "ix_abandoned_checkouts_enhanced_email_hash",
        "abandoned_checkouts_enhanced",
        ["email_hash"],
    )
    with op.batch_alter_table("abandoned_checkouts") as batch:
        batch.alter_column(
            "email",
            existing_type=sa.String(length=255),
            type_=sa.String(length=_SEALED_EMAIL),
            existing_nullable=False,
        )
        batch.add_column(sa.Column("email_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("token", sa.String(length=255), nullable=True))
    op.create_index("ix_abandoned_checkouts_email_hash", "abandoned_checkouts", ["email_hash"])
    op.create_index("ux_abandoned_checkouts_token", "abandoned_checkouts", ["token"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_abandoned_checkouts_token", table_name="abandoned_checkouts")
    op.drop_index("ix_abandoned_checkouts_email_hash", table_name="abandoned_checkouts")
    with op.batch_alter_table("abandoned_checkouts") as batch:
        batch.drop_column("token")
        batch.drop_column("email_hash")
        batch.alter_column(
            "email",
            existing_type=sa.String(length=_SEALED_EMAIL),
            type_=sa.String(length=255),
            existing_nullable=False,
        )
    op.drop_index(
        "ix_abandoned_checkouts_enhanced_email_hash", table_name="abandoned_checkouts_enhanced"
    )
    with op.batch_alter_table("abandoned_checkouts_enhanced") as batch:
        batch.drop_column("email_hash")
        batch.alter_column(
            "email",
            existing_type=sa.String(length=_SEALED_EMAIL),
            type_=sa.String(length=255),
            existing_nullable=True,
        )
    op.drop_index("ix_checkouts_pending_updated_at", table_name="checkouts")
    op.drop_index("ix_checkouts_customer_id", table_name="checkouts")
    op.drop_index("ix_checkouts_email_hash", table_name="checkouts")
    op.drop_index("ux_checkouts_token", table_name="checkouts")
    op.drop_table("checkouts")
