"""Filtered product lists sorted by creation date walk their own index too.

Migration 0012 gave each filter (vendor, status, product type) an index per sort the lists use
most (title, updatedAt); `sortBy=created` with a filter still walked the whole creation-date
index and discarded the other filters' rows. With these, every filter and sort of the product
list is a range scan of (filter, sort key, id) over live rows.

Revision ID: 0016_listing_at_scale
Revises: 0015_orders_checkout
Create Date: 2026-11-28 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_listing_at_scale"
down_revision: str | None = "0015_orders_checkout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTERS = ("vendor", "status", "product_type")
LIVE = sa.text("deleted_at IS NULL")


def _indexes() -> dict[str, list[str]]:
    return {
        f"ix_products_{column}_created_at_id": [column, "created_at", "id"] for column in FILTERS
    }


def upgrade() -> None:
    for name, columns in _indexes().items():
        op.create_index(
            name, "products", columns, postgresql_where=LIVE, sqlite_where=LIVE, unique=False
        )


def downgrade() -> None:
    for name in _indexes():
        op.drop_index(name, table_name="products")
