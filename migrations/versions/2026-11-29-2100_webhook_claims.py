"""The webhook sender's claim walks each subscription's due deliveries in order.

The claim takes, for each active subscription, its oldest due deliveries (a LATERAL subquery
per subscription, shopdb.webhooks.repository). This partial index holds only the deliveries
still to send (pending or failed) in (webhook_id, next_attempt_at, id) order, so each
subscription's share is read from the front of its range, however large the backlog and
however many succeeded rows the table has kept. Without it every claim ranked the whole
backlog with a window function: O(backlog) per claim, quadratic over a burst.

The outbox's other indexes get lighter too, since the trigger inserts ten rows for an event
with ten subscriptions in the transaction that records it: (status, next_attempt_at) becomes
a partial index of the due times of the deliveries still to send (a delivered row leaves it
instead of taking a new entry), and (webhook_id) goes, the unique (webhook_id, event_id)
index serving every lookup by subscription.

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
    op.drop_index("ix_webhook_deliveries_status_next_attempt_at", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook_id", table_name="webhook_deliveries")
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=TO_SEND,
        sqlite_where=TO_SEND,
    )
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
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.create_index(
        "ix_webhook_deliveries_webhook_id", "webhook_deliveries", ["webhook_id"], unique=False
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
        unique=False,
    )
