"""Workers racing on a PostgreSQL database whose sessions really commit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Float, Integer, bindparam, delete, func, literal, select, text, update
from sqlalchemy.exc import DBAPIError

from shopdb.db import Database
from shopdb.jobs import RunningJob, enqueue
from shopdb.jobs.kinds import FILES_DELETE
from shopdb.jobs.queue import QueueRepository, complete_and_claim
from shopdb.jobs.runner import JobContext, Registration, Worker
from shopdb.kit import prepared
from shopdb.models import Job
from tests.fixtures.database import test_settings as make_settings
from tests.jobs.helpers import make_worker


@pytest.fixture
async def queue(live_postgres: Database) -> Database:
    async with live_postgres.session() as session:
        await session.execute(delete(Job))
    return live_postgres


async def enqueue_many(database: Database, count: int) -> list[int]:
    async with database.session() as session:
        return [(await enqueue(session, FILES_DELETE, {"key": f"k{n}"})).id for n in range(count)]


async def job(database: Database, job_id: int) -> Job:
    async with database.session() as session:
        found = await session.scalar(select(Job).where(Job.id == job_id))
        assert found is not None
        return found


class TestConcurrentClaims:
    async def test_two_workers_never_get_the_same_job(self, queue: Database) -> None:
        ids = await enqueue_many(queue, 60)
        taken: dict[str, list[int]] = {"a": [], "b": [], "c": [], "d": []}

        async def take_all(owner: str) -> None:
            while True:
                async with queue.session() as session:
                    claimed = await QueueRepository(session).claim(
                        owner, [FILES_DELETE.name], 3, 60
                    )
                    # Holding the transaction a moment makes the claims overlap.
                    await asyncio.sleep(0.01)
                if not claimed:
                    return
                taken[owner].extend(j.id for j in claimed)

        await asyncio.gather(*(take_all(owner) for owner in taken))

        everything = [job_id for owner in taken for job_id in taken[owner]]
        assert sorted(everything) == ids  # each job exactly once
        assert sum(1 for owner in taken if taken[owner]) >= 2  # and really shared


async def run_until_completed(database: Database, worker: Worker, ids: list[int]) -> list[Job]:
    """Run `worker` until the jobs `ids` are completed (or 5 s pass), stop it; their rows."""
    task = asyncio.create_task(worker.run())
    for _ in range(100):
        rows = [await job(database, i) for i in ids]
        if all(r.status == "completed" for r in rows):
            break
        await asyncio.sleep(0.05)
    worker.stop()
    await asyncio.wait_for(task, timeout=5)
    return rows


def registration(handler: object) -> list[Registration]:
    return [Registration(FILES_DELETE, handler)]  # type: ignore[arg-type]


class TestLeases:
    async def test_a_long_job_keeps_its_lease_by_renewing_it(
        self, queue: Database, tmp_path: Path
    ) -> None:
        (job_id,) = await enqueue_many(queue, 1)
        settings = make_settings("sqlite://", tmp_path)
        stolen: list[int] = []

        async def slow(_context: JobContext, running: RunningJob) -> None:
            # Three leases long: without renewal another worker would take it meanwhile.
            for _ in range(6):
                await asyncio.sleep(0.3)
                other = await make_worker(queue, settings, registration(slow)).claim(1)
                stolen.extend(j.id for j in other)

        worker = make_worker(queue, settings, registration(slow), lease_seconds=0.6)
        assert await worker.run_due() == 1

        row = await job(queue, job_id)
        assert (stolen, row.status, row.attempts) == ([], "completed", 1)

    async def test_a_worker_that_lost_its_lease_stops_and_writes_nothing(
        self, queue: Database, tmp_path: Path
    ) -> None:
        (job_id,) = await enqueue_many(queue, 1)
        settings = make_settings("sqlite://", tmp_path)
        cancelled = asyncio.Event()

        async def stalled(_context: JobContext, _running: RunningJob) -> None:
            # Another worker took the job over (as after this process stalled past its lease).
            async with queue.session() as session:
                await session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(locked_by="thief")
                    .execution_options(synchronize_session=False)
                )
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        worker = make_worker(queue, settings, registration(stalled), lease_seconds=0.3)
        (claimed,) = await worker.claim(1)
        outcome = await asyncio.wait_for(worker.run_claimed(claimed), timeout=5)

        row = await job(queue, job_id)
        assert (outcome, cancelled.is_set()) == ("lease_lost", True)
        assert (row.status, row.locked_by, row.finished_at) == ("running", "thief", None)

    async def test_run_uses_its_concurrency_and_stops_when_asked(
        self, queue: Database, tmp_path: Path
    ) -> None:
        ids = await enqueue_many(queue, 6)
        settings = make_settings("sqlite://", tmp_path)
        at_once = 0
        most = 0

        async def handler(_context: JobContext, _running: RunningJob) -> None:
            nonlocal at_once, most
            at_once += 1
            most = max(most, at_once)
            await asyncio.sleep(0.1)
            at_once -= 1

        worker = make_worker(queue, settings, registration(handler), concurrency=3)
        rows = await run_until_completed(queue, worker, ids)

        assert [r.status for r in rows] == ["completed"] * 6
        assert most == 3


class TestCompletionWithTheNextClaim:
    """In run(), a finished job is marked completed in the transaction of the next claim."""

    async def test_the_handlers_result_is_recorded_and_the_slot_reused_at_once(
        self, queue: Database, tmp_path: Path
    ) -> None:
        ids = await enqueue_many(queue, 5)
        settings = make_settings("sqlite://", tmp_path)

        async def handler(_context: JobContext, running: RunningJob) -> dict[str, int]:
            return {"done": running.id}

        worker = make_worker(queue, settings, registration(handler), concurrency=1)
        rows = await run_until_completed(queue, worker, ids)

        assert [(r.status, r.result, r.locked_by) for r in rows] == [
            ("completed", {"done": i}, None) for i in ids
        ]
        # One worker, one job at a time, 5 jobs: far less than a poll interval apart each.
        assert all(r.finished_at is not None for r in rows)

    async def test_a_lease_lost_before_the_completion_is_written_records_nothing(
        self, queue: Database, tmp_path: Path
    ) -> None:
        (job_id,) = await enqueue_many(queue, 1)
        settings = make_settings("sqlite://", tmp_path)
        outcomes: list[str] = []

        async def taken_over(_context: JobContext, _running: RunningJob) -> None:
            # Another worker took the job over as this handler returned: the completion, written
            # with the next claim, is fenced out.
            async with queue.session() as session:
                await session.execute(
                    update(Job)
                    .where(Job.id == job_id)
                    .values(locked_by="thief")
                    .execution_options(synchronize_session=False)
                )

        worker = make_worker(queue, settings, registration(taken_over))
        run_claimed = worker.run_claimed

        async def recording(claimed: RunningJob) -> str:
            outcome = await run_claimed(claimed)
            outcomes.append(outcome)
            return outcome

        worker.run_claimed = recording  # type: ignore[method-assign,assignment]
        task = asyncio.create_task(worker.run())
        for _ in range(100):
            if outcomes:
                break
            await asyncio.sleep(0.05)
        worker.stop()
        await asyncio.wait_for(task, timeout=5)

        row = await job(queue, job_id)
        assert outcomes == ["lease_lost"]
        assert (row.status, row.locked_by, row.finished_at) == ("running", "thief", None)

    async def test_stopping_writes_the_completions_of_the_jobs_in_hand(
        self, queue: Database, tmp_path: Path
    ) -> None:
        ids = await enqueue_many(queue, 2)
        settings = make_settings("sqlite://", tmp_path)
        started = asyncio.Event()

        async def handler(_context: JobContext, _running: RunningJob) -> None:
            started.set()
            await asyncio.sleep(0.2)

        worker = make_worker(queue, settings, registration(handler), concurrency=2)
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), timeout=5)
        worker.stop()  # while both run: they finish, and their completions are written
        await asyncio.wait_for(task, timeout=5)

        rows = [await job(queue, i) for i in ids]
        assert [r.status for r in rows] == ["completed", "completed"]


class TestCompleteAndClaimInOneStatement:
    """PostgreSQL's claim with the completions, one statement in autocommit."""

    async def claim(
        self,
        database: Database,
        owner: str,
        done: list[tuple[RunningJob, dict[str, int] | None]],
        limit: int,
    ) -> tuple[set[int], list[RunningJob]]:
        async with database.autocommit_connection() as connection:
            return await complete_and_claim(
                connection, owner, done, [FILES_DELETE.name], limit, lease_seconds=60
            )

    async def test_claims_decode_the_payload_and_complete_with_the_result(
        self, queue: Database
    ) -> None:
        ids = await enqueue_many(queue, 2)

        written, claimed = await self.claim(queue, "w1", [], limit=5)
        assert written == set()
        assert [(j.id, j.payload, j.attempt, j.owner) for j in claimed] == [
            (ids[0], {"key": "k0"}, 1, "w1"),
            (ids[1], {"key": "k1"}, 1, "w1"),
        ]

        written, again = await self.claim(queue, "w1", [(claimed[0], {"done": 1})], limit=5)
        assert (written, again) == ({ids[0]}, [])
        first, second = await job(queue, ids[0]), await job(queue, ids[1])
        assert (first.status, first.result, first.locked_by) == ("completed", {"done": 1}, None)
        assert first.finished_at is not None
        assert (second.status, second.locked_by) == ("running", "w1")

    async def test_a_completion_without_a_result_keeps_the_checkpointed_one(
        self, queue: Database
    ) -> None:
        await enqueue_many(queue, 1)
        _, (running,) = await self.claim(queue, "w1", [], limit=1)
        async with queue.session() as session:
            await running.checkpoint(session, processed=3, result={"rows": 3})

        written, _ = await self.claim(queue, "w1", [(running, None)], limit=0)

        row = await job(queue, running.id)
        assert written == {running.id}
        assert (row.status, row.result, row.processed) == ("completed", {"rows": 3}, 3)

    async def test_a_job_completed_as_its_lease_lapsed_is_not_claimed_again(
        self, queue: Database
    ) -> None:
        await enqueue_many(queue, 1)
        _, (running,) = await self.claim(queue, "w1", [], limit=1)
        async with queue.session() as session:  # due again, as a lapsed lease leaves it
            await session.execute(
                update(Job)
                .where(Job.id == running.id)
                .values(locked_until=func.now() - timedelta(seconds=1))
                .execution_options(synchronize_session=False)
            )

        written, claimed = await self.claim(queue, "w1", [(running, {"done": 1})], limit=5)

        row = await job(queue, running.id)
        assert (written, claimed) == ({running.id}, [])
        assert (row.status, row.attempts, row.result) == ("completed", 1, {"done": 1})

    async def test_a_completion_fenced_out_is_not_written_and_says_so(
        self, queue: Database
    ) -> None:
        await enqueue_many(queue, 1)
        _, (running,) = await self.claim(queue, "w1", [], limit=1)
        async with queue.session() as session:
            await session.execute(
                update(Job)
                .where(Job.id == running.id)
                .values(locked_by="thief")
                .execution_options(synchronize_session=False)
            )

        written, claimed = await self.claim(queue, "w1", [(running, {"done": 1})], limit=5)

        row = await job(queue, running.id)
        assert (written, claimed) == (set(), [])
        assert (row.status, row.locked_by, row.finished_at) == ("running", "thief", None)


