"""orders.idempotency_token: one Idempotency-Key, one order.

An order placed under an Idempotency-Key carries a hash of the caller and the key (never the
key itself), unique where set. On PostgreSQL the order commits before the key's stored
response does; should that later commit fail, a retry with the key finds the order by its
token instead of placing (and charging) a second one (shopdb.orders.placement). Orders
placed without a key, and every order from before this revision, have none.

Revision ID: 0019_order_idempotency_token
Revises: 0018_checkouts
Create Date: 2026-11-28 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_order_idempotency_token"
down_revision: str | None = "0018_checkouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYED = sa.text("idempotency_token IS NOT NULL")


def upgrade() -> None:
    op.add_column("orders", sa.Column("idempotency_token", sa.String(length=64), nullable=True))
    op.create_index(
        "ux_orders_idempotency_token",
        "orders",
        ["idempotency_token"],
        unique=True,
        postgresql_where=KEYED,
        sqlite_where=KEYED,
    )


def downgrade() -> None:
    op.drop_index("ux_orders_idempotency_token", table_name="orders")
    # A plain DROP COLUMN (SQLite 3.35+ has it): batch mode's copy-and-drop of `orders`
    # would cascade its line items and transactions away (see revision 0006).
    op.drop_column("orders", "idempotency_token")
