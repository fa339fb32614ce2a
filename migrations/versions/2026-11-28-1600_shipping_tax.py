"""Shipping rates as quoted, and tax rates per country and province (skeleton).

Revision ID: 0014_shipping_tax
Revises: 0013_discounts_gift_cards
Create Date: 2026-11-28 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0014_shipping_tax"
down_revision: str | None = "0013_discounts_gift_cards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
