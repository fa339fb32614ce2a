"""The webhook sender's claim walks each subscription's due deliveries in order.

The claim takes, for each active subscription, its oldest due deliveries (a LATERAL subquery
per subscription, shopdb.webhooks.repository). This partial index holds only the deliveries
still to send (pending or failed) in (webhook_id, next_attempt_at, id) order, so each
subscription's share is read from the front of its range, however large the backlog and
however many succeeded rows the table has kept. Without it every claim ranked the whole
backlog with a window function: O(backlog) per claim, quadratic over a burst.

Revision ID: 0032_webhook_claims
Revises: 0031_privacy
Create Date: 2026-11-29 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032_webhook_claims"
down_revision: str | None = "0031_privacy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TO_SEND = sa.text("status IN ('pending', 'failed')")


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_to_send",
        "webhook_deliveries",
        ["webhook_id", "next_attempt_at", "id"],
        unique=False,
        postgresql_where=TO_SEND,
        sqlite_where=TO_SEND,
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_to_send", table_name="webhook_deliveries")
