"""Fulfillments, fulfillment orders and fulfillment services.

Revision ID: 0022_fulfillments
Revises: 0021_refunds
Create Date: 2026-11-29 11:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0022_fulfillments"
down_revision: str | None = "0021_refunds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
