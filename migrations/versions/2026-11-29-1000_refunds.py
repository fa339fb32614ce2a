"""Refunds: their line items (restock type, location) and what each refund moved.

- order_refund_line_items: the order line refunded, how many units (and how many of them were
  still unfulfilled, `removed_quantity`), Shopify's restock type, where they were restocked,
  their subtotal and tax; it goes with its refund and with its order line.
- order_refund_transactions: each refund transaction a refund made (order_transactions, the
  money's source of truth) and its mirror on the payment side (`refunds`).
- order_refunds gains subtotal, total_tax and shipping_amount (0 for existing rows).

On SQLite nothing is rebuilt: order_refunds gets plain ALTER TABLE ... ADD COLUMNs (no
constraint among them), never a batch copy-and-drop, whose DROP TABLE would cascade the rows
that point at the table away (see revision 0020). On downgrade they are dropped with ALTER
TABLE ... DROP COLUMN, which SQLite does in place for a column nothing else refers to.

Revision ID: 0021_refunds
Revises: 0020_order_lifecycle_columns
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_refunds"
down_revision: str | None = "0020_order_lifecycle_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
RESTOCK_TYPES = "restock_type IN ('no_restock', 'cancel', 'return')"
REFUND_COLUMNS = ("subtotal", "total_tax", "shipping_amount")


def _money(name: str, **options: object) -> sa.Column[object]:
    return sa.Column(name, sa.Numeric(precision=10, scale=2), **options)  # type: ignore[arg-type]


def upgrade() -> None:
    for name in REFUND_COLUMNS:
        op.add_column("order_refunds", _money(name, server_default="0", nullable=False))
    op.create_table(
        "order_refund_line_items",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("order_refund_id", _ID, nullable=False),
        sa.Column("line_item_id", _ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("removed_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "restock_type", sa.String(length=20), server_default="no_restock", nullable=False
        ),
        sa.Column("location_id", _ID, nullable=True),
        _money("subtotal", nullable=False),
        _money("total_tax", nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_refund_line_items_quantity")),
        sa.CheckConstraint(
            "removed_quantity >= 0 AND removed_quantity <= quantity",
            name=op.f("ck_order_refund_line_items_removed_quantity"),
        ),
        sa.CheckConstraint(RESTOCK_TYPES, name=op.f("ck_order_refund_line_items_restock_type")),
        sa.ForeignKeyConstraint(
            ["order_refund_id"],
            ["order_refunds.id"],
            name=op.f("fk_order_refund_line_items_order_refund_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["line_item_id"],
            ["order_line_items.id"],
            name=op.f("fk_order_refund_line_items_line_item_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_order_refund_line_items_location_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_refund_line_items")),
    )
    op.create_index(
        "ix_order_refund_line_items_order_refund_id",
        "order_refund_line_items",
        ["order_refund_id"],
    )
    op.create_index(
        "ix_order_refund_line_items_line_item_id", "order_refund_line_items", ["line_item_id"]
    )
    op.create_table(
        "order_refund_transactions",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("order_refund_id", _ID, nullable=False),
        sa.Column("order_transaction_id", _ID, nullable=False),
        sa.Column("refund_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["order_refund_id"],
            ["order_refunds.id"],
            name=op.f("fk_order_refund_transactions_order_refund_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_transaction_id"],
            ["order_transactions.id"],
            name=op.f("fk_order_refund_transactions_order_transaction_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["refunds.id"],
            name=op.f("fk_order_refund_transactions_refund_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_refund_transactions")),
    )
    op.create_index(
        "ix_order_refund_transactions_order_refund_id",
        "order_refund_transactions",
        ["order_refund_id"],
    )
    op.create_index(
        "ux_order_refund_transactions_order_transaction_id",
        "order_refund_transactions",
        ["order_transaction_id"],
        unique=True,
    )
    op.create_index(
        "ux_order_refund_transactions_refund_id",
        "order_refund_transactions",
        ["refund_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_order_refund_transactions_refund_id", table_name="order_refund_transactions")
    op.drop_index(
        "ux_order_refund_transactions_order_transaction_id",
        table_name="order_refund_transactions",
    )
    op.drop_index(
        "ix_order_refund_transactions_order_refund_id", table_name="order_refund_transactions"
    )
    op.drop_table("order_refund_transactions")
    op.drop_index("ix_order_refund_line_items_line_item_id", table_name="order_refund_line_items")
    op.drop_index(
        "ix_order_refund_line_items_order_refund_id", table_name="order_refund_line_items"
    )
    op.drop_table("order_refund_line_items")
    for name in reversed(REFUND_COLUMNS):
        op.drop_column("order_refunds", name)
