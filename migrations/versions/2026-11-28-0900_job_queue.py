"""The jobs table becomes a durable queue: payload, attempts, schedule, lease, claim index.

`run_after` is when a queued job is due; `locked_by` / `locked_until` lease a running job to
one worker process (shopdb.jobs.queue). Existing rows keep their columns and result shape.

Jobs left `queued` or `running` by the in-process background imports that came before cannot
be resumed (they carried no payload: the file lived in the process that died), so they are
marked failed with a message saying to import the file again.

On SQLite the table is rebuilt (batch mode): SQLite cannot add a column whose default is
CURRENT_TIMESTAMP. No other table refers to `jobs`, so the rebuild cascades nowhere.

Revision ID: 0007_job_queue
Revises: 0006_order_email_token_gen
Create Date: 2026-11-28 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import shopdb.kit.types

revision: str = "0007_job_queue"
down_revision: str | None = "0006_order_email_token_gen"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_CLAIMABLE = sa.text("status IN ('queued', 'running')")
_ORPHANED = (
    "The import was interrupted before jobs were kept in a durable queue; import the file again"
)


def upgrade() -> None:
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "never"
    with op.batch_alter_table("jobs", recreate=recreate) as batch:
        batch.add_column(sa.Column("payload", _JSON, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(
            sa.Column("max_attempts", sa.Integer(), server_default="5", nullable=False)
        )
        batch.add_column(
            sa.Column(
                "run_after",
                shopdb.kit.types.UTCDateTime(timezone=True),
                server_default=sa.text("CURRENT_TIMESTAMP"),
                nullable=False,
            )
        )
        batch.add_column(sa.Column("locked_by", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("locked_until", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("started_at", shopdb.kit.types.UTCDateTime(timezone=True), nullable=True)
        )
    jobs = sa.table(
        "jobs",
        sa.column("status", sa.String()),
        sa.column("error", sa.Text()),
        sa.column("run_after", sa.DateTime()),
        sa.column("created_at", sa.DateTime()),
    )
    op.execute(jobs.update().values(run_after=jobs.c.created_at))
    op.execute(
        jobs.update()
        .where(jobs.c.status.in_(("queued", "running")))
        .values(status="failed", error=_ORPHANED)
    )
    op.create_index(
        "ix_jobs_run_after_id",
        "jobs",
        ["run_after", "id"],
        unique=False,
        postgresql_where=_CLAIMABLE,
        sqlite_where=_CLAIMABLE,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_run_after_id", table_name="jobs")
    recreate = "always" if op.get_bind().dialect.name == "sqlite" else "never"
    with op.batch_alter_table("jobs", recreate=recreate) as batch:
        for column in (
            "started_at",
            "last_error",
            "locked_until",
            "locked_by",
            "run_after",
            "max_attempts",
            "attempts",
            "payload",
        ):
            batch.drop_column(column)
