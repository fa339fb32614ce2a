"""Periodic tasks (shopdb.jobs.schedule): due once per interval across workers, one runner at a
time, a lapsed lease taken over, a lost lease's writes refused, stop() after the run in hand."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from shopdb.config import Settings
from shopdb.db import Database, create_engine
from shopdb.jobs.runner import JobContext
from shopdb.jobs.schedule import PeriodicTask, Scheduler, ScheduleRepository
from shopdb.kit.types import utcnow
from shopdb.models import ScheduledTask
from shopdb.schema import upgrade
from shopdb.storage import storage_from_settings
from shopdb.worker import periodic_tasks
from tests.fixtures.database import (
    BACKENDS,
    Backend,
    drop_postgres_database,
    fresh_database_url,
)
from tests.fixtures.database import test_settings as make_settings


def scheduler(
    database: Database,
    settings: Settings,
    tasks: list[PeriodicTask],
    name: str = "w1",
    **options: Any,
) -> Scheduler:
    context = JobContext(database, storage_from_settings(settings), settings)
    return Scheduler(context, tasks, name=name, **options)


async def row(database: Database, name: str) -> ScheduledTask:
    async with database.session() as session:
        found = await ScheduleRepository(session).get(name)
        assert found is not None
        return found


class Counter:
    """A task's body: counts runs and the most runs ever in progress at once."""

    def __init__(self, seconds: float = 0.0, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.runs = 0
        self.active = 0
        self.most_at_once = 0
        self._waits: dict[int, asyncio.Event] = {}

    def reached(self, runs: int) -> asyncio.Event:
        """Set once `runs` runs have finished."""
        event = self._waits.setdefault(runs, asyncio.Event())
        if self.runs >= runs:
            event.set()
        return event

    async def __call__(self, _context: JobContext) -> Mapping[str, Any] | None:
        self.active += 1
        self.most_at_once = max(self.most_at_once, self.active)
        try:
            await asyncio.sleep(self.seconds)
            self.runs += 1
            for runs, event in self._waits.items():
                if self.runs >= runs:
                    event.set()
            if self.fail:
                raise RuntimeError("the sweep broke")
            return {"run": self.runs}
        finally:
            self.active -= 1


# --- on the test's rolled-back database ---------------------------------------------------------


class TestDue:
    async def test_runs_at_once_then_again_only_after_its_interval(
        self, backend: Backend, database: Database
    ) -> None:
        body = Counter()
        worker = scheduler(database, backend.settings, [PeriodicTask("t/a", 0.4, body)])

        first = await worker.run_due()
        again = await worker.run_due()
        await asyncio.sleep(0.5)
        later = await worker.run_due()

        assert (first, again, later) == ({"t/a": "completed"}, {}, {"t/a": "completed"})
        assert body.runs == 2
        stored = await row(database, "t/a")
        assert (stored.runs, stored.locked_by, stored.locked_until) == (2, None, None)
        assert stored.last_outcome == "completed"
        assert stored.last_result == {"run": 2}
        assert stored.last_finished_at is not None
        assert stored.next_run_at - stored.last_finished_at == pytest.approx(
            timedelta(seconds=0.4), abs=timedelta(seconds=0.05)
        )

    async def test_the_interval_holds_across_workers(
        self, backend: Backend, database: Database
    ) -> None:
        body = Counter()
        tasks = [PeriodicTask("t/shared", 60, body)]
        one = scheduler(database, backend.settings, tasks, name="w1")
        two = scheduler(database, backend.settings, tasks, name="w2")

        assert await one.run_due() == {"t/shared": "completed"}
        assert await two.run_due() == {}
        assert body.runs == 1

    async def test_a_failed_run_is_recorded_and_due_after_its_interval(
        self, backend: Backend, database: Database
    ) -> None:
        body = Counter(fail=True)
        worker = scheduler(database, backend.settings, [PeriodicTask("t/fails", 30, body)])

        assert await worker.run_due() == {"t/fails": "failed"}

        stored = await row(database, "t/fails")
        assert stored.last_outcome == "failed"
        assert stored.last_error == "builtins.RuntimeError"
        assert stored.locked_by is None
        assert stored.next_run_at > utcnow() + timedelta(seconds=25)

    async def test_a_live_lease_is_respected_and_a_lapsed_one_taken_over(
        self, backend: Backend, database: Database
    ) -> None:
        body = Counter()
        worker = scheduler(database, backend.settings, [PeriodicTask("t/held", 5, body)])
        async with database.session() as session:
            repository = ScheduleRepository(session)
            await repository.ensure(["t/held"])
            assert await repository.take("t/held", "elsewhere", 60)

        held = await worker.run_due()
        async with database.session() as session:
            # The other worker died: its lease lapses.
            await session.execute(
                update(ScheduledTask)
                .where(ScheduledTask.name == "t/held")
                .values(locked_until=utcnow() - timedelta(seconds=1))
            )
        taken_over = await worker.run_due()

        assert (held, taken_over) == ({}, {"t/held": "completed"})
        assert body.runs == 1
        assert (await row(database, "t/held")).locked_by is None

    async def test_a_run_whose_lease_was_taken_over_writes_nothing(
        self, backend: Backend, database: Database
    ) -> None:
        async def stalls(_context: JobContext) -> Mapping[str, Any] | None:
            async with database.session() as session:
                # Meanwhile its lease lapsed and another worker took the task.
                await session.execute(
                    update(ScheduledTask)
                    .where(ScheduledTask.name == "t/stalls")
                    .values(locked_by="w2")
                )
            return {"late": True}

        worker = scheduler(database, backend.settings, [PeriodicTask("t/stalls", 5, stalls)])

        assert await worker.run_due() == {"t/stalls": "lease_lost"}
        stored = await row(database, "t/stalls")
        assert (stored.locked_by, stored.runs, stored.last_result) == ("w2", 0, None)

    async def test_existing_rows_keep_their_schedule_when_a_worker_starts(
        self, backend: Backend, database: Database
    ) -> None:
        later = utcnow() + timedelta(hours=1)
        async with database.session() as session:
            await ScheduleRepository(session).ensure(["t/kept"])
            await session.execute(
                update(ScheduledTask)
                .where(ScheduledTask.name == "t/kept")
                .values(next_run_at=later)
            )
        body = Counter()

        ran = await scheduler(
            database, backend.settings, [PeriodicTask("t/kept", 1, body)]
        ).run_due()

        assert ran == {}
        assert (await row(database, "t/kept")).next_run_at == later


class TestTheWorkersTasks:
    def test_the_worker_runs_the_sweeps(self, backend: Backend) -> None:
        names = {task.name: task.interval_seconds for task in periodic_tasks(backend.settings)}

        assert names == {
            "checkouts/sweep_abandoned": 300.0,
            "idempotency_keys/purge": 3600.0,
            "subscriptions/bill_due": 300.0,
            "data_retention/run": 3600.0,
        }


# --- on a database whose sessions really commit, with workers running at once -------------------


@pytest.fixture(scope="module", params=BACKENDS)
async def committing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Database, Settings]]:
    """A migrated database per backend for this module; each test uses its own task names."""
    tmp_path = tmp_path_factory.mktemp("schedule")
    url = await fresh_database_url(request.param, tmp_path, "schedule")
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine)
    database = Database(engine)
    try:
        yield database, settings
    finally:
        await database.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(settings.database_url)


