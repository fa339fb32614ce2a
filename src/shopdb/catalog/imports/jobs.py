"""Product CSV imports as jobs: small files inline, large ones on the job queue, both polled.

A small file (up to SHOPDB_IMPORT_INLINE_MAX_PRODUCTS products) is imported in the request's
transaction and answered 200 with a completed job. A larger one is stored through the storage
interface and a `products/import` job naming its key is enqueued in the request's transaction
(shopdb.jobs): answered 202, imported by `shopdb worker`.

The worker imports BATCH products per transaction, and each batch's transaction also saves
the job's progress and counters (fenced on the job's lease): what is committed and what the job
says was done never disagree. A worker killed mid-import loses its open batch only; the next
worker to claim the job resumes after the last committed batch with the counters as they were,
so no product is counted twice (and importing is idempotent anyway: updates by handle). The
last transaction completes the job, records its event and enqueues the deletion of the
stored upload, all at once.

The CLI runs the same handler in its own process on a job created already leased to it, so a
worker finishes an import whose CLI was interrupted, once the lease lapses.

Each product is imported in its own savepoint (importer.py), so one product's failure, a
database error included, fails that product alone. What reaches the client is a line number
and a message written here, never an exception's text: that can hold SQL and the file's values.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.imports.csv_format import CsvFormatError, ProductRows, parse_products
from shopdb.catalog.imports.service import ImportReport, default_location, import_products
from shopdb.errors import NotFound, ValidationFailed
from shopdb.events.service import record_event
from shopdb.jobs import PermanentJobError, RunningJob, enqueue
from shopdb.jobs.kinds import FILES_DELETE, PRODUCTS_IMPORT
from shopdb.jobs.queue import get_job as find_job
from shopdb.jobs.runner import JobContext, Registration
from shopdb.kit.types import utcnow
from shopdb.models import Job
from shopdb.storage import ObjectNotFound, Storage

KIND = PRODUCTS_IMPORT.name
BATCH = 50
JOB_FAILED = PRODUCTS_IMPORT.failure_message
UPLOAD_MISSING = "The uploaded file is no longer in storage; import it again"


def parse_or_400(text: str) -> list[ProductRows]:
    try:
        return parse_products(text)
    except CsvFormatError as exc:
        raise ValidationFailed.on("file", str(exc)) from exc


async def get_job(session: AsyncSession, job_id: int) -> Job:
    job = await find_job(session, job_id)
    if job is None or job.kind != KIND:
        raise NotFound.resource("Import job", job_id)
    return job


def upload_key() -> str:
    return f"imports/{uuid.uuid4().hex}.csv"


async def start_import(
    session: AsyncSession,
    storage: Storage,
    raw: bytes,
    products: list[ProductRows],
    *,
    location_id: int | None,
    actor: str | None,
    inline_limit: int,
) -> tuple[Job, bool]:
    """Import now when small, else enqueue. Returns (job, queued for the worker).

    The upload is stored before the job row is written: should the request's transaction
    then fail, the file stays behind unreferenced (as an image's does), never a job whose
    file is missing.
    """
    location = await default_location(session, location_id)
    if len(products) > inline_limit:
        key = upload_key()
        await storage.put(key, raw, "text/csv")
        job = await enqueue(
            session,
            PRODUCTS_IMPORT,
            {"upload": key, "locationId": location},
            actor=actor,
            total=len(products),
        )
        job.result = {"locationId": location}
        await session.flush()
        return job, True
    job = Job(
        kind=KIND,
        status="running",
        total=len(products),
        processed=0,
        actor=actor,
        payload={"locationId": location},
        max_attempts=1,
        attempts=1,
        started_at=utcnow(),
        result={"locationId": location},
    )
    session.add(job)
    await session.flush()
    report = await import_products(session, products, location_id=location, actor=actor)
    job.processed = report.processed
    job.result = _result(report, location)
    job.status = "completed"
    job.finished_at = utcnow()
    _event(session, job.id, job.actor, job.result)
    await session.flush()
    return job, False


def _result(report: ImportReport, location: int | None) -> dict[str, Any]:
    return {**report.as_json(), "locationId": location}


def report_from(result: Mapping[str, Any], *, total: int, processed: int) -> ImportReport:
    """The counters a job saved, to resume from (or to print, in the CLI)."""
    return ImportReport(
        total=total,
        processed=processed,
        created=int(result.get("created", 0)),
        updated=int(result.get("updated", 0)),
        unchanged=int(result.get("unchanged", 0)),
        failed=int(result.get("failed", 0)),
        errors=list(result.get("errors", [])),
        warnings=list(result.get("warnings", [])),
    )


def _event(
    session: AsyncSession, job_id: int, actor: str | None, result: Mapping[str, Any]
) -> None:
    record_event(
        session,
        topic="products/import",
        verb="import",
        subject_type="Job",
        subject_id=job_id,
        body={k: result.get(k) for k in ("total", "created", "updated", "unchanged", "failed")},
        actor=actor,
    )


async def run_import(context: JobContext, job: RunningJob) -> None:
    """The `products/import` handler: resumes after the last committed batch."""
    key = str(job.payload["upload"])
    location = job.payload.get("locationId")
    try:
        data = await context.storage.get(key)
    except ObjectNotFound as exc:
        raise PermanentJobError(UPLOAD_MISSING) from exc
    # The request parsed this file already (a bad file was its 400), so this cannot fail.
    products = parse_products(data.decode("utf-8-sig"))
    report = report_from(job.result, total=len(products), processed=job.processed)
    database = context.database
    for start in range(job.processed, len(products), BATCH):
        async with database.session() as session:
            await import_products(
                session,
                products[start : start + BATCH],
                location_id=location,
                actor=job.actor,
                report=report,
            )
            await job.checkpoint(
                session,
                processed=report.processed,
                result=_result(report, location),
                total=len(products),
            )
        if job.on_progress is not None:
            job.on_progress(report.processed)
    async with database.session() as session:
        result = _result(report, location)
        await job.complete(session, result)
        _event(session, job.id, job.actor, result)
        await enqueue(session, FILES_DELETE, {"key": key})


async def _delete_upload(session: AsyncSession, job: RunningJob) -> None:
    """When an import fails for good, its stored upload goes too (it holds the merchant's
    data and nothing will read it again)."""
    if "upload" in job.payload:
        await enqueue(session, FILES_DELETE, {"key": str(job.payload["upload"])})


IMPORT = Registration(PRODUCTS_IMPORT, run_import, on_failure=_delete_upload)


async def start_local_import(
    session: AsyncSession,
    storage: Storage,
    raw: bytes,
    total: int,
    *,
    location_id: int | None,
    owner: str,
    lease_seconds: float,
) -> RunningJob:
    """The CLI's way in: the file stored and a job created already leased to the CLI, which
    runs it; should the CLI die, a worker finishes it once the lease lapses."""
    from shopdb.jobs.queue import QueueRepository

    location = await default_location(session, location_id)
    key = upload_key()
    await storage.put(key, raw, "text/csv")
    return await QueueRepository(session).insert_claimed(
        PRODUCTS_IMPORT,
        {"upload": key, "locationId": location},
        owner=owner,
        lease_seconds=lease_seconds,
        actor="cli",
        total=total,
    )
