"""The queue on both databases: enqueue in the caller's transaction, claim, lease, retry, fail."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.jobs import LeaseLost, PermanentJobError, RunningJob, enqueue
from shopdb.jobs.kinds import AWAITING_HANDLER, FILES_DELETE, KINDS
from shopdb.jobs.kinds import ORDERS_CONFIRMATION_EMAIL as EMAIL
from shopdb.jobs.queue import QueueRepository
from shopdb.jobs.runner import JobContext, Registration, Worker, backoff_seconds
from shopdb.kit.types import utcnow
from shopdb.models import Job
from shopdb.worker import registrations
from tests.fixtures.database import Backend
from tests.jobs.helpers import make_worker

KIND = FILES_DELETE.name


async def jobs_in(database: Database) -> list[Job]:
    async with database.session() as session:
        return list(await session.scalars(select(Job).order_by(Job.id)))


async def one_job(database: Database, job_id: int) -> Job:
    async with database.session() as session:
        job = await session.scalar(
            select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
        )
        assert job is not None
        return job


async def enqueued(database: Database, **options: Any) -> int:
    async with database.session() as session:
        job = await enqueue(session, FILES_DELETE, {"key": "k"}, **options)
        return job.id


async def claim(database: Database, owner: str, limit: int = 10, lease: float = 60) -> list[Any]:
    async with database.session() as session:
        return await QueueRepository(session).claim(owner, [KIND], limit, lease)


def registration(handler: Any) -> list[Registration]:
    return [Registration(FILES_DELETE, handler)]


class TestEveryKindHasOneHandler:
    def test_kinds_and_registrations_match(self) -> None:
        names = [r.kind.name for r in registrations()]
        assert sorted([*names, *AWAITING_HANDLER]) == sorted(KINDS)
        assert len(names) == len(set(names))


class TestEnqueue:
    async def test_is_rolled_back_with_its_transaction(self, database: Database) -> None:
        async def enqueue_then_fail() -> None:
            async with database.session() as session:
                await enqueue(session, FILES_DELETE, {"key": "a"})
                raise RuntimeError("the change failed")

        with pytest.raises(RuntimeError, match="the change failed"):
            await enqueue_then_fail()

        assert await jobs_in(database) == []

    async def test_commits_with_its_transaction_as_a_queued_job(self, database: Database) -> None:
        job_id = await enqueued(database, actor="user:1")

        job = await one_job(database, job_id)
        assert (job.kind, job.status, job.payload, job.attempts, job.max_attempts) == (
            KIND,
            "queued",
            {"key": "k"},
            0,
            FILES_DELETE.max_attempts,
        )
        assert (job.locked_by, job.locked_until, job.actor) == (None, None, "user:1")

    async def test_refuses_what_json_cannot_carry(self, db_session: AsyncSession) -> None:
        with pytest.raises(TypeError):
            await enqueue(db_session, FILES_DELETE, {"when": utcnow()})
        assert await db_session.scalar(select(func.count()).select_from(Job)) == 0


class TestClaim:
    async def test_takes_due_jobs_oldest_first_and_leases_them(self, database: Database) -> None:
        first = await enqueued(database)
        later = await enqueued(database, run_after=utcnow() + timedelta(hours=1))
        second = await enqueued(database)

        claimed = await claim(database, "w1", lease=30)

        assert [(j.id, j.attempt, j.owner) for j in claimed] == [
            (first, 1, "w1"),
            (second, 1, "w1"),
        ]
        row = await one_job(database, first)
        assert (row.status, row.locked_by, row.attempts) == ("running", "w1", 1)
        assert row.locked_until is not None
        assert utcnow() + timedelta(seconds=25) < row.locked_until
        assert row.locked_until < utcnow() + timedelta(seconds=35)
        assert row.started_at is not None
        assert (await one_job(database, later)).status == "queued"
        # Leased jobs are nobody else's.
        assert await claim(database, "w2") == []

    async def test_respects_the_limit(self, database: Database) -> None:
        ids = [await enqueued(database) for _ in range(3)]

        assert [j.id for j in await claim(database, "w1", limit=2)] == ids[:2]
        assert [j.id for j in await claim(database, "w2", limit=2)] == ids[2:]


async def expire_lease(database: Database, job_id: int) -> None:
    async with database.session() as session:
        await session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(locked_until=utcnow() - timedelta(seconds=1))
            .execution_options(synchronize_session=False)
        )


class TestLeaseExpiry:
    async def test_a_lapsed_lease_is_claimed_again_and_the_first_owner_is_fenced_out(
        self, database: Database
    ) -> None:
        job_id = await enqueued(database)
        (dead,) = await claim(database, "dead")
        await expire_lease(database, job_id)

        (alive,) = await claim(database, "alive")

        assert (alive.id, alive.attempt, alive.owner) == (job_id, 2, "alive")
        with pytest.raises(LeaseLost):
            async with database.session() as session:
                await dead.checkpoint(session, processed=1)
        with pytest.raises(LeaseLost):
            async with database.session() as session:
                await dead.complete(session)
        async with database.session() as session:
            assert not await QueueRepository(session).renew(dead)
            assert await QueueRepository(session).renew(alive)
        async with database.session() as session:
            await alive.complete(session, {"done": True})
        row = await one_job(database, job_id)
        assert (row.status, row.result, row.processed, row.locked_by) == (
            "completed",
            {"done": True},
            0,
            None,
        )

    async def test_a_job_whose_worker_died_on_its_last_attempt_fails_without_running(
        self, backend: Backend, database: Database
    ) -> None:
        job_id = await enqueued(database, max_attempts=1)
        await claim(database, "dead")
        await expire_lease(database, job_id)
        ran: list[int] = []

        async def handler(_context: JobContext, job: RunningJob) -> None:
            ran.append(job.id)

        worker = make_worker(database, backend.settings, registration(handler))
        assert await worker.run_due() == 1

        row = await one_job(database, job_id)
        assert (ran, row.status, row.attempts, row.error) == (
            [],
            "failed",
            2,
            FILES_DELETE.failure_message,
        )


class TestRetries:
    async def test_a_failure_is_retried_after_a_backoff(
        self, backend: Backend, database: Database
    ) -> None:
        job_id = await enqueued(database)

        async def handler(_context: JobContext, _job: RunningJob) -> None:
            raise RuntimeError("SELECT secret FROM somewhere")

        worker = make_worker(
            database,
            backend.settings,
            registration(handler),
            retry_base_seconds=10,
            retry_max_seconds=100,
        )
        before = utcnow()
        assert await worker.run_due() == 1  # the retry is not due yet

        row = await one_job(database, job_id)
        assert (row.status, row.attempts, row.locked_by, row.error) == ("queued", 1, None, None)
        assert row.last_error == "builtins.RuntimeError"
        # The first retry waits between half and all of the base delay.
        assert before + timedelta(seconds=5) <= row.run_after
        assert row.run_after <= utcnow() + timedelta(seconds=10)

    async def test_after_max_attempts_the_job_fails_with_the_kinds_message(
        self, backend: Backend, database: Database
    ) -> None:
        job_id = await enqueued(database, max_attempts=3)
        attempts: list[int] = []

        async def handler(_context: JobContext, job: RunningJob) -> None:
            attempts.append(job.attempt)
            raise RuntimeError("SELECT secret FROM somewhere")

        worker = make_worker(database, backend.settings, registration(handler))
        assert await worker.run_due() == 3

        row = await one_job(database, job_id)
        assert attempts == [1, 2, 3]
        assert (row.status, row.attempts, row.error) == (
            "failed",
            3,
            FILES_DELETE.failure_message,
        )
        assert row.finished_at is not None
        assert "secret" not in (row.error or "") + (row.last_error or "")

    async def test_a_permanent_error_fails_at_once_with_its_message(
        self, backend: Backend, database: Database
    ) -> None:
        job_id = await enqueued(database)

        async def handler(_context: JobContext, _job: RunningJob) -> None:
            raise PermanentJobError("The file is gone")

        assert await make_worker(database, backend.settings, registration(handler)).run_due() == 1

        row = await one_job(database, job_id)
        assert (row.status, row.attempts, row.error) == ("failed", 1, "The file is gone")

    async def test_a_success_completes_with_the_handlers_result(
        self, backend: Backend, database: Database
    ) -> None:
        job_id = await enqueued(database)

        async def handler(_context: JobContext, job: RunningJob) -> dict[str, Any]:
            return {"deleted": job.payload["key"]}

        assert await make_worker(database, backend.settings, registration(handler)).run_due() == 1

        row = await one_job(database, job_id)
        assert (row.status, row.result, row.error, row.locked_until) == (
            "completed",
            {"deleted": "k"},
            None,
            None,
        )


class TestBackoff:
    def test_grows_exponentially_with_jitter_up_to_the_cap(self) -> None:
        for attempt, low, high in [(1, 5, 10), (2, 10, 20), (3, 20, 40), (10, 50, 100)]:
            delays = [backoff_seconds(attempt, 10, 100) for _ in range(50)]
            assert all(low <= d <= high for d in delays), (attempt, delays)
        assert len({backoff_seconds(3, 10, 100) for _ in range(20)}) > 1


class TestDeferral:
    """Worker(defer_while=...): jobs of deferrable kinds (emails) wait while it says so, for
    at most max_deferral_seconds in a row; the others are claimed as usual."""

    @staticmethod
    def _worker(database: Database, backend: Backend, behind: list[bool], **options: Any) -> Worker:
        async def done(_context: JobContext, _job: RunningJob) -> None:
            return None

        registrations = [Registration(FILES_DELETE, done), Registration(EMAIL, done)]
        return make_worker(
            database, backend.settings, registrations, defer_while=lambda: behind[0], **options
        )

    async def test_emails_wait_while_deliveries_are_behind(
        self, database: Database, backend: Backend
    ) -> None:
        async with database.session() as session:
            email = (await enqueue(session, EMAIL, {"orderId": 1})).id
            other = (await enqueue(session, FILES_DELETE, {"key": "a"})).id
        behind = [True]
        worker = self._worker(database, backend, behind, max_deferral_seconds=3600)

        assert [j.id for j in await worker.claim(10)] == [other]
        assert await worker.claim(10) == []
        behind[0] = False
        assert [j.id for j in await worker.claim(10)] == [email]

    async def test_not_for_longer_than_the_bound(
        self, database: Database, backend: Backend
    ) -> None:
        async with database.session() as session:
            email = (await enqueue(session, EMAIL, {"orderId": 1})).id
        worker = self._worker(database, backend, [True], max_deferral_seconds=0.2)

        assert await worker.claim(10) == []
        await asyncio.sleep(0.25)
        assert [j.id for j in await worker.claim(10)] == [email]

    def test_only_messages_to_people_are_deferrable(self) -> None:
        assert {k.name for k in KINDS.values() if k.deferrable} == {
            "orders/confirmation_email",
            "orders/shipping_confirmation_email",
            "refunds/notification_email",
            "checkouts/recovery_email",
            "gift_cards/issued_email",
        }
