"""Order lifecycle columns: a transaction's parent, a line's removed units.

- order_transactions.parent_id: the transaction a capture, void or refund acts on (Shopify's
  parent_id); deleting an order cascades its transactions, parents and children alike.
- order_line_items.removed_quantity: units taken off the order before they were fulfilled
  (refunded or cancelled unshipped); fulfilled + removed never exceeds quantity.

On SQLite neither goes through batch mode: its copy-and-drop of order_transactions or
order_line_items would run DROP TABLE's implicit DELETE with foreign keys on and cascade the
rows that point at them away (see revision 0004). The columns are a plain
ALTER TABLE ... ADD COLUMN each; the foreign key and the CHECK are written (and, on
downgrade, removed before their columns are dropped) into the table's schema text by SQLite's documented procedure for changes
that leave the stored rows alone (https://www.sqlite.org/lang_altertable.html#otheralter):
every existing row already satisfies it (removed_quantity is 0).

Revision ID: 0020_order_lifecycle_columns
Revises: 0019_order_idempotency_token
Create Date: 2026-11-29 09:00:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shopdb.kit.sqlite_schema import rewrite_table_sql

revision: str = "0020_order_lifecycle_columns"
down_revision: str | None = "0019_order_idempotency_token"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
REMOVED_BOUND = "removed_quantity >= 0 AND fulfilled_quantity + removed_quantity <= quantity"


PARENT_FK = (
    ", CONSTRAINT fk_order_transactions_parent_id FOREIGN KEY(parent_id)"
    " REFERENCES order_transactions (id) ON DELETE CASCADE"
)
END = r"\)\s*$"
REMOVED_CHECK = f", CONSTRAINT ck_order_line_items_removed_quantity CHECK ({REMOVED_BOUND})"


def _rewrite_sqlite_schema(table: str, pattern: str, replacement: str) -> None:
    rewrite_table_sql(op.get_bind(), table, pattern, replacement)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.add_column("order_transactions", sa.Column("parent_id", _ID, nullable=True))
        _rewrite_sqlite_schema("order_transactions", END, PARENT_FK + ")")
    else:
        op.add_column(
            "order_transactions",
            sa.Column(
                "parent_id",
                _ID,
                sa.ForeignKey(
                    "order_transactions.id",
                    name=op.f("fk_order_transactions_parent_id"),
                    ondelete="CASCADE",
                ),
                nullable=True,
            ),
        )
    op.create_index("ix_order_transactions_parent_id", "order_transactions", ["parent_id"])
    op.add_column(
        "order_line_items",
        sa.Column("removed_quantity", sa.Integer(), server_default="0", nullable=False),
    )
    if sqlite:
        _rewrite_sqlite_schema("order_line_items", END, REMOVED_CHECK + ")")
    else:
        op.create_check_constraint(
            op.f("ck_order_line_items_removed_quantity"), "order_line_items", REMOVED_BOUND
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _rewrite_sqlite_schema("order_line_items", re.escape(REMOVED_CHECK), "")
    else:
        op.drop_constraint(
            op.f("ck_order_line_items_removed_quantity"), "order_line_items", type_="check"
        )
    op.drop_column("order_line_items", "removed_quantity")
    op.drop_index("ix_order_transactions_parent_id", table_name="order_transactions")
    if sqlite:
        # SQLite refuses to drop a column that is part of a foreign key.
        _rewrite_sqlite_schema("order_transactions", re.escape(PARENT_FK), "")
    op.drop_column("order_transactions", "parent_id")
