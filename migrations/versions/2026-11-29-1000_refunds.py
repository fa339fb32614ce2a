"""Refunds: their line items (restock type, location) and what each refund moved.

Revision ID: 0021_refunds
Revises: 0020_order_lifecycle_columns
Create Date: 2026-11-29 10:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0021_refunds"
down_revision: str | None = "0020_order_lifecycle_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
