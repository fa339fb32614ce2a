"""Checkouts, and abandoned checkouts with their recovery (skeleton).

Revision ID: 0018_checkouts
Revises: 0017_lists_at_scale
Create Date: 2026-11-28 20:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0018_checkouts"
down_revision: str | None = "0017_lists_at_scale"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
