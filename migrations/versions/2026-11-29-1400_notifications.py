"""Notifications: no table of their own (each message is a job in `jobs`, with its outcome);
the revision keeps its place in the chain.

Revision ID: 0025_notifications
Revises: 0024_webhooks
Create Date: 2026-11-29 14:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0025_notifications"
down_revision: str | None = "0024_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
