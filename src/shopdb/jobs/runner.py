"""The worker loop: claim due jobs, run their handlers with a renewed lease, record the outcome.

    worker = Worker(context, registrations, WorkerOptions.from_settings(settings))
    await worker.run()          # until worker.stop() (SIGTERM/SIGINT in `shopdb worker`)

A handler is `async def handler(context, job) -> result | None`. It gets what it needs from
`context` (the Database, storage, settings), never from globals, and its job's ids and keys
from `job.payload`. Handlers are idempotent: a job may run again after a crash, a lost lease
or a retry. One that works in steps saves each with `job.checkpoint(session, ...)` in the
step's own transaction, and resumes from `job.processed`.

While a handler runs, its lease is renewed every third of `lease_seconds`; if renewing finds
the job taken over (this process stalled beyond its lease), the handler is cancelled: its
open transaction rolls back and its fenced writes would be refused anyway (shopdb.jobs.queue).
A handler that raises is retried after an exponential backoff with jitter, until the job's
`max_attempts`; then the job is `failed` with its kind's generic message. A job re-claimed
after its lease lapsed on its last attempt (its worker died each time, say out of memory) is
failed without running again.

`stop()` stops claiming; the jobs in hand run to their end, then `run()` returns. A worker
killed outright loses nothing: its jobs' leases lapse and another worker claims them.

Each job attempt logs one line, `job`, with its id, kind, attempt, outcome and duration (and
the traceback when it raised).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb import metrics
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.jobs.kinds import KINDS, JobKind
from shopdb.jobs.queue import LeaseLost, PermanentJobError, QueueRepository, RunningJob
from shopdb.storage import Storage

log = structlog.get_logger("shopdb.jobs")

_random = secrets.SystemRandom()


@dataclass(frozen=True)
class JobContext:
    """What handlers may use: passed in, so a test or the CLI can hand over its own."""

    database: Database
    storage: Storage
    settings: Settings


Handler = Callable[[JobContext, RunningJob], Coroutine[Any, Any, Mapping[str, Any] | None]]
# Runs in the transaction that fails the job for good (to enqueue a clean-up, say).
FailureHook = Callable[[AsyncSession, RunningJob], Awaitable[None]]


@dataclass(frozen=True)
class Registration:
    kind: JobKind
    run: Handler
    on_failure: FailureHook | None = None


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 1
    poll_seconds: float = 1.0
    lease_seconds: float = 60.0
    retry_base_seconds: float = 10.0
    retry_max_seconds: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WorkerOptions:
        values: dict[str, Any] = {
            "concurrency": settings.worker_concurrency,
            "poll_seconds": settings.job_poll_seconds,
            "lease_seconds": settings.job_lease_seconds,
            "retry_base_seconds": settings.job_retry_base_seconds,
            "retry_max_seconds": settings.job_retry_max_seconds,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def backoff_seconds(attempt: int, base: float, cap: float) -> float:
    """About base * 2^(attempt-1), capped; half of it random so retries of jobs that failed
    together (a storage outage) do not all come back at the same moment."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    return delay / 2 + float(_random.uniform(0, delay / 2))


def worker_name() -> str:
    # Unique per process and start: a restarted process on the same host and pid is another
    # owner, so it cannot write through its predecessor's leases.
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"[:200]


def _error_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


