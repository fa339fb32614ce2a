"""A job as GET /api/v1/jobs/{id} answers it, and its presenter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shopdb.kit.schemas import CamelModel
from shopdb.models import Job


class JobOut(CamelModel):
    id: int
    kind: str
    status: str
    attempts: int
    max_attempts: int
    total: int
    processed: int
    run_after: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # A generic message per kind once the job failed for good; never exception text.
    error: str | None
    # The kind's own report (an import's counters and per-line problems).
    result: dict[str, Any]


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        kind=job.kind,
        status=job.status,
        attempts=job.attempts,
        max_attempts=job.max_attempts,
        total=job.total,
        processed=job.processed,
        run_after=job.run_after,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
        result=dict(job.result or {}),
    )
