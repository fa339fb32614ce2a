"""Periodic work: tasks every `shopdb worker` knows, each run by one worker at a time.

    PeriodicTask("idempotency_keys/purge", 3600, purge)   # async def purge(context) -> result

A task is a name, an interval and an `async def run(context) -> dict | None`; the worker's
wiring (shopdb.worker.periodic_tasks) lists them. A run is idempotent work that catches up by
itself (a sweep of whatever is due), so a run that fails or is skipped is only a delay: the next
one does its work.

Several workers run the same list. Each task has a row in `scheduled_tasks`, and a worker runs
a task only after taking that row with one guarded UPDATE: its `next_run_at` has passed and no
live lease holds it. The taker leases it (`locked_by`, `locked_until`, renewed every third of
the lease while it runs); when the run ends it sets `next_run_at` to the end plus the interval
and releases the lease, both fenced on `locked_by`. So two workers never run one task at
once, the interval holds across workers (not per worker), and a worker killed mid-run loses
nothing: its lease lapses and the next worker to look runs the task. On PostgreSQL the times
are the database's clock (`clock_timestamp()`), as the job queue's leases are; SQLite runs on
one host.

`stop()` takes no new run; the runs in hand finish, then `run()` returns (SIGTERM in
`shopdb worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.jobs.runner import JobContext
from shopdb.kit.types import UTCDateTime, utcnow
from shopdb.models import ScheduledTask

log = structlog.get_logger("shopdb.schedule")

PeriodicRun = Callable[[JobContext], Coroutine[Any, Any, Mapping[str, Any] | None]]


@dataclass(frozen=True)
class PeriodicTask:
    """Run `run(context)` every `interval_seconds` (counted from the end of the last run)."""

    name: str
    interval_seconds: float
    run: PeriodicRun


class ScheduleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def _now(self) -> Any:
        if self.postgres:
            # The database's clock, read at each statement (not the transaction's start).
            return func.clock_timestamp()
        # Typed, so SQLite compares it as every other stored timestamp (naive UTC text).
        return literal(utcnow(), UTCDateTime())

    def _after(self, seconds: float) -> Any:
        delta = timedelta(seconds=seconds)
        if self.postgres:
            return func.clock_timestamp() + delta
        return literal(utcnow() + delta, UTCDateTime())

    async def ensure(self, names: Collection[str]) -> None:
        """A row for each task that has none, due now; existing rows are kept as they are."""
        if not names:
            return
        rows = [{"name": name, "next_run_at": utcnow(), "runs": 0} for name in names]
        insert = postgresql_insert if self.postgres else sqlite_insert
        await self.session.execute(
            insert(ScheduledTask).values(rows).on_conflict_do_nothing(index_elements=["name"])
        )

    def _takeable(self) -> Any:
        now = self._now()
        return and_(
            ScheduledTask.next_run_at <= now,
            or_(ScheduledTask.locked_until.is_(None), ScheduledTask.locked_until < now),
        )

    async def due(self, names: Collection[str]) -> list[str]:
        """The tasks of `names` due now and not held by a live lease (a read)."""
        found = await self.session.scalars(
            select(ScheduledTask.name).where(ScheduledTask.name.in_(list(names)), self._takeable())
        )
        return sorted(found)

    async def take(self, name: str, owner: str, lease_seconds: float) -> bool:
        """Lease the task to `owner` if it is due and free; False when it is not, or another
        worker took it first (a concurrent UPDATE re-checks the row once the other commits)."""
        statement = (
            update(ScheduledTask)
            .where(ScheduledTask.name == name, self._takeable())
            .values(
                locked_by=owner,
                locked_until=self._after(lease_seconds),
                last_started_at=self._now(),
            )
            .returning(ScheduledTask.name)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).first() is not None

    async def _fenced(self, name: str, owner: str, **values: Any) -> bool:
        statement = (
            update(ScheduledTask)
            .where(ScheduledTask.name == name, ScheduledTask.locked_by == owner)
            .values(**values)
            .returning(ScheduledTask.name)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).first() is not None

    async def renew(self, name: str, owner: str, lease_seconds: float) -> bool:
        return await self._fenced(name, owner, locked_until=self._after(lease_seconds))

    async def finish(
        self,
        name: str,
        owner: str,
        *,
        interval_seconds: float,
        outcome: str,
        error: str | None,
        result: Mapping[str, Any] | None,
    ) -> bool:
        """Release the task, due again `interval_seconds` from now; False when the lease was
        lost (another worker runs it now, and its own finish sets the time)."""
        return await self._fenced(
            name,
            owner,
            locked_by=None,
            locked_until=None,
            next_run_at=self._after(interval_seconds),
            last_finished_at=self._now(),
            last_outcome=outcome,
            last_error=error,
            last_result=None if result is None else dict(result),
            runs=ScheduledTask.runs + 1,
        )

    async def get(self, name: str) -> ScheduledTask | None:
        return await self.session.scalar(
            select(ScheduledTask)
            .where(ScheduledTask.name == name)
            .execution_options(populate_existing=True)
        )


def _error_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


class Scheduler:
    def __init__(
        self,
        context: JobContext,
        tasks: Iterable[PeriodicTask],
        *,
        name: str,
        poll_seconds: float = 1.0,
        lease_seconds: float = 60.0,
    ) -> None:
        self.context = context
        self.tasks = {task.name: task for task in tasks}
        self.name = name
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self._stopping = asyncio.Event()
        self._running: dict[str, asyncio.Task[str]] = {}
        self._ready = False

    @property
    def database(self) -> Database:
        return self.context.database

    def stop(self) -> None:
        """Take no new run; `run()` returns once the runs in hand are done."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def _ensure(self) -> None:
        if self._ready or not self.tasks:
            return
        async with self.database.session() as session:
            await ScheduleRepository(session).ensure(list(self.tasks))
        self._ready = True

    async def _due(self) -> list[str]:
        # A read first: on SQLite a write takes the database's one lock, which an idle worker
        # would otherwise take from the API every poll.
        async with self.database.sessionmaker() as session:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            return await ScheduleRepository(session).due(list(self.tasks))

    async def _take(self, name: str) -> bool:
        async with self.database.session() as session:
            return await ScheduleRepository(session).take(name, self.name, self.lease_seconds)

    async def run(self) -> None:
        """Run due tasks until stop(); then wait for the runs in hand."""
        if not self.tasks:
            return
        stopped = asyncio.create_task(self._stopping.wait())
        log.info("scheduler_started", worker=self.name, tasks=sorted(self.tasks))
        try:
            while not self.stopping:
                try:
                    await self._ensure()
                    for name in await self._due():
                        if name in self._running or self.stopping:
                            continue
                        if await self._take(name):
                            task = asyncio.create_task(self.run_taken(self.tasks[name]))
                            self._running[name] = task
                            task.add_done_callback(self._forget(name))
                except Exception:
                    # The database is away: keep polling, it usually comes back.
                    log.exception("schedule_poll_failed", worker=self.name)
                await asyncio.wait({stopped}, timeout=self.poll_seconds)
            if self._running:
                await asyncio.gather(*self._running.values(), return_exceptions=True)
        finally:
            stopped.cancel()
        log.info("scheduler_stopped", worker=self.name)

    def _forget(self, name: str) -> Callable[[asyncio.Task[str]], None]:
        def forget(_task: asyncio.Task[str]) -> None:
            self._running.pop(name, None)

        return forget

    async def run_due(self) -> dict[str, str]:
        """Run every due task once, one after another (tests, and running by hand); each
        task's outcome, or `skipped` when another worker holds it."""
        await self._ensure()
        outcomes: dict[str, str] = {}
        for name in await self._due():
            if await self._take(name):
                outcomes[name] = await self.run_taken(self.tasks[name])
            else:
                outcomes[name] = "skipped"
        return outcomes

    async def run_taken(self, task: PeriodicTask) -> str:
        """Run a task this worker has taken, to its outcome: completed, failed or lease_lost."""
        started = time.monotonic()
        lost = asyncio.Event()
        runner = asyncio.create_task(task.run(self.context))
        done = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(task, runner, done, lost))
        result: Mapping[str, Any] | None = None
        error: BaseException | None = None
        try:
            result = await runner
            outcome = "completed"
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not lost.is_set() or (current is not None and current.cancelling()):
                runner.cancel()
                raise
            outcome = "lease_lost"
        except Exception as exc:
            error = exc
            outcome = "failed"
        finally:
            done.set()
            await heartbeat
        if outcome != "lease_lost":
            try:
                async with self.database.session() as session:
                    kept = await ScheduleRepository(session).finish(
                        task.name,
                        self.name,
                        interval_seconds=task.interval_seconds,
                        outcome=outcome,
                        error=None if error is None else _error_name(error),
                        result=result,
                    )
                if not kept:
                    outcome = "lease_lost"
            except Exception as exc:
                # Unrecorded: the lease lapses and the task is run again then; say so.
                error = error or exc
                outcome = "unrecorded"
        fields = {
            "task": task.name,
            "outcome": outcome,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            "worker": self.name,
        }
        if error is not None:
            log.error("periodic_task", **fields, exc_info=error)
        elif outcome == "completed":
            log.info("periodic_task", **fields, result=dict(result or {}))
        else:
            log.warning("periodic_task", **fields)
        return outcome

    async def _heartbeat(
        self,
        task: PeriodicTask,
        runner: asyncio.Task[Any],
        done: asyncio.Event,
        lost: asyncio.Event,
    ) -> None:
        interval = self.lease_seconds / 3
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), interval)
            if done.is_set():
                return
            try:
                async with self.database.session() as session:
                    kept = await ScheduleRepository(session).renew(
                        task.name, self.name, self.lease_seconds
                    )
            except Exception:
                # Tried again next interval; if the database stays away the lease lapses.
                log.warning("periodic_task_renewal_failed", task=task.name, exc_info=True)
                continue
            if not kept:
                # This process stalled past its lease and another worker runs the task now.
                lost.set()
                runner.cancel()
                return
