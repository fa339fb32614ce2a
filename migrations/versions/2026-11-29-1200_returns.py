"""Returns and their line items (new tables; the seed has none).

- returns: an order's return (`open`, `closed`, `cancelled`), its note, where the received
  units were restocked and the refund made on closing; it goes with its order (CASCADE), and
  outlives a deleted location or refund (SET NULL).
- return_line_items: the order line returned from, the quantity asked for and received
  (0 <= received <= quantity), Shopify's return reason and a note; it goes with its return
  and with its order line.

Two new tables only: nothing existing is rebuilt, on SQLite either.

Revision ID: 0023_returns
Revises: 0022_fulfillments
Create Date: 2026-11-29 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopdb.kit.types

revision: str = "0023_returns"
down_revision: str | None = "0022_fulfillments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATUSES = "status IN ('open', 'closed', 'cancelled')"
REASONS = (
    "reason IN ('color', 'defective', 'not_as_described', 'other', 'size_too_large', "
    "'size_too_small', 'style', 'unknown', 'unwanted', 'wrong_item')"
)


def _time(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, shopdb.kit.types.UTCDateTime(timezone=True), nullable=nullable)


def _stamp(name: str) -> sa.Column[object]:
    return sa.Column(
        name,
        shopdb.kit.types.UTCDateTime(timezone=True),
        server_default=sa.text("CURRENT_TIMESTAMP"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "returns",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("order_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("location_id", _ID, nullable=True),
        sa.Column("refund_id", _ID, nullable=True),
        _time("closed_at"),
        _time("cancelled_at"),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.CheckConstraint(STATUSES, name=op.f("ck_returns_status")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_returns_order_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["locations.id"],
            name=op.f("fk_returns_location_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["order_refunds.id"],
            name=op.f("fk_returns_refund_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
    )
    op.create_index("ix_returns_order_id", "returns", ["order_id"])
    op.create_index("ix_returns_status", "returns", ["status"])
    op.create_index("ix_returns_refund_id", "returns", ["refund_id"])
    op.create_table(
        "return_line_items",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("return_id", _ID, nullable=False),
        sa.Column("line_item_id", _ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received_quantity", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reason", sa.String(length=30), server_default="unknown", nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_return_line_items_quantity")),
        sa.CheckConstraint(
            "received_quantity >= 0 AND received_quantity <= quantity",
            name=op.f("ck_return_line_items_received_quantity"),
        ),
        sa.CheckConstraint(REASONS, name=op.f("ck_return_line_items_reason")),
        sa.ForeignKeyConstraint(
            ["return_id"],
            ["returns.id"],
            name=op.f("fk_return_line_items_return_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["line_item_id"],
            ["order_line_items.id"],
            name=op.f("fk_return_line_items_line_item_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_line_items")),
    )
    op.create_index("ix_return_line_items_return_id", "return_line_items", ["return_id"])
    op.create_index("ix_return_line_items_line_item_id", "return_line_items", ["line_item_id"])


def downgrade() -> None:
    op.drop_index("ix_return_line_items_line_item_id", table_name="return_line_items")
    op.drop_index("ix_return_line_items_return_id", table_name="return_line_items")
    op.drop_table("return_line_items")
    op.drop_index("ix_returns_refund_id", table_name="returns")
    op.drop_index("ix_returns_status", table_name="returns")
    op.drop_index("ix_returns_order_id", table_name="returns")
    op.drop_table("returns")
