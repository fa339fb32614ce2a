"""Webhook subscriptions and their delivery outbox.

- webhooks: `consecutive_failures` (deliveries that died in a row; reset by a success) and
  `deactivated_at` (when that run deactivated the subscription). `secret` now holds the signing
  secret sealed with the PII keys (AES-256-GCM), never the plain secret.
- webhook_deliveries: the sender's lease (`locked_by`, `locked_until`), the last attempt's
  duration, the log of attempts, and one row per (subscription, event) at most.
- A trigger on `events` writes the outbox: each inserted event gets a pending delivery per
  active subscription of its topic, in the inserting transaction. It catches every writer (the
  ORM's record_event and the Core statements that move stock alike), rolls back with the change,
  and costs no round trip: order placement pays nothing when no subscription exists.
  PostgreSQL runs it once per statement over the statement's new rows; SQLite once per row.

New columns and indexes only (ALTER TABLE ADD COLUMN): nothing is rebuilt on SQLite, so the
tables that reference these keep their foreign keys.

Revision ID: 0024_webhooks
Revises: 0023_returns
Create Date: 2026-11-29 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types

revision: str = "0024_webhooks"
down_revision: str | None = "0023_returns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTGRES_FUNCTION = """
CREATE FUNCTION webhook_deliveries_fan_out() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_deliveries (
        webhook_id, event_id, topic, payload, status, attempts, next_attempt_at, created_at
    )
    SELECT w.id, e.id, e.topic,
           COALESCE(NULLIF(e.body, 'null'::jsonb), jsonb_build_object('id', e.subject_id)),
           'pending', 0, e.created_at, e.created_at
    FROM new_events AS e
    JOIN webhooks AS w ON w.topic = e.topic AND w.active;
    RETURN NULL;
END
$$
"""
POSTGRES_TRIGGER = """
CREATE TRIGGER events_webhook_deliveries AFTER INSERT ON events
REFERENCING NEW TABLE AS new_events
FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_fan_out()
"""
SQLITE_TRIGGER = """
CREATE TRIGGER events_webhook_deliveries AFTER INSERT ON events
BEGIN
    INSERT INTO webhook_deliveries (
        webhook_id, event_id, topic, payload, status, attempts, next_attempt_at, created_at
    )
    SELECT w.id, NEW.id, NEW.topic,
           COALESCE(NULLIF(NEW.body, 'null'), json_object('id', NEW.subject_id)),
           'pending', 0, NEW.created_at, NEW.created_at
    FROM webhooks AS w
    WHERE w.topic = NEW.topic AND w.active;
END
"""


def upgrade() -> None:
    op.add_column(
        "webhooks",
        sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "webhooks",
        sa.Column("deactivated_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("webhook_deliveries", sa.Column("locked_by", sa.String(200), nullable=True))
    op.add_column(
        "webhook_deliveries",
        sa.Column("locked_until", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("webhook_deliveries", sa.Column("duration_ms", sa.Integer(), nullable=True))
    op.add_column(
        "webhook_deliveries",
        sa.Column(
            "attempt_log",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
    )
    op.create_index(
        "ux_webhook_deliveries_webhook_id_event_id",
        "webhook_deliveries",
        ["webhook_id", "event_id"],
        unique=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS events_webhook_deliveries" + _on_events())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS webhook_deliveries_fan_out()")
    op.drop_index("ux_webhook_deliveries_webhook_id_event_id", table_name="webhook_deliveries")
    op.drop_column("webhook_deliveries", "attempt_log")
    op.drop_column("webhook_deliveries", "duration_ms")
    op.drop_column("webhook_deliveries", "locked_until")
    op.drop_column("webhook_deliveries", "locked_by")
    op.drop_column("webhooks", "deactivated_at")
    op.drop_column("webhooks", "consecutive_failures")


def _on_events() -> str:
    return " ON events" if op.get_bind().dialect.name == "postgresql" else ""
