"""Lists at scale: the indexes the remaining filters and sorts need (skeleton).

Revision ID: 0016_listing_at_scale
Revises: 0015_orders_checkout
Create Date: 2026-11-28 18:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0016_listing_at_scale"
down_revision: str | None = "0015_orders_checkout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
