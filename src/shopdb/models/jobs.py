"""The durable job queue (not in the seed): one row per job, written in its cause's transaction.

`status` moves queued -> running -> completed | failed, and running -> queued again for a retry.
A running job is leased: `locked_by` names the worker process that claimed it and
`locked_until` is when the claim lapses unless renewed; `attempts` counts claims and doubles as
the fencing token, so a worker whose lease was taken over can no longer write the row
(shopdb.jobs.queue). `total`, `processed` and `result` are the progress a client polls.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin, TimestampMixin
from shopdb.kit.types import JSONType, UTCDateTime, utcnow

JOB_STATUSES = ("queued", "running", "completed", "failed")
# Rows a worker may claim; the claim index covers only these, so finished jobs (nearly every
# row, over time) cost the claim query nothing.
_CLAIMABLE = text("status IN ('queued', 'running')")


class Job(IdMixin, TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'completed', 'failed')", name="status"),
        CheckConstraint("processed >= 0 AND total >= 0", name="progress"),
        Index("ix_jobs_kind_created_at", "kind", "created_at"),
        Index(
            "ix_jobs_run_after_id",
            "run_after",
            "id",
            postgresql_where=_CLAIMABLE,
            sqlite_where=_CLAIMABLE,
        ),
    )

    kind: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="queued", server_default="queued"
    )
    # What the handler needs, as ids and keys (never ORM objects): the kind's own shape.
    payload: Mapped[Any] = mapped_column(JSONType, nullable=True, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(
        Integer, nullable=False, default=5, server_default="5"
    )
    run_after: Mapped[datetime] = mapped_column(
        UTCDateTime(), nullable=False, default=utcnow, server_default=func.current_timestamp()
    )
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # Counters and per-line errors; the shape belongs to the job's kind.
    result: Mapped[Any] = mapped_column(JSONType, default=dict)
    # What a client may read when the job failed: a message per kind, never exception text.
    error: Mapped[str | None] = mapped_column(Text)
    # For operators: the type of the last exception (its text and traceback are in the log).
    last_error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
