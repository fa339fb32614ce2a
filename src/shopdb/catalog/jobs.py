"""Product CSV imports as jobs: small files inline, large ones in the background, both polled.

The job row holds progress and the per-line report. A background import commits every
BATCH products, so progress is visible while it runs and work done survives a crash; it runs
in the API process after the response (FastAPI background task): a process that dies
mid-import leaves the job `running`, and re-running the same file finishes it (imports update
in place). There is no cross-process queue.

Each product is imported in its own savepoint (importer.py), so one product's failure, a
database error included, fails that product alone. What reaches the client is a line number
and a message written here, never an exception's text: that can hold SQL and the file's values.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.csv_format import CsvFormatError, ProductRows, parse_products
from shopdb.catalog.importer import ImportReport, default_location, import_products
from shopdb.db import Database
from shopdb.errors import NotFound, ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.types import utcnow
from shopdb.models import Job

log = structlog.get_logger(__name__)

KIND = "products/import"
BATCH = 50
JOB_FAILED = "The import stopped on an unexpected error; the server log has the details"


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, job_id: int) -> Job | None:
        return await self.session.scalar(
            select(Job)
            .where(Job.id == job_id, Job.kind == KIND)
            .execution_options(populate_existing=True)
        )

    async def add(self, job: Job) -> Job:
        self.session.add(job)
        await self.session.flush()
        return job


def parse_or_400(text: str) -> list[ProductRows]:
    try:
        return parse_products(text)
    except CsvFormatError as exc:
        raise ValidationFailed.on("file", str(exc)) from exc


async def get_job(session: AsyncSession, job_id: int) -> Job:
    job = await JobRepository(session).get(job_id)
    if job is None:
        raise NotFound.resource("Import job", job_id)
    return job


def _finish(job: Job, report: ImportReport) -> None:
    job.processed = report.processed
    job.result = report.as_json()
    job.status = "completed"
    job.finished_at = utcnow()


async def start_import(
    session: AsyncSession,
    products: list[ProductRows],
    *,
    location_id: int | None,
    actor: str | None,
    inline_limit: int,
) -> tuple[Job, bool]:
    """Create the job; import now when small. Returns (job, still to run in the background)."""
    location = await default_location(session, location_id)
    job = await JobRepository(session).add(
        Job(kind=KIND, status="queued", total=len(products), processed=0, actor=actor, result={})
    )
    job.result = {"locationId": location}
    if len(products) > inline_limit:
        return job, True
    job.status = "running"
    report = await import_products(session, products, location_id=location, actor=actor)
    _finish(job, report)
    _event(session, job)
    await session.flush()
    return job, False


def _event(session: AsyncSession, job: Job) -> None:
    result = job.result or {}
    record_event(
        session,
        topic="products/import",
        verb="import",
        subject_type="Job",
        subject_id=job.id,
        body={k: result.get(k) for k in ("total", "created", "updated", "unchanged", "failed")},
        actor=job.actor,
    )


async def create_job(
    database: Database, total: int, *, location_id: int | None, actor: str | None
) -> tuple[int, int | None]:
    """A committed, queued job (the CLI's way in). Returns (job id, location id)."""
    async with database.session() as session:
        location = await default_location(session, location_id)
        job = await JobRepository(session).add(
            Job(
                kind=KIND,
                status="queued",
                total=total,
                actor=actor,
                result={"locationId": location},
            )
        )
        return job.id, location


async def run_import_job(
    database: Database,
    job_id: int,
    products: list[ProductRows],
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """The background half: BATCH products per transaction, progress saved with each."""
    async with database.session() as session:
        job = await get_job(session, job_id)
        job.status = "running"
        location = (job.result or {}).get("locationId")
        actor = job.actor
    report = ImportReport(total=len(products))
    try:
        for start in range(0, len(products), BATCH):
            async with database.session() as session:
                await import_products(
                    session,
                    products[start : start + BATCH],
                    location_id=location,
                    actor=actor,
                    report=report,
                )
                job = await get_job(session, job_id)
                job.processed = report.processed
                job.result = {**report.as_json(), "locationId": location}
            if on_progress is not None:
                on_progress(report.processed)
        async with database.session() as session:
            job = await get_job(session, job_id)
            _finish(job, report)
            _event(session, job)
    except Exception:
        log.exception("product_import_failed", job_id=job_id)
        async with database.session() as session:
            job = await get_job(session, job_id)
            job.status = "failed"
            job.error = JOB_FAILED
            job.finished_at = utcnow()
        raise
    return report


async def run_in_background(database: Database, job_id: int, products: list[ProductRows]) -> None:
    """run_import_job for a background task: a failure is on the job row and in the log."""
    try:
        await run_import_job(database, job_id, products)
    except Exception:  # noqa: S110 - recorded on the job and logged by run_import_job
        pass