class TestStatementsAlone:
    """kit.prepared.fetch_alone on Database.autocommit_connection: a statement's own error
    leaves the pooled connection usable; a statement cancelled mid-way drops it."""

    async def test_a_failed_statement_keeps_the_connection_and_commits_nothing_else(
        self, queue: Database
    ) -> None:
        failing = text("SELECT 1 / :zero").bindparams(bindparam("zero", type_=Integer))
        async with queue.autocommit_connection() as connection:
            with pytest.raises(DBAPIError):
                await prepared.fetch_alone(connection, failing, {"zero": 0})
            assert not connection.invalidated
            (row,) = await prepared.fetch_alone(connection, select(literal(7)), {})
            assert row[0] == 7

    async def test_a_statement_cancelled_mid_way_drops_the_connection(
        self, queue: Database
    ) -> None:
        sleeping = text("SELECT pg_sleep(:seconds)").bindparams(bindparam("seconds", type_=Float))
        async with queue.autocommit_connection() as connection:
            task = asyncio.create_task(prepared.fetch_alone(connection, sleeping, {"seconds": 5.0}))
            await asyncio.sleep(0.2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert connection.invalidated
        # The pool hands out a working connection afterwards.
        async with queue.autocommit_connection() as connection:
            (row,) = await prepared.fetch_alone(connection, select(literal(1)), {})
            assert row[0] == 1
