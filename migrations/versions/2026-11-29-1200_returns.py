"""Returns and their line items.

Revision ID: 0023_returns
Revises: 0022_fulfillments
Create Date: 2026-11-29 12:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0023_returns"
down_revision: str | None = "0022_fulfillments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