class TestWorkersAtOnce:
    async def test_two_workers_never_run_one_task_at_once(
        self, committing: tuple[Database, Settings]
    ) -> None:
        database, settings = committing
        body = Counter(seconds=0.1)
        tasks = [PeriodicTask("t/race", 0.0, body)]
        workers = [
            scheduler(database, settings, tasks, name=f"w{n}", poll_seconds=0.01) for n in range(3)
        ]

        running = [asyncio.create_task(worker.run()) for worker in workers]
        # Until five runs, not for a fixed time: on a loaded machine (CI, SQLite's one write
        # lock) 1.5 s once gave only two.
        await asyncio.wait_for(body.reached(5).wait(), 30)
        for worker in workers:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*running), 10)

        assert body.most_at_once == 1
        assert body.runs >= 5
        stored = await row(database, "t/race")
        assert stored.runs == body.runs
        assert stored.locked_by is None

    async def test_stop_lets_the_run_in_hand_finish_and_records_it(
        self, committing: tuple[Database, Settings]
    ) -> None:
        database, settings = committing
        body = Counter(seconds=0.6)
        worker = scheduler(
            database, settings, [PeriodicTask("t/long", 60, body)], poll_seconds=0.01
        )

        running = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 10
        while body.active == 0:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        worker.stop()
        await asyncio.wait_for(running, 10)

        assert body.runs == 1
        stored = await row(database, "t/long")
        assert (stored.runs, stored.last_outcome, stored.locked_by) == (1, "completed", None)

    async def test_a_long_run_keeps_its_lease_by_renewing_it(
        self, committing: tuple[Database, Settings]
    ) -> None:
        database, settings = committing
        body = Counter(seconds=1.0)
        tasks = [PeriodicTask("t/renewed", 0.0, body)]
        # A 0.3 s lease, renewed every 0.1 s: without renewal the second worker would take
        # the task three times over during one run.
        first = scheduler(database, settings, tasks, name="w1", lease_seconds=0.3)
        second = scheduler(database, settings, tasks, name="w2", lease_seconds=0.3)

        async def meanwhile() -> list[dict[str, str]]:
            seen = []
            for _ in range(8):
                await asyncio.sleep(0.1)
                seen.append(await second.run_due())
            return seen

        outcome, seen = await asyncio.gather(first.run_due(), meanwhile())

        assert outcome == {"t/renewed": "completed"}
        assert all(found in ({}, {"t/renewed": "skipped"}) for found in seen), seen
        assert body.most_at_once == 1
