"""The queue's SQL: enqueue in the caller's transaction, claim with a lease, fenced writes.

Enqueueing adds a row to the caller's session and never commits: the job exists if and only if
the change that caused it commits (a transactional outbox), so a rolled-back request leaves
no job behind and a committed one cannot lose its job.

Claiming is one statement. On PostgreSQL the inner SELECT locks its rows `FOR UPDATE SKIP
LOCKED`, so concurrent workers each take different due jobs and never wait on each other; on
SQLite writers are serialised (every unit of work begins IMMEDIATE), so the same statement is
safe too, only not concurrent. A claimed job is leased: `locked_until` lapses unless the
worker renews it, and a job whose lease lapsed (its worker was killed) is due again.

Every later write of a running job (progress, renewal, completion, retry) is fenced on
`locked_by` and `attempts`: a worker whose lease lapsed and was taken over matches no row, gets
LeaseLost, and rolls its transaction back, so two workers never both record the same work.

On PostgreSQL the worker's loop claims with `complete_and_claim`: the completions of the jobs
its handlers finished and the next claim in one statement, in autocommit (a statement is
atomic by itself; Database.autocommit_connection): no BEGIN and COMMIT round trips and no
session around it, which were most of a short job's CPU (a confirmation email: 2.2 of 6 ms).

Lease times use the database's clock on PostgreSQL (`clock_timestamp()`), so workers on hosts
whose clocks disagree still agree on when a lease lapsed; SQLite runs on one host, whose clock
it is. `run_after` is written with the writer's clock: a skew there only moves a start.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

import orjson
from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shopdb.jobs.kinds import KINDS, JobKind
from shopdb.kit import prepared
from shopdb.kit.types import UTCDateTime, utcnow
from shopdb.models import Job


class LeaseLost(Exception):
    """The job's lease lapsed and another worker took it: this worker's writes are void."""


class PermanentJobError(Exception):
    """Fail the job now, without retrying, with `message` as its client-visible `error`.

    For outcomes no retry can change (the uploaded file is gone). The message is shown to
    clients, so it must not carry exception text.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _checked_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    # Jobs carry ids and keys; anything json cannot encode (an ORM object, a datetime) is a
    # bug of the caller, refused here rather than by a worker later.
    return dict(json.loads(json.dumps(dict(payload))))


async def enqueue(
    session: AsyncSession,
    kind: JobKind | str,
    payload: Mapping[str, Any],
    *,
    run_after: datetime | None = None,
    max_attempts: int | None = None,
    actor: str | None = None,
    total: int = 0,
) -> Job:
    """Add a queued job to the caller's transaction (flushed for its id, never committed)."""
    job = new_job(
        kind,
        payload,
        run_after=run_after,
        max_attempts=max_attempts,
        actor=actor,
        total=total,
    )
    session.add(job)
    await session.flush()
    return job


def new_job(
    kind: JobKind | str,
    payload: Mapping[str, Any],
    *,
    run_after: datetime | None = None,
    max_attempts: int | None = None,
    actor: str | None = None,
    total: int = 0,
) -> Job:
    """A queued job, not yet in any session: for a caller that writes it with other rows in
    one statement (kit.models.write_rows); `enqueue` adds and flushes one."""
    spec = KINDS[kind] if isinstance(kind, str) else kind
    return Job(
        kind=spec.name,
        status="queued",
        payload=_checked_payload(payload),
        run_after=run_after or utcnow(),
        max_attempts=max_attempts or spec.max_attempts,
        attempts=0,
        actor=actor,
        total=total,
        processed=0,
        result={},
    )


