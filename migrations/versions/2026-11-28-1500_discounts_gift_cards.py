"""Discount codes and gift cards as checkout uses them (skeleton; filled by its issue 12 work).

Revision ID: 0013_discounts_gift_cards
Revises: 0012_filtered_keyset_indexes
Create Date: 2026-11-28 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0013_discounts_gift_cards"
down_revision: str | None = "0012_filtered_keyset_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
