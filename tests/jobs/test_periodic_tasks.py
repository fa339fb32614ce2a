"""The worker's periodic sweeps (shopdb.worker.periodic), and `shopdb worker` running them as a
process: started, run once each, stopped by SIGTERM with their rows released."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shopdb.db import Database, create_engine
from shopdb.jobs.kinds import CHECKOUTS_RECOVERY_EMAIL
from shopdb.jobs.runner import JobContext
from shopdb.kit.types import utcnow
from shopdb.models import IdempotencyKey, Job, ScheduledTask
from shopdb.schema import upgrade
from shopdb.services import services_of
from shopdb.storage import storage_from_settings
from shopdb.worker import periodic
from shopdb.worker.periodic import purge_idempotency_keys, sweep_abandoned_checkouts
from tests.checkouts.helpers import age, checkout_body, create, stored
from tests.fixtures.catalog import Headers
from tests.fixtures.database import BACKENDS, drop_postgres_database, fresh_database_url
from tests.fixtures.database import test_settings as make_settings
from tests.orders.helpers import make_locations, make_variant


def context_of(app: FastAPI) -> JobContext:
    services = services_of(app)
    return JobContext(
        services.database, storage_from_settings(services.settings), services.settings
    )


class TestSweepAbandonedCheckouts:
    async def test_marks_the_idle_checkouts_and_queues_their_recovery_email(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "12.50", {loc: 10})
        old = await create(client, admin, checkout_body((tee.variant_id, 2)))
        fresh = await create(client, admin, checkout_body((tee.variant_id, 1)))
        async with database.session() as session:
            await age(session, old["token"])

        result = await sweep_abandoned_checkouts(context_of(app))
        again = await sweep_abandoned_checkouts(context_of(app))

        assert (result, again) == ({"abandoned": 1}, {"abandoned": 0})
        async with database.session() as session:
            marked = await stored(session, old["token"])
            assert marked.abandoned_at is not None
            assert (await stored(session, fresh["token"])).abandoned_at is None
            emails = (
                await session.scalars(select(Job).where(Job.kind == CHECKOUTS_RECOVERY_EMAIL.name))
            ).all()
        assert [job.payload for job in emails] == [{"checkoutId": marked.id, "token": old["token"]}]


class TestPurgeIdempotencyKeys:
    async def test_deletes_the_expired_keys_in_batches_and_keeps_the_live_ones(
        self, app: FastAPI, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(periodic, "PURGE_BATCH", 4)
        now = utcnow()
        async with database.session() as session:
            session.add_all(
                IdempotencyKey(
                    principal="user:1",
                    key=f"k{n}",
                    method="POST",
                    path="/api/v1/products",
                    request_hash="0" * 64,
                    response_status=201,
                    expires_at=now + timedelta(hours=-1 if n < 10 else 1),
                )
                for n in range(13)
            )

        result = await purge_idempotency_keys(context_of(app))

        assert result == {"deleted": 10}
        async with database.session() as session:
            left = sorted(await session.scalars(select(IdempotencyKey.key)))
        assert left == ["k10", "k11", "k12"]


# --- `shopdb worker` as a process ------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
async def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, Database]]:
    url = await fresh_database_url(request.param, tmp_path, "periodic")
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine)
    database = Database(engine)
    try:
        yield settings.database_url, database
    finally:
        await database.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(settings.database_url)


async def scheduled(database: Database) -> dict[str, ScheduledTask]:
    async with database.sessionmaker() as session:
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        return {row.name: row for row in await session.scalars(select(ScheduledTask))}


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "shopdb.cli", "worker", "--concurrency", "1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


class TestTheWorkerProcess:
    async def test_runs_each_sweep_once_and_stops_on_sigterm_with_nothing_held(
        self, store: tuple[str, Database], tmp_path: Path
    ) -> None:
        url, database = store
        async with database.session() as session:
            session.add(
                IdempotencyKey(
                    principal="user:1",
                    key="old",
                    method="POST",
                    path="/api/v1/products",
                    request_hash="0" * 64,
                    expires_at=utcnow() - timedelta(days=1),
                )
            )
        env = {
            **os.environ,
            "SHOPDB_DATABASE_URL": url,
            "SHOPDB_VAR_DIR": str(tmp_path),
            "SHOPDB_REDIS_URL": "",
            "SHOPDB_JOB_POLL_SECONDS": "0.1",
            "SHOPDB_SCHEDULE_POLL_SECONDS": "0.1",
        }
        log = tmp_path / "worker.log"
        process = start_worker(env, log)
        try:
            deadline = time.monotonic() + 60
            while True:
                rows = await scheduled(database)
                if len(rows) == 4 and all(r.runs == 1 for r in rows.values()):
                    break
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, (rows, log.read_text())
                await asyncio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

        assert code == 0, log.read_text()
        rows = await scheduled(database)
        assert {name: (r.runs, r.last_outcome, r.locked_by) for name, r in rows.items()} == {
            "checkouts/sweep_abandoned": (1, "completed", None),
            "idempotency_keys/purge": (1, "completed", None),
            "subscriptions/bill_due": (1, "completed", None),
            "data_retention/run": (1, "completed", None),
        }
        assert rows["idempotency_keys/purge"].last_result == {"deleted": 1}
        async with database.sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