class Worker:
    def __init__(
        self,
        context: JobContext,
        registrations: Iterable[Registration],
        options: WorkerOptions | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self.context = context
        self.registrations = {r.kind.name: r for r in registrations}
        unknown = set(self.registrations) - set(KINDS)
        if unknown:
            raise ValueError(f"job kinds missing from shopdb.jobs.kinds: {sorted(unknown)}")
        self.options = options or WorkerOptions()
        self.name = name or worker_name()
        self._stopping = asyncio.Event()

    @property
    def database(self) -> Database:
        return self.context.database

    def stop(self) -> None:
        """Claim nothing more; `run()` returns once the jobs in hand are done."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # --- claiming -----------------------------------------------------------------------

    async def claim(self, limit: int) -> list[RunningJob]:
        kinds = list(self.registrations)
        if self.database.primary.dialect.name == "sqlite" and not await self._any_due(kinds):
            return []
        async with self.database.session() as session:
            return await QueueRepository(session).claim(
                self.name, kinds, limit, self.options.lease_seconds
            )

    async def _any_due(self, kinds: list[str]) -> bool:
        """A read before the claim on SQLite: the claim's IMMEDIATE transaction takes the
        database's one write lock, which an idle worker polling every second would otherwise
        take from the API that often."""
        async with self.database.sessionmaker() as session:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            return await QueueRepository(session).any_due(kinds)

    async def run(self) -> None:
        """Claim and run jobs, up to `concurrency` at once, until stop()."""
        running: set[asyncio.Task[str]] = set()
        stopped = asyncio.create_task(self._stopping.wait())
        log.info("worker_started", worker=self.name, kinds=sorted(self.registrations))
        try:
            while not self.stopping:
                claimed: list[RunningJob] = []
                free = self.options.concurrency - len(running)
                if free > 0:
                    try:
                        claimed = await self.claim(free)
                    except Exception:
                        # The database is away: keep polling, it usually comes back.
                        log.exception("job_claim_failed", worker=self.name)
                for job in claimed:
                    task = asyncio.create_task(self.run_claimed(job))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if claimed and len(running) < self.options.concurrency:
                    continue  # more may be due right away
                await asyncio.wait(
                    {stopped, *running},
                    timeout=self.options.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        finally:
            stopped.cancel()
        log.info("worker_stopped", worker=self.name)

    async def run_due(self, limit: int = 1000) -> int:
        """Run due jobs one at a time until none is due (tests, and draining by hand)."""
        count = 0
        while count < limit:
            claimed = await self.claim(1)
            if not claimed:
                break
            await self.run_claimed(claimed[0])
            count += 1
        return count

    # --- running ------------------------------------------------------------------------

    async def run_claimed(self, job: RunningJob) -> str:
        """Run one claimed job to its outcome: completed, retry, failed or lease_lost."""
        started = time.monotonic()
        registration = self.registrations[job.kind]
        error: BaseException | None = None
        if job.attempt > job.max_attempts:
            kept = await self._fail(job, registration, registration.kind.failure_message, None)
            outcome = "failed" if kept else "lease_lost"
            self._log(job, outcome, started, note="lease_expired")
            return outcome
        try:
            try:
                outcome = await self._run_with_lease(job, registration)
            except PermanentJobError as exc:
                error = exc
                outcome = await self._fail_or_lost(job, registration, exc.message, exc)
            except Exception as exc:
                error = exc
                outcome = await self._retry_or_fail(job, registration, exc)
        except Exception as exc:
            # The outcome could not be written (the database went away): the lease lapses and
            # the job is claimed again, so nothing is lost; say so.
            error = error or exc
            outcome = "unrecorded"
        self._log(job, outcome, started, error=error)
        return outcome

    async def _run_with_lease(self, job: RunningJob, registration: Registration) -> str:
        handler = asyncio.create_task(registration.run(self.context, job))
        done = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(job, handler, done))
        try:
            result = await handler
        except LeaseLost:
            job.lease_lost = True
            return "lease_lost"
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if job.lease_lost and not (current and current.cancelling()):
                return "lease_lost"  # the heartbeat cancelled the handler, not our caller
            handler.cancel()
            raise
        finally:
            # Stopped, not cancelled: a renewal in flight finishes, so its connection goes
            # back to the pool rather than being abandoned mid-statement.
            done.set()
            await heartbeat
        if job.finished:
            return "completed"
        try:
            async with self.database.session() as session:
                await job.complete(session, result)
        except LeaseLost:
            return "lease_lost"
        return "completed"

    async def _heartbeat(
        self, job: RunningJob, handler: asyncio.Task[Any], done: asyncio.Event
    ) -> None:
        interval = self.options.lease_seconds / 3
        while not done.is_set():
            wait = interval - (time.monotonic() - job.renewed_at)
            if wait > 0:
                # A checkpoint renewed the lease meanwhile: no write needed yet. (On SQLite this
                # matters: the renewal would wait for the handler's own batch to commit.)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), wait)
                continue
            try:
                async with self.database.session() as session:
                    kept = await QueueRepository(session).renew(job)
            except Exception:
                # Renewal is retried next interval; if the database stays away the lease lapses
                # and the job is another worker's, which this process then finds out.
                log.warning("job_lease_renewal_failed", job_id=job.id, exc_info=True)
                job.renewed_at = time.monotonic()  # try again in an interval
                continue
            if not kept:
                job.lease_lost = True
                handler.cancel()
                return
            job.renewed_at = time.monotonic()

    async def _retry_or_fail(
        self, job: RunningJob, registration: Registration, exc: BaseException
    ) -> str:
        if job.attempt >= job.max_attempts:
            return await self._fail_or_lost(
                job, registration, registration.kind.failure_message, exc
            )
        delay = backoff_seconds(
            job.attempt, self.options.retry_base_seconds, self.options.retry_max_seconds
        )
        async with self.database.session() as session:
            kept = await QueueRepository(session).retry(job, delay, _error_name(exc))
        return "retry" if kept else "lease_lost"

    async def _fail_or_lost(
        self, job: RunningJob, registration: Registration, message: str, exc: BaseException
    ) -> str:
        kept = await self._fail(job, registration, message, exc)
        return "failed" if kept else "lease_lost"

    async def _fail(
        self,
        job: RunningJob,
        registration: Registration,
        message: str,
        exc: BaseException | None,
    ) -> bool:
        async with self.database.session() as session:
            kept = await QueueRepository(session).fail(
                job, message, _error_name(exc) if exc else "lease expired on the last attempt"
            )
            if kept and registration.on_failure is not None:
                await registration.on_failure(session, job)
            return kept

    def _log(
        self,
        job: RunningJob,
        outcome: str,
        started: float,
        *,
        error: BaseException | None = None,
        note: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "job_id": job.id,
            "kind": job.kind,
            "attempt": job.attempt,
            "outcome": outcome,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            "worker": self.name,
        }
        if note:
            fields["note"] = note
        metrics.count_job(job.kind, outcome)
        if error is not None and not isinstance(error, PermanentJobError):
            log.error("job", **fields, exc_info=error)
        elif outcome in ("completed", "retry"):
            log.info("job", **fields)
        else:
            log.warning("job", **fields)
