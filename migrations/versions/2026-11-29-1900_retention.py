"""Data retention: an index for the retention run's scan of checkouts never completed.

`shopdb retention run` (and the worker's `data_retention/run`) removes checkouts created
before a policy's cutoff and never completed, a batch at a time, oldest first. The partial
index on (created_at, id) over the rows without `completed_at` makes each batch one index
range, however many completed checkouts the table holds. The other supported types (events,
inventory adjustments, orders, customers) already have a `created_at` index.

Revision ID: 0030_retention
Revises: 0029_markets_pricing
Create Date: 2026-11-29 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030_retention"
down_revision: str | None = "0029_markets_pricing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOT_COMPLETED = sa.text("completed_at IS NULL")


def upgrade() -> None:
    op.create_index(
        "ix_checkouts_created_at_id",
        "checkouts",
        ["created_at", "id"],
        postgresql_where=NOT_COMPLETED,
        sqlite_where=NOT_COMPLETED,
    )


def downgrade() -> None:
    op.drop_index("ix_checkouts_created_at_id", table_name="checkouts")
