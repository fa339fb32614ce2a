"""Stored order documents, and indexes for the order list's status filter and number sort.

- order_documents: one row per placed order read or changed since, holding its list summary
  and its detail as finished JSON, each with the stamp it was built at (shopdb.models.orders.
  OrderDocumentStore, shopdb.orders.stored). Rows appear lazily: each order's first read
  builds and stores its documents. Kept uncompressed in the row up to 8,160 bytes, as
  product documents are (0035).
- (created_at, id) over the open, the closed and the cancelled placed orders: a status filter
  walked the created_at index and read every row from the table to check its two timestamps.
- (order_number, id) over placed orders: the `number` sort walked the unique index of every
  order, reservations included, and read each row to leave those out.
- The sorts' indexes (created_at, updated_at, total_price, order_number) carry the filters'
  columns (financial_status, fulfillment_status, closed_at, cancelled_at; PostgreSQL's
  INCLUDE): a filter beside a sort is checked on the index, not on rows read from the table.

Revision ID: 0036_order_documents
Revises: 0035_documents_uncompressed
Create Date: 2026-11-30 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopdb.kit.types

revision: str = "0036_order_documents"
down_revision: str | None = "0035_documents_uncompressed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLACED = "reserved_until IS NULL AND deleted_at IS NULL"
SORTS = ("created_at", "updated_at", "total_price")
FILTERED_IN_INDEX = ["financial_status", "fulfillment_status", "closed_at", "cancelled_at"]
STATUS_ROWS = {
    "open": "closed_at IS NULL AND cancelled_at IS NULL",
    "closed": "closed_at IS NOT NULL",
    "cancelled": "cancelled_at IS NOT NULL",
}


def upgrade() -> None:
    op.create_table(
        "order_documents",
        sa.Column("order_id", shopdb.kit.types.BigIntId, autoincrement=False, nullable=False),
        sa.Column("stamp", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("summary_stamp", sa.BigInteger(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("detail_stamp", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint("summary_stamp <= stamp", name=op.f("ck_order_documents_summary_stamp")),
        sa.CheckConstraint("detail_stamp <= stamp", name=op.f("ck_order_documents_detail_stamp")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_documents")),
        postgresql_with={"toast_tuple_target": 8160},
    )
    for status, rows in STATUS_ROWS.items():
        where = sa.text(f"{PLACED} AND {rows}")
        op.create_index(
            f"ix_orders_{status}_created_at_id",
            "orders",
            ["created_at", "id"],
            postgresql_where=where,
            sqlite_where=where,
        )
    op.create_index(
        "ix_orders_order_number_id",
        "orders",
        ["order_number", "id"],
        postgresql_where=sa.text(PLACED),
        sqlite_where=sa.text(PLACED),
        postgresql_include=FILTERED_IN_INDEX,
    )
    if op.get_bind().dialect.name == "postgresql":
        for sort in SORTS:
            _sort_index(sort, include=FILTERED_IN_INDEX)


def _sort_index(sort: str, *, include: list[str] | None) -> None:
    name = f"ix_orders_{sort}_id"
    op.drop_index(name, table_name="orders")
    op.create_index(
        name,
        "orders",
        [sort, "id"],
        postgresql_where=sa.text(PLACED),
        postgresql_include=include or [],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sort in SORTS:
            _sort_index(sort, include=None)
    op.drop_index("ix_orders_order_number_id", table_name="orders")
    for status in STATUS_ROWS:
        op.drop_index(f"ix_orders_{status}_created_at_id", table_name="orders")
    op.drop_table("order_documents")
