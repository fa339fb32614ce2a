"""Running the queue inside a test: a worker on the test's database, with no waiting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from shopdb.config import Settings
from shopdb.db import Database
from shopdb.jobs.runner import JobContext, Registration, Worker, WorkerOptions
from shopdb.services import services_of
from shopdb.storage import storage_from_settings
from shopdb.worker import registrations as all_registrations

# Retries are due at once; the lease is long enough that no heartbeat runs during a test on
# the rolled-back database (its sessions share one connection, which must not be used twice
# at the same time).
FAST = WorkerOptions(
    concurrency=1, poll_seconds=0.05, lease_seconds=600, retry_base_seconds=0, retry_max_seconds=0
)


def make_worker(
    database: Database,
    settings: Settings,
    registrations: list[Registration] | None = None,
    *,
    defer_while: Callable[[], bool] | None = None,
    **options: Any,
) -> Worker:
    context = JobContext(database, storage_from_settings(settings), settings)
    merged = {**FAST.__dict__, **options}
    return Worker(
        context,
        all_registrations() if registrations is None else registrations,
        WorkerOptions(**merged),
        defer_while=defer_while,
    )


async def run_jobs(app: FastAPI) -> int:
    """Run every due job of the app's database, as `shopdb worker` would; how many ran."""
    return await make_worker(services_of(app).database, services_of(app).settings).run_due()
