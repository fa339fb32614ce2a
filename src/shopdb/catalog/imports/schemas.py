"""An import job as the import endpoints answer it, and its presenter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shopdb.catalog.imports import jobs
from shopdb.kit.schemas import CamelModel
from shopdb.models import Job


class ImportJobOut(CamelModel):
    id: int
    status: str
    total: int
    processed: int
    created: int
    updated: int
    unchanged: int
    failed: int
    errors: list[dict[str, Any]]
    # Values left out of imported products (a mangled barcode); the products were imported.
    warnings: list[dict[str, Any]]
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def job_out(job: Job) -> ImportJobOut:
    report = jobs.report_from(job.result or {}, total=job.total, processed=job.processed)
    return ImportJobOut(
        id=job.id,
        status=job.status,
        total=job.total,
        processed=job.processed,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        failed=report.failed,
        errors=report.errors,
        warnings=report.warnings,
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )
