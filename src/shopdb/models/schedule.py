"""Periodic work's shared clock (not in the seed): one row per periodic task.

Every worker process runs the same periodic tasks (shopdb.jobs.schedule); this row is how they
agree that a run is due and who runs it. A worker takes a due task with one guarded UPDATE
(`next_run_at` passed and no live lease), leases it (`locked_by`, `locked_until`, renewed
while it runs), and when done sets the next due time and releases it, fenced on `locked_by`:
two workers never run one task at once, and a killed worker's lease lapses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base
from shopdb.kit.types import JSONType, UTCDateTime


class ScheduledTask(Base):
    __tablename__ = "scheduled_tasks"
    __table_args__ = (CheckConstraint("runs >= 0", name="runs"),)

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    locked_by: Mapped[str | None] = mapped_column(String(200))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    runs: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # completed or failed; the error is the exception's type name, never its text.
    last_outcome: Mapped[str | None] = mapped_column(String(20))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_result: Mapped[Any] = mapped_column(JSONType, nullable=True)
