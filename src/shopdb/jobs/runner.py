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

Within `run()`, a job whose handler returned is marked completed in the transaction of the
worker's next claim (one transaction, not two: the queue's own writes were most of a short
job's CPU), which runs at once; the job's outcome is what that write found. Should the
process die before it commits, the job runs again (handlers are idempotent), as it would
had the process died a moment earlier.

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
from shopdb.jobs.queue import (
    LeaseLost,
    PermanentJobError,
    QueueRepository,
    RunningJob,
    complete_and_claim,
)
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
    # How long `defer_while` may keep deferrable kinds waiting in a row before one claim takes
    # them anyway: a sender that stays behind for good does not stop them.
    max_deferral_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WorkerOptions:
        values: dict[str, Any] = {
            "concurrency": settings.worker_concurrency,
            "poll_seconds": settings.job_poll_seconds,
            "lease_seconds": settings.job_lease_seconds,
            "retry_base_seconds": settings.job_retry_base_seconds,
            "retry_max_seconds": settings.job_retry_max_seconds,
            "max_deferral_seconds": settings.job_max_deferral_seconds,
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
        defer_while: Callable[[], bool] | None = None,
    ) -> None:
        """`defer_while`: while it says True, jobs of deferrable kinds (JobKind.deferrable)
        are not claimed, for at most `options.max_deferral_seconds` in a row (shopdb.worker
        passes its webhook sender's `backlogged`)."""
        self.context = context
        self.registrations = {r.kind.name: r for r in registrations}
        unknown = set(self.registrations) - set(KINDS)
        if unknown:
            raise ValueError(f"job kinds missing from shopdb.jobs.kinds: {sorted(unknown)}")
        self.options = options or WorkerOptions()
        self.name = name or worker_name()
        self._stopping = asyncio.Event()
        # Completions the run loop writes with its next claim (only while `run()` loops).
        self._completions: list[_Completion] = []
        self._looping = False
        self._wake: asyncio.Future[None] | None = None
        self._defer_while = defer_while
        self._deferring_since: float | None = None

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
        """Lease up to `limit` due jobs; the completions waiting for the loop are written with
        the claim (one statement on PostgreSQL, one transaction elsewhere)."""
        kinds = self._claimable_kinds()
        completions, self._completions = self._completions, []
        try:
            dialect = self.database.primary.dialect.name
            if dialect == "postgresql":
                async with self.database.autocommit_connection() as connection:
                    written, claimed = await complete_and_claim(
                        connection,
                        self.name,
                        [(c.job, c.result) for c in completions],
                        kinds,
                        limit,
                        self.options.lease_seconds,
                    )
                kept = [c.job.id in written for c in completions]
            elif dialect == "sqlite" and not completions and not await self._any_due(kinds):
                return []
            else:
                kept, claimed = await self._complete_and_claim(completions, kinds, limit)
        except BaseException as exc:
            for completion in completions:
                if not completion.written.done():
                    completion.written.set_exception(exc)
            raise
        for completion, held in zip(completions, kept, strict=True):
            if not completion.written.done():
                completion.written.set_result(held)
        return claimed

    def _claimable_kinds(self) -> list[str]:
        """The registered kinds, less the deferrable ones while `defer_while` says so (for at
        most max_deferral_seconds in a row: then one claim takes them too, and the count
        starts again)."""
        kinds = list(self.registrations)
        if self._defer_while is None or not self._defer_while():
            self._deferring_since = None
            return kinds
        now = time.monotonic()
        if self._deferring_since is None:
            self._deferring_since = now
        elif now - self._deferring_since >= self.options.max_deferral_seconds:
            self._deferring_since = now
            return kinds
        return [kind for kind in kinds if not KINDS[kind].deferrable]

    async def _complete_and_claim(
        self, completions: list[_Completion], kinds: list[str], limit: int
    ) -> tuple[list[bool], list[RunningJob]]:
        """complete_and_claim's work in one transaction of statements (SQLite)."""
        async with self.database.session() as session:
            repository = QueueRepository(session)
            kept = [await repository.complete_if_held(c.job, c.result) for c in completions]
            claimed = (
                await repository.claim(self.name, kinds, limit, self.options.lease_seconds)
                if limit > 0
                else []
            )
        return kept, claimed

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
        self._looping = True
        try:
            while not self.stopping:
                claimed: list[RunningJob] = []
                # A job whose handler returned and whose completion waits for this claim
                # no longer holds a slot.
                free = self.options.concurrency - len(running) + len(self._completions)
                if free > 0 or self._completions:
                    try:
                        claimed = await self.claim(max(0, free))
                    except Exception:
                        # The database is away: keep polling, it usually comes back.
                        log.exception("job_claim_failed", worker=self.name)
                for job in claimed:
                    task = asyncio.create_task(self.run_claimed(job))
                    running.add(task)
                    task.add_done_callback(running.discard)
                if self._completions or (
                    claimed and len(running) - len(self._completions) < self.options.concurrency
                ):
                    continue  # more may be due right away, or completions wait
                wake = self._wake = asyncio.get_running_loop().create_future()
                await asyncio.wait(
                    {stopped, wake, *running},
                    timeout=self.options.poll_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                self._wake = None
            # From here on a finishing job writes its own completion.
            self._looping = False
            if self._completions:
                with contextlib.suppress(Exception):  # each job logs its own outcome
                    await self.claim(0)
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        finally:
            self._looping = False
            stopped.cancel()
            for completion in self._completions:
                if not completion.written.done():
                    completion.written.set_exception(RuntimeError("the worker loop ended"))
            self._completions = []
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
        heartbeat = _Heartbeat(self, job, handler)
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
            await heartbeat.stop()
        if job.finished:
            return "completed"
        if self._looping:
            return await self._complete_with_next_claim(job, result)
        try:
            async with self.database.session() as session:
                await job.complete(session, result)
        except LeaseLost:
            return "lease_lost"
        return "completed"

    async def _complete_with_next_claim(
        self, job: RunningJob, result: Mapping[str, Any] | None
    ) -> str:
        completion = _Completion(job, result, asyncio.get_running_loop().create_future())
        self._completions.append(completion)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)
        if not await completion.written:
            return "lease_lost"
        job.finished = True
        if result is not None:
            job.result = dict(result)
        return "completed"

    async def _renew(self, job: RunningJob) -> bool | None:
        """Extend the job's lease: False when another worker has it, None when the renewal
        failed (retried an interval later; if the database stays away the lease lapses and
        the job is another worker's, which this process then finds out)."""
        try:
            async with self.database.session() as session:
                return await QueueRepository(session).renew(job)
        except Exception:
            log.warning("job_lease_renewal_failed", job_id=job.id, exc_info=True)
            return None

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


