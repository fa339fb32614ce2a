"""The event log's read API (an index per filter, in id order) and periodic work's table.

GET /api/v1/events lists newest first (id descending) and filters on topic, verb and subject.
A (filter..., id) index walked backwards answers any page of one filter without sorting; the
seed's single-column indexes (topic, verb, created_at) stay as the seed has them, and the
(subject_type, subject_id) index of the initial revision becomes (subject_type, subject_id, id),
which serves every query the old one did.

`scheduled_tasks` (new): one row per periodic task of `shopdb worker` (shopdb.jobs.schedule),
how several workers agree on when a task is due and which of them runs it.

Revision ID: 0026_events_log
Revises: 0025_notifications
Create Date: 2026-11-29 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types

revision: str = "0026_events_log"
down_revision: str | None = "0025_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_index("ix_events_topic_id", "events", ["topic", "id"], unique=False)
    op.create_index("ix_events_verb_id", "events", ["verb", "id"], unique=False)
    op.create_index(
        "ix_events_subject_type_subject_id_id",
        "events",
        ["subject_type", "subject_id", "id"],
        unique=False,
    )
    op.drop_index("ix_events_subject_type_subject_id", table_name="events")
    op.create_table(
        "scheduled_tasks",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("next_run_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=200), nullable=True),
        sa.Column("locked_until", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_started_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_result", _JSON, nullable=True),
        sa.CheckConstraint("runs >= 0", name=op.f("ck_scheduled_tasks_runs")),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduled_tasks")),
    )


def downgrade() -> None:
    op.drop_table("scheduled_tasks")
    op.create_index(
        "ix_events_subject_type_subject_id", "events", ["subject_type", "subject_id"], unique=False
    )
    op.drop_index("ix_events_subject_type_subject_id_id", table_name="events")
    op.drop_index("ix_events_verb_id", table_name="events")
    op.drop_index("ix_events_topic_id", table_name="events")
