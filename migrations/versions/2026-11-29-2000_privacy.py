"""Customer privacy requests: when a customer's personal data was erased.

- customers.redacted_at: set by POST /api/v1/customers/{id}/redact (shopdb.privacy). The row
  stays as its orders' customer, with its personal data erased; a second redaction sees it
  set and records no second `customers/redact` event.

One nullable column (ALTER TABLE ADD COLUMN): nothing is rebuilt on SQLite.

Revision ID: 0031_privacy
Revises: 0030_retention
Create Date: 2026-11-29 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shopdb.kit.types

revision: str = "0031_privacy"
down_revision: str | None = "0030_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("redacted_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    # SQLite drops an unindexed column in place (3.35+), as migration 0008 does.
    op.drop_column("customers", "redacted_at")
