"""Background jobs whose progress a client polls (not in the seed): product CSV imports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin, TimestampMixin
from shopdb.kit.types import JSONType, UTCDateTime

JOB_STATUSES = ("queued", "running", "completed", "failed")


class Job(IdMixin, TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'completed', 'failed')", name="status"),
        CheckConstraint("processed >= 0 AND total >= 0", name="progress"),
        Index("ix_jobs_kind_created_at", "kind", "created_at"),
    )

    kind: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="queued", server_default="queued"
    )
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    processed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # Counters and per-line errors; the shape belongs to the job's kind.
    result: Mapped[Any] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(255))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
