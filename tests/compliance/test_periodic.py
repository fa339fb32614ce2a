"""The worker's periodic task `data_retention/run`: listed among every worker's tasks, run by
the scheduler like the others, bounded per run, and reporting what it did."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shopdb.compliance import retention
from shopdb.db import Database
from shopdb.jobs.runner import JobContext
from shopdb.jobs.schedule import Scheduler
from shopdb.models import Event, ScheduledTask
from shopdb.storage.local import LocalStorage
from shopdb.worker import periodic_tasks
from tests.compliance.conftest import add_events, add_policy
from tests.fixtures.database import Backend

TASK = "data_retention/run"


class TestPeriodicTask:
    def test_every_worker_runs_it_hourly(self, backend: Backend) -> None:
        (task,) = [t for t in periodic_tasks(backend.settings) if t.name == TASK]
        assert task.interval_seconds == 3600
        assert task.run is retention.apply_retention_policies

    async def test_the_scheduler_runs_it_and_it_reports_its_counts(
        self,
        backend: Backend,
        database: Database,
        storage: LocalStorage,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(retention, "PERIODIC_MAX_BATCHES", 2)
        monkeypatch.setattr(retention, "BATCH_SIZE", 2)
        async with database.session() as session:
            await add_policy(session, "events", "hard_delete", days=30)
            await add_policy(session, "checkouts", "hard_delete", days=30, enabled=False)
            await add_events(session, [40] * 5)
        context = JobContext(database, storage, backend.settings)
        (task,) = [t for t in periodic_tasks(backend.settings) if t.name == TASK]
        scheduler = Scheduler(context, [task], name="test-worker")

        outcomes = await scheduler.run_due()

        assert outcomes == {TASK: "completed"}
        async with database.session() as session:
            row = await session.get(ScheduledTask, TASK)
            assert row is not None
            # Two batches of two this run; the fifth event waits for the next one.
            assert row.last_result == {"policies": 1, "handled": {"events": 4}, "skipped": []}
            left = await session.scalar(
                select(func.count(Event.id)).where(Event.topic == "products/update")
            )
            assert left == 1