@dataclass
class _Completion:
    """A job whose handler returned, waiting to be marked completed with the next claim;
    `written` resolves to whether its lease still held."""

    job: RunningJob
    result: Mapping[str, Any] | None
    written: asyncio.Future[bool]


class _Heartbeat:
    """Renews a running job's lease every third of `lease_seconds` while its handler runs:
    a timer, and a renewal task only when one is due (most jobs end long before), rather
    than a task per job waiting all along. A checkpoint renews the lease too; the next
    renewal then counts from it. If renewing finds the job taken over, the handler is
    cancelled."""

    def __init__(self, worker: Worker, job: RunningJob, handler: asyncio.Task[Any]) -> None:
        self.worker = worker
        self.job = job
        self.handler = handler
        self.interval = worker.options.lease_seconds / 3
        self.loop = asyncio.get_running_loop()
        self.stopped = False
        self.renewal: asyncio.Task[None] | None = None
        self.timer = self.loop.call_later(self._wait(), self._due)

    def _wait(self) -> float:
        return max(0.0, self.interval - (time.monotonic() - self.job.renewed_at))

    def _due(self) -> None:
        if self.stopped:
            return
        wait = self._wait()
        if wait > 0:
            # A checkpoint renewed the lease meanwhile: no write needed yet. (On SQLite this
            # matters: the renewal would wait for the handler's own batch to commit.)
            self.timer = self.loop.call_later(wait, self._due)
            return
        self.renewal = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        kept = await self.worker._renew(self.job)
        if kept is False:
            self.job.lease_lost = True
            self.handler.cancel()
            return
        self.job.renewed_at = time.monotonic()  # renewed, or try again in an interval
        if not self.stopped:
            self.timer = self.loop.call_later(self._wait(), self._due)

    async def stop(self) -> None:
        self.stopped = True
        self.timer.cancel()
        if self.renewal is not None and not self.renewal.done():
            await asyncio.gather(self.renewal, return_exceptions=True)