@dataclass
class RunningJob:
    """A claimed job as its handler sees it: plain values, and the fenced ways to write it."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    owner: str
    lease_seconds: float
    actor: str | None = None
    total: int = 0
    processed: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    # Called with `processed` after each committed checkpoint (the CLI's progress bar).
    on_progress: Callable[[int], None] | None = None
    finished: bool = False
    lease_lost: bool = False
    # When the lease was last extended (time.monotonic()): by the claim, a checkpoint or the
    # worker's heartbeat, which skips a renewal a checkpoint just made.
    renewed_at: float = field(default_factory=time.monotonic)

    async def checkpoint(
        self,
        session: AsyncSession,
        *,
        processed: int,
        result: Mapping[str, Any] | None = None,
        total: int | None = None,
    ) -> None:
        """Save progress in the caller's transaction (which should hold the work it counts).

        Raises LeaseLost when the job is no longer this worker's; the caller's transaction
        must then roll back. Renews the lease as well.
        """
        await QueueRepository(session).save_progress(self, processed, result, total)
        self.renewed_at = time.monotonic()
        self.processed = processed
        if result is not None:
            self.result = dict(result)
        if total is not None:
            self.total = total

    async def complete(
        self, session: AsyncSession, result: Mapping[str, Any] | None = None
    ) -> None:
        """Mark the job completed in the caller's transaction, with the work's last step.

        A handler calls this when completing must be atomic with its last writes (an event
        recorded once); otherwise the worker completes the job after the handler returns.
        """
        await QueueRepository(session).complete(self, result)
        if result is not None:
            self.result = dict(result)
        self.finished = True


def _running_job(row: Any, lease_seconds: float) -> RunningJob:
    return RunningJob(
        id=row.id,
        kind=row.kind,
        payload=_json_object(row.payload),
        attempt=row.attempts,
        max_attempts=row.max_attempts,
        owner=row.locked_by,
        lease_seconds=lease_seconds,
        actor=row.actor,
        total=row.total,
        processed=row.processed,
        result=_json_object(row.result),
    )


def _json_object(value: Any) -> dict[str, Any]:
    return dict(prepared.json_value(value) or {})


_RETURNED = (
    Job.id,
    Job.kind,
    Job.payload,
    Job.attempts,
    Job.max_attempts,
    Job.locked_by,
    Job.actor,
    Job.total,
    Job.processed,
    Job.result,
)


# The statements every job runs (its claim, its completion) are built once, from the table
# and bind parameters, and run as Core statements: building and compiling an ORM UPDATE per
# call cost more CPU than the database's work. PostgreSQL reads its own clock in the
# statement (`clock_timestamp()`); SQLite is given the time as `now`.
_JOBS = cast(Table, Job.__table__)


def _clock(postgres: bool) -> Any:
    return func.clock_timestamp() if postgres else bindparam("now", type_=UTCDateTime())


@cache
def _claim_statement() -> Any:
    """SQLite's claim: lease up to :claim_limit due jobs of :kinds to :owner
    (QueueRepository.claim; PostgreSQL's is _COMPLETE_AND_CLAIM)."""
    jobs = _JOBS.c
    now = bindparam("now", type_=UTCDateTime())
    due = and_(
        jobs.kind.in_(bindparam("kinds", expanding=True)),
        or_(
            and_(jobs.status == "queued", jobs.run_after <= now),
            and_(jobs.status == "running", jobs.locked_until < now),
        ),
    )
    candidates = (
        select(jobs.id)
        .where(due)
        .order_by(jobs.run_after, jobs.id)
        .limit(bindparam("claim_limit", type_=Integer))
    )
    return (
        update(_JOBS)
        .where(jobs.id.in_(candidates.scalar_subquery()))
        .values(
            status="running",
            locked_by=bindparam("owner", type_=String),
            locked_until=bindparam("lease_until", type_=UTCDateTime()),
            attempts=jobs.attempts + 1,
            started_at=func.coalesce(jobs.started_at, now),
            updated_at=bindparam("updated_at", type_=UTCDateTime()),
        )
        .returning(*(_JOBS.c[column.key] for column in _RETURNED))
    )


def _fenced_where() -> Any:
    jobs = _JOBS.c
    return and_(
        jobs.id == bindparam("job_id", type_=BigInteger),
        jobs.status == "running",
        jobs.locked_by == bindparam("owner", type_=String),
        jobs.attempts == bindparam("attempt", type_=Integer),
    )


@cache
def _complete_statement(postgres: bool, *, with_result: bool) -> Any:
    """Completed, fenced as every write of a running job (QueueRepository.complete)."""
    values: dict[str, Any] = {
        "status": "completed",
        "finished_at": _clock(postgres),
        "locked_by": None,
        "locked_until": None,
        "error": None,
        "updated_at": bindparam("updated_at", type_=UTCDateTime()),
    }
    if with_result:
        values["result"] = bindparam("result", type_=_JOBS.c.result.type)
    return update(_JOBS).where(_fenced_where()).values(**values).returning(_JOBS.c.id)


# Why the claims test a job's kind with array_position rather than `kind = ANY(:kinds)`: an
# equality the planner may serve with ix_jobs_kind_created_at, and without fresh statistics (a
# new table; autovacuum off or behind) it did: a bitmap AND of that index with the claimable
# one, every row of the kinds read at each claim (64,000 index entries, 6-12 ms on a database
# with 15,000 jobs), and a bitmap scan never marks the dead entries of the claimable index as
# such. A test no index serves leaves one plan: the claimable index in (run_after, id) order
# up to the limit, which skips the entries that the earlier claims' scans marked dead
# (0.05 ms).

# PostgreSQL: the completions (parallel arrays; a NULL result keeps the job's own) and the next
# claim in one statement. The claim skips the jobs being completed: a lease that lapsed meanwhile
# leaves a job both due and completed here, and one statement must not update a row twice.
_COMPLETE_AND_CLAIM = text(
    """
    WITH done AS (
        UPDATE jobs AS j
        SET status = 'completed',
            finished_at = clock_timestamp(),
            locked_by = NULL,
            locked_until = NULL,
            error = NULL,
            updated_at = :updated_at,
            result = COALESCE(CAST(v.result AS jsonb), j.result)
        FROM unnest(
            CAST(:done_ids AS bigint[]),
            CAST(:done_attempts AS integer[]),
            CAST(:done_results AS text[])
        ) AS v(id, attempt, result)
        WHERE j.id = v.id AND j.status = 'running' AND j.locked_by = :owner
            AND j.attempts = v.attempt
        RETURNING j.id
    ),
    claimed AS (
        UPDATE jobs AS j
        SET status = 'running',
            locked_by = :owner,
            locked_until = clock_timestamp() + CAST(:lease AS interval),
            attempts = j.attempts + 1,
            started_at = COALESCE(j.started_at, clock_timestamp()),
            updated_at = :updated_at
        WHERE j.id IN (
            SELECT c.id FROM jobs AS c
            WHERE array_position(CAST(:kinds AS varchar[]), c.kind) IS NOT NULL
                AND (
                    (c.status = 'queued' AND c.run_after <= clock_timestamp())
                    OR (c.status = 'running' AND c.locked_until < clock_timestamp())
                )
                AND c.id <> ALL(CAST(:done_ids AS bigint[]))
            ORDER BY c.run_after, c.id
            LIMIT :claim_limit
            FOR UPDATE SKIP LOCKED
        )
        RETURNING j.id, j.kind, j.payload, j.attempts, j.max_attempts, j.locked_by, j.actor,
            j.total, j.processed, j.result
    )
    SELECT d.completed, c.*
    FROM (SELECT array_agg(id) AS completed FROM done) AS d
    LEFT JOIN claimed AS c ON true
    """
)


async def complete_and_claim(
    connection: AsyncConnection,
    owner: str,
    completions: Collection[tuple[RunningJob, Mapping[str, Any] | None]],
    kinds: Collection[str],
    limit: int,
    lease_seconds: float,
) -> tuple[set[int], list[RunningJob]]:
    """PostgreSQL: mark `completions` (job, result) completed where `owner` still holds them,
    and lease up to `limit` due jobs of `kinds` to `owner`, in one statement in autocommit.
    Returns the ids whose completion was written (the others' leases were lost) and the
    claimed jobs, oldest first. `connection`: Database.autocommit_connection's."""
    values = _complete_and_claim_values(owner, completions, kinds, limit, lease_seconds)
    rows = await prepared.fetch_alone(connection, _COMPLETE_AND_CLAIM, values)
    return _written_and_claimed(rows, lease_seconds)


def _complete_and_claim_values(
    owner: str,
    completions: Collection[tuple[RunningJob, Mapping[str, Any] | None]],
    kinds: Collection[str],
    limit: int,
    lease_seconds: float,
) -> dict[str, Any]:
    return {
        "done_ids": [job.id for job, _ in completions],
        "done_attempts": [job.attempt for job, _ in completions],
        "done_results": [
            None if result is None else orjson.dumps(dict(result)).decode()
            for _, result in completions
        ],
        "owner": owner,
        "updated_at": utcnow(),
        "lease": timedelta(seconds=lease_seconds),
        "kinds": list(kinds),
        "claim_limit": limit,
    }


def _written_and_claimed(
    rows: Sequence[Any], lease_seconds: float
) -> tuple[set[int], list[RunningJob]]:
    written = set(rows[0].completed or ()) if rows else set()
    claimed = [_running_job(row, lease_seconds) for row in rows if row.id is not None]
    return written, sorted(claimed, key=lambda job: job.id)


class QueueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def _now(self) -> Any:
        if self.postgres:
            return func.clock_timestamp()
        # Typed, so that SQLite stores it as every other timestamp (naive UTC text) wherever
        # it appears, not only where a column gives it its type.
        return literal(utcnow(), UTCDateTime())

    def _after(self, seconds: float) -> Any:
        delta = timedelta(seconds=seconds)
        if self.postgres:
            return func.clock_timestamp() + delta
        return literal(utcnow() + delta, UTCDateTime())

    def _due(self, kinds: Collection[str]) -> Any:
        now = self._now()
        return and_(
            Job.kind.in_(list(kinds)),
            or_(
                and_(Job.status == "queued", Job.run_after <= now),
                and_(Job.status == "running", Job.locked_until < now),
            ),
        )

    async def get(self, job_id: int) -> Job | None:
        return await self.session.scalar(
            select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
        )

    async def any_due(self, kinds: Collection[str]) -> bool:
        return bool(await self.session.scalar(select(exists().where(self._due(kinds)))))

    async def claim(
        self, owner: str, kinds: Collection[str], limit: int, lease_seconds: float
    ) -> list[RunningJob]:
        """Lease up to `limit` due jobs of `kinds` to `owner`, oldest due first."""
        if self.postgres:  # complete_and_claim's statement, completing none, in the session
            values = _complete_and_claim_values(owner, (), kinds, limit, lease_seconds)
            rows = await prepared.fetch_in_transaction(self.session, _COMPLETE_AND_CLAIM, values)
            return _written_and_claimed(rows, lease_seconds)[1]
        now = utcnow()
        params = {
            "kinds": list(kinds),
            "claim_limit": limit,
            "owner": owner,
            "updated_at": now,
            "now": now,
            "lease_until": now + timedelta(seconds=lease_seconds),
        }
        rows = (await self.session.execute(_claim_statement(), params)).all()
        return sorted((_running_job(row, lease_seconds) for row in rows), key=lambda j: j.id)

    async def insert_claimed(
        self,
        kind: JobKind,
        payload: Mapping[str, Any],
        *,
        owner: str,
        lease_seconds: float,
        actor: str | None,
        total: int = 0,
    ) -> RunningJob:
        """A job created already leased to `owner`, for work run in the calling process (the
        CLI) that a worker must not start meanwhile, but finishes should that process die."""
        job = await enqueue(self.session, kind, payload, actor=actor, total=total)
        job.status = "running"
        job.locked_by = owner
        job.attempts = 1
        job.started_at = utcnow()
        job.locked_until = utcnow() + timedelta(seconds=lease_seconds)
        await self.session.flush()
        return _running_job(job, lease_seconds)

    def _fenced(self, job: RunningJob) -> Any:
        return and_(
            Job.id == job.id,
            Job.status == "running",
            Job.locked_by == job.owner,
            Job.attempts == job.attempt,
        )

    async def _fenced_update(self, job: RunningJob, **values: Any) -> bool:
        statement = (
            update(Job)
            .where(self._fenced(job))
            .values(updated_at=utcnow(), **values)
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).first() is not None

    async def renew(self, job: RunningJob) -> bool:
        """Extend the lease; False when the job is no longer this worker's."""
        return await self._fenced_update(job, locked_until=self._after(job.lease_seconds))

    async def save_progress(
        self,
        job: RunningJob,
        processed: int,
        result: Mapping[str, Any] | None,
        total: int | None,
    ) -> None:
        values: dict[str, Any] = {
            "processed": processed,
            "locked_until": self._after(job.lease_seconds),
        }
        if result is not None:
            values["result"] = dict(result)
        if total is not None:
            values["total"] = total
        if not await self._fenced_update(job, **values):
            raise LeaseLost(job.id)

    async def complete(self, job: RunningJob, result: Mapping[str, Any] | None) -> None:
        params: dict[str, Any] = {
            "job_id": job.id,
            "owner": job.owner,
            "attempt": job.attempt,
            "updated_at": utcnow(),
        }
        if not self.postgres:
            params["now"] = params["updated_at"]
        if result is not None:
            params["result"] = dict(result)
        statement = _complete_statement(self.postgres, with_result=result is not None)
        if (await self.session.execute(statement, params)).first() is None:
            raise LeaseLost(job.id)

    async def complete_if_held(self, job: RunningJob, result: Mapping[str, Any] | None) -> bool:
        """`complete`, False (and nothing written) where it would raise LeaseLost: for a
        transaction that writes other jobs' outcomes too (Worker.claim)."""
        try:
            await self.complete(job, result)
        except LeaseLost:
            return False
        return True

    async def retry(self, job: RunningJob, delay_seconds: float, last_error: str) -> bool:
        """Back to the queue, due after `delay_seconds`; False when the lease was lost."""
        return await self._fenced_update(
            job,
            status="queued",
            run_after=self._after(delay_seconds),
            locked_by=None,
            locked_until=None,
            last_error=last_error,
        )

    async def fail(self, job: RunningJob, error: str, last_error: str | None) -> bool:
        """Failed for good with the client-safe `error`; False when the lease was lost."""
        return await self._fenced_update(
            job,
            status="failed",
            error=error,
            last_error=last_error,
            finished_at=self._now(),
            locked_by=None,
            locked_until=None,
        )


async def get_job(session: AsyncSession, job_id: int) -> Job | None:
    return await QueueRepository(session).get(job_id)
