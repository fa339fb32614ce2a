"""Orders as placed: numbers, totals, payments and checkouts (skeleton).

Revision ID: 0015_orders_checkout
Revises: 0014_shipping_tax
Create Date: 2026-11-28 17:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision: str = "0015_orders_checkout"
down_revision: str | None = "0014_shipping_tax"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
