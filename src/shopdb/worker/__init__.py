"""`shopdb worker`: the process that runs the job queue (shopdb.jobs), and its wiring.

Binding handlers to kinds happens here, the one module that knows every domain's handlers, so
shopdb.jobs stays domain-neutral. A test checks that every kind in shopdb.jobs.kinds has
exactly one registration here.
"""

from __future__ import annotations

import asyncio
import signal

from shopdb.config import Settings
from shopdb.jobs.runner import JobContext, Registration, Worker, WorkerOptions


def registrations() -> list[Registration]:
    from shopdb.catalog.images.fetch import FETCH_IMAGE
    from shopdb.catalog.imports.jobs import IMPORT
    from shopdb.checkouts.abandonment import MARK_ABANDONED
    from shopdb.jobs.files import DELETE_FILE
    from shopdb.orders.jobs import RELEASE_EXPIRED_RESERVATIONS

    return [IMPORT, DELETE_FILE, FETCH_IMAGE, RELEASE_EXPIRED_RESERVATIONS, MARK_ABANDONED]


async def run_worker(
    settings: Settings, *, concurrency: int | None = None, poll_seconds: float | None = None
) -> None:
    """Run until SIGTERM or SIGINT; the jobs in hand are finished first."""
    from shopdb.storage import storage_from_settings
    from shopdb.wiring import command_database

    # Its commits invalidate the servers' product cache (through Redis), as the API's do.
    async with command_database(settings) as database:
        worker = Worker(
            JobContext(database, storage_from_settings(settings), settings),
            registrations(),
            WorkerOptions.from_settings(
                settings, concurrency=concurrency, poll_seconds=poll_seconds
            ),
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        await worker.run()


def main(concurrency: int | None = None, poll_seconds: float | None = None) -> None:
    """The worker process's entry point (`shopdb worker`, and `shopdb serve --with-worker`)."""
    from shopdb.config import get_settings
    from shopdb.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    asyncio.run(run_worker(settings, concurrency=concurrency, poll_seconds=poll_seconds))
