"""Fulfillments, fulfillment orders and fulfillment services.

- fulfillment_order_line_items (new): which order lines, and how many of their units, each
  fulfillment order ships.
- fulfillment_orders.assigned_location_id, .request_status: the location a fulfillment order
  ships from and Shopify's request status (unsubmitted, submitted, accepted, rejected,
  closed). The seed's fulfillment_service_id stays NOT NULL: a location's own fulfillment
  orders name the built-in `manual` service, the row written here.
- fulfillment_services.location_id: the location whose stock a service ships.
- order_fulfillments.fulfillment_id: the fulfillments_enhanced row (the source of truth) that
  an order_fulfillments row mirrors, unique.

On SQLite no table is batch-altered: a copy-and-drop of a table that others reference would
run DROP TABLE's implicit DELETE with foreign keys on (see revisions 0004 and 0020). Each
column is a plain ALTER TABLE ... ADD COLUMN, and its foreign key is written into the table's
schema text (removed again before the column is dropped on downgrade), by SQLite's
documented procedure for changes that leave the stored rows alone: every existing row has
null there.

Revision ID: 0022_fulfillments
Revises: 0021_refunds
Create Date: 2026-11-29 11:00:00.000000
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_fulfillments"
down_revision: str | None = "0021_refunds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
END = r"\)\s*$"

# (table, column, referred table, ON DELETE)
FOREIGN_KEYS = (
    ("order_fulfillments", "fulfillment_id", "fulfillments_enhanced", "CASCADE"),
    ("fulfillment_services", "location_id", "locations", "SET NULL"),
    ("fulfillment_orders", "assigned_location_id", "locations", "SET NULL"),
)


def _fk_text(table: str, column: str, referred: str, ondelete: str) -> str:
    return (
        f", CONSTRAINT fk_{table}_{column} FOREIGN KEY({column})"
        f" REFERENCES {referred} (id) ON DELETE {ondelete}"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, column, referred, ondelete in FOREIGN_KEYS:
        if sqlite:
            op.add_column(table, sa.Column(column, _ID, nullable=True))
            _rewrite_sqlite_schema(table, END, _fk_text(table, column, referred, ondelete) + ")")
        else:
            op.add_column(
                table,
                sa.Column(
                    column,
                    _ID,
                    sa.ForeignKey(
                        f"{referred}.id", name=op.f(f"fk_{table}_{column}"), ondelete=ondelete
                    ),
                    nullable=True,
                ),
            )
    op.create_index(
        "ux_order_fulfillments_fulfillment_id",
        "order_fulfillments",
        ["fulfillment_id"],
        unique=True,
    )
    op.add_column(
        "fulfillment_orders",
        sa.Column(
            "request_status", sa.String(length=20), server_default="unsubmitted", nullable=False
        ),
    )
    op.create_table(
        "fulfillment_order_line_items",
        sa.Column("id", _ID, sa.Identity(always=False), nullable=False),
        sa.Column("fulfillment_order_id", _ID, nullable=False),
        sa.Column("line_item_id", _ID, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_fulfillment_order_line_items_quantity")),
        sa.ForeignKeyConstraint(
            ["fulfillment_order_id"],
            ["fulfillment_orders.id"],
            name=op.f("fk_fulfillment_order_line_items_fulfillment_order_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["line_item_id"],
            ["order_line_items.id"],
            name=op.f("fk_fulfillment_order_line_items_line_item_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fulfillment_order_line_items")),
        sa.UniqueConstraint(
            "fulfillment_order_id",
            "line_item_id",
            name=op.f("uq_fulfillment_order_line_items_fulfillment_order_id_line_item_id"),
        ),
    )
    op.create_index(
        "ix_fulfillment_order_line_items_line_item_id",
        "fulfillment_order_line_items",
        ["line_item_id"],
    )
    # The built-in service of merchant-managed locations (models.fulfillments).
    op.execute(
        "INSERT INTO fulfillment_services (name, handle, service_type, format)"
        " SELECT 'Manual', 'manual', 'manual', 'json'"
        " WHERE NOT EXISTS (SELECT 1 FROM fulfillment_services WHERE handle = 'manual')"
    )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index(
        "ix_fulfillment_order_line_items_line_item_id", table_name="fulfillment_order_line_items"
    )
    op.drop_table("fulfillment_order_line_items")
    # The `manual` row stays: fulfillment orders written meanwhile still name it.
    op.drop_column("fulfillment_orders", "request_status")
    op.drop_index("ux_order_fulfillments_fulfillment_id", table_name="order_fulfillments")
    for table, column, referred, ondelete in reversed(FOREIGN_KEYS):
        if sqlite:
            # SQLite refuses to drop a column that is part of a foreign key.
            fk = _fk_text(table, column, referred, ondelete)
            _rewrite_sqlite_schema(table, re.escape(fk), "")
        else:
            op.drop_constraint(op.f(f"fk_{table}_{column}"), table, type_="foreignkey")
        op.drop_column(table, column)


def _rewrite_sqlite_schema(table: str, pattern: str, replacement: str) -> None:
    """Replace `pattern` (once) in `table`'s CREATE TABLE text; the stored rows are unchanged."""
    bind = op.get_bind()
    select_sql = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?"
    sql = bind.exec_driver_sql(select_sql, (table,)).scalar_one()
    changed, count = re.subn(pattern, lambda _: replacement, sql, count=1)
    if count != 1:
        raise RuntimeError(f"{pattern!r} is not in the schema of {table}: {sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (changed, table)
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")
    problems = bind.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"integrity check after changing {table}: {problems}")
