"""Filtered product lists walk an index in their sort order: (filter, sort key, id) of live rows.

`vendor=X&sortBy=title` walked the whole title index and threw away the other vendors' rows
(at 300,000 products, 342 ms for a page of 20; bench/results/2026-11-27-scale-2-plans.txt). With
the filter's column first, a filtered page is a range scan of the matching rows in order. One
index per filter (vendor, status, product type) and per sort the lists use most: title, and the
default, updatedAt.

Revision ID: 0012_filtered_keyset_indexes
Revises: 0011_image_variants
Create Date: 2026-11-28 14:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_filtered_keyset_indexes"
down_revision: str | None = "0011_image_variants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILTERS = ("vendor", "status", "product_type")
SORTS = ("title", "updated_at")
LIVE = sa.text("deleted_at IS NULL")


def _indexes() -> dict[str, list[str]]:
    return {
        f"ix_products_{column}_{sort}_id": [column, sort, "id"]
        for column in FILTERS
        for sort in SORTS
    }


def upgrade() -> None:
    for name, columns in _indexes().items():
        op.create_index(
            name, "products", columns, postgresql_where=LIVE, sqlite_where=LIVE, unique=False
        )


def downgrade() -> None:
    for name in _indexes():
        op.drop_index(name, table_name="products")
