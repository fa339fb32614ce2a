"""`shopdb worker`: the process that runs the job queue (shopdb.jobs), and its wiring.

Binding handlers to kinds happens here, the one module that knows every domain's handlers, so
shopdb.jobs stays domain-neutral. A test checks that every kind in shopdb.jobs.kinds has
exactly one registration here.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from shopdb.config import Settings
from shopdb.jobs.runner import JobContext, Registration, Worker, WorkerOptions
from shopdb.jobs.schedule import PeriodicTask, Scheduler


def registrations() -> list[Registration]:
    from shopdb.catalog.images.fetch import FETCH_IMAGE
    from shopdb.catalog.imports.jobs import IMPORT
    from shopdb.checkouts.abandonment import MARK_ABANDONED
    from shopdb.jobs.files import DELETE_FILE
    from shopdb.notifications.jobs import REGISTRATIONS as NOTIFICATIONS
    from shopdb.orders.jobs import RELEASE_EXPIRED_RESERVATIONS

    return [
        IMPORT,
        DELETE_FILE,
        FETCH_IMAGE,
        RELEASE_EXPIRED_RESERVATIONS,
        MARK_ABANDONED,
        *NOTIFICATIONS,
    ]


def periodic_tasks(settings: Settings) -> list[PeriodicTask]:
    """The periodic tasks every worker runs (shopdb.jobs.schedule): each by one worker at a
    time, `interval` after its last run ended. Another domain's periodic work (a data
    retention sweep, say) adds its `PeriodicTask(name, interval_seconds, run)` here, with
    `async def run(context: JobContext) -> dict | None`, idempotent and batched."""
    from shopdb.compliance.retention import PERIODIC_INTERVAL_SECONDS, apply_retention_policies
    from shopdb.selling_plans.billing import SWEEP_SECONDS, bill_due_contracts
    from shopdb.worker.periodic import purge_idempotency_keys, sweep_abandoned_checkouts

    return [
        PeriodicTask(
            "checkouts/sweep_abandoned",
            settings.checkout_abandon_sweep_seconds,
            sweep_abandoned_checkouts,
        ),
        PeriodicTask(
            "idempotency_keys/purge", settings.idempotency_purge_seconds, purge_idempotency_keys
        ),
        # Due subscription contracts billed through the order placement (selling_plans).
        PeriodicTask("subscriptions/bill_due", SWEEP_SECONDS, bill_due_contracts),
        PeriodicTask("data_retention/run", PERIODIC_INTERVAL_SECONDS, apply_retention_policies),
    ]


async def run_worker(
    settings: Settings, *, concurrency: int | None = None, poll_seconds: float | None = None
) -> None:
    """Run until SIGTERM or SIGINT; the jobs and periodic runs in hand are finished first."""
    from shopdb.keys import field_cipher
    from shopdb.notifications import outbox as notifications_outbox
    from shopdb.storage import storage_from_settings
    from shopdb.webhooks.sender import SenderOptions, WebhookSender
    from shopdb.wiring import command_database

    # Gift card codes in job payloads open with this process's keys (notifications/outbox.py).
    notifications_outbox.use_cipher(field_cipher(settings))
    # Its commits invalidate the servers' product cache (through Redis), as the API's do.
    async with command_database(settings) as database:
        # The webhook outbox (its own table and leases), sent beside the jobs.
        sender = WebhookSender(
            database, field_cipher(settings), SenderOptions.from_settings(settings)
        )
        worker = Worker(
            JobContext(database, storage_from_settings(settings), settings),
            registrations(),
            WorkerOptions.from_settings(
                settings, concurrency=concurrency, poll_seconds=poll_seconds
            ),
            # Emails wait while deliveries are behind: the two share this process's CPU.
            defer_while=lambda: sender.backlogged,
        )

        # Periodic sweeps, each run by one worker at a time whatever the number of workers.
        scheduler = Scheduler(
            worker.context,
            periodic_tasks(settings),
            name=worker.name,
            poll_seconds=settings.schedule_poll_seconds,
            lease_seconds=settings.schedule_lease_seconds,
        )

        def stop() -> None:
            worker.stop()
            sender.stop()
            scheduler.stop()

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        await asyncio.gather(worker.run(), sender.run(), scheduler.run())


def main(concurrency: int | None = None, poll_seconds: float | None = None) -> None:
    """The worker process's entry point (`shopdb worker`, and `shopdb serve --with-worker`)."""
    from shopdb.config import get_settings
    from shopdb.observability import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    # uvloop, as the API's processes use (uvicorn[standard] brings it): the webhook sender
    # spends most of its time in the event loop and on sockets.
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(run_worker(settings, concurrency=concurrency, poll_seconds=poll_seconds))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported OS
        return None
    return uvloop.new_event_loop
