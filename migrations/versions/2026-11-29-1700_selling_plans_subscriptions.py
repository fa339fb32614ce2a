"""Selling plans on order lines, and subscription contracts (issue 16).

- order_line_items.selling_plan_id: the selling plan a line was sold under (its price set by
  the plan's pricing policy); a deleted plan leaves the line's history (SET NULL). Indexed,
  so deleting a plan does not scan every line.
- subscription_contracts (new; the seed has none): one recurring line of an order, billed
  every interval by placing the next order with the saved payment method (sealed). Status
  `active`, `paused` or `cancelled`; the interval is copied from the plan's billing policy
  (`day`, `week`, `month`, `year`, count >= 1). The worker finds due contracts by
  (status, next_attempt_at). Its references outlive what they point at (SET NULL).

The selling plan tables themselves are the seed's (0001). On SQLite the column is a plain
ALTER TABLE ... ADD COLUMN and its foreign key is written into the table's schema text, as
revision 0020 does (a batch copy-and-drop of order_line_items would cascade rows away).

Revision ID: 0028_selling_plans_subscriptions
Revises: 0027_b2b_terms
Create Date: 2026-11-29 17:00:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types
from shopdb.kit.sqlite_schema import rewrite_table_sql

revision: str = "0028_selling_plans_subscriptions"
down_revision: str | None = "0027_b2b_terms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
STATUSES = "status IN ('active', 'paused', 'cancelled')"
INTERVALS = "billing_interval IN ('day', 'week', 'month', 'year')"
PLAN_FK = (
    ", CONSTRAINT fk_order_line_items_selling_plan_id FOREIGN KEY(selling_plan_id)"
    " REFERENCES selling_plans (id) ON DELETE SET NULL"
)
END = r"\)\s*$"


def _time(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, shopdb.kit.types.UTCDateTime(timezone=True), nullable=nullable)


def _stamp(name: str) -> sa.Column[object]:
    return sa.Column(
        name,
        shopdb.kit.types.UTCDateTime(timezone=True),
        server_default=sa.text("CURRENT_TIMESTAMP"),
        nullable=False,
    )


def _reference(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{table}.id"],
        name=op.f(f"fk_subscription_contracts_{column}"),
        ondelete="SET NULL",
    )


def _rewrite_sqlite_schema(table: str, pattern: str, replacement: str) -> None:
    rewrite_table_sql(op.get_bind(), table, pattern, replacement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.add_column("order_line_items", sa.Column("selling_plan_id", _ID, nullable=True))
        _rewrite_sqlite_schema("order_line_items", END, PLAN_FK + ")")
    else:
        op.add_column(
            "order_line_items",
            sa.Column(
                "selling_plan_id",
                _ID,
                sa.ForeignKey(
                    "selling_plans.id",
                    name=op.f("fk_order_line_items_selling_plan_id"),
                    ondelete="SET NULL",
                ),
                nullable=True,
            ),
        )
    op.create_index("ix_order_line_items_selling_plan_id", "order_line_items", ["selling_plan_id"])

    op.create_table(
        "subscription_contracts",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("customer_id", _ID, nullable=True),
        sa.Column("origin_order_id", _ID, nullable=True),
        sa.Column("last_order_id", _ID, nullable=True),
        sa.Column("selling_plan_id", _ID, nullable=True),
        sa.Column("product_variant_id", _ID, nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="active", nullable=False),
        sa.Column("billing_interval", sa.String(length=10), nullable=False),
        sa.Column("billing_interval_count", sa.Integer(), nullable=False),
        sa.Column("anchor_date", sa.Date(), nullable=False),
        sa.Column("billing_cycle", sa.Integer(), server_default="1", nullable=False),
        sa.Column("next_billing_date", sa.Date(), nullable=False),
        _time("next_attempt_at", nullable=False),
        sa.Column("billing_attempt_count", sa.Integer(), server_default="0", nullable=False),
        _time("last_attempt_at"),
        sa.Column("last_failure_code", sa.String(length=100), nullable=True),
        sa.Column("last_failure_message", sa.Text(), nullable=True),
        _time("billing_lease_until"),
        _time("paused_at"),
        _time("cancelled_at"),
        sa.Column("shipping_address", _JSON, nullable=True),
        sa.Column("billing_address", _JSON, nullable=True),
        sa.Column("shipping_rate_id", _ID, nullable=True),
        sa.Column("payment_gateway", sa.String(length=50), nullable=False),
        sa.Column("payment_method", sa.Text(), nullable=False),
        _stamp("created_at"),
        _stamp("updated_at"),
        sa.CheckConstraint(STATUSES, name=op.f("ck_subscription_contracts_status")),
        sa.CheckConstraint(INTERVALS, name=op.f("ck_subscription_contracts_billing_interval")),
        sa.CheckConstraint(
            "billing_interval_count >= 1",
            name=op.f("ck_subscription_contracts_billing_interval_count"),
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_subscription_contracts_quantity")),
        sa.CheckConstraint(
            "billing_cycle >= 0", name=op.f("ck_subscription_contracts_billing_cycle")
        ),
        sa.CheckConstraint(
            "billing_attempt_count >= 0",
            name=op.f("ck_subscription_contracts_billing_attempt_count"),
        ),
        _reference("customer_id", "customers"),
        _reference("origin_order_id", "orders"),
        _reference("last_order_id", "orders"),
        _reference("selling_plan_id", "selling_plans"),
        _reference("product_variant_id", "product_variants"),
        _reference("shipping_rate_id", "shipping_rates"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_contracts")),
    )
    for name, columns in (
        ("customer_id", ["customer_id"]),
        ("origin_order_id", ["origin_order_id"]),
        ("selling_plan_id", ["selling_plan_id"]),
        ("status_next_attempt_at", ["status", "next_attempt_at"]),
    ):
        op.create_index(f"ix_subscription_contracts_{name}", "subscription_contracts", columns)


def downgrade() -> None:
    op.drop_table("subscription_contracts")
    op.drop_index("ix_order_line_items_selling_plan_id", table_name="order_line_items")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite refuses to drop a column that is part of a foreign key.
        _rewrite_sqlite_schema("order_line_items", re.escape(PLAN_FK), "")
    op.drop_column("order_line_items", "selling_plan_id")
