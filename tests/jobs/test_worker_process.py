"""`shopdb worker` as operators run it: a real process, killed outright or asked to stop."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shopdb.catalog.imports import jobs
from shopdb.catalog.imports.csv_format import parse_products
from shopdb.db import Database, create_engine
from shopdb.models import Job, Location, Product
from shopdb.schema import upgrade
from shopdb.storage.local import LocalStorage
from tests.catalog.test_csv import MUG, csv_text
from tests.fixtures.database import BACKENDS, drop_postgres_database, fresh_database_url
from tests.fixtures.database import test_settings as make_settings

LEASE_SECONDS = 3.0


@dataclass
class Store:
    url: str
    var_dir: Path
    database: Database

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SHOPDB_DATABASE_URL": self.url,
            "SHOPDB_VAR_DIR": str(self.var_dir),
            "SHOPDB_REDIS_URL": "",
            "SHOPDB_LOG_LEVEL": "INFO",
            "SHOPDB_LOG_JSON": "true",
            "SHOPDB_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
            "SHOPDB_JOB_POLL_SECONDS": "0.1",
        }

    def start_worker(self, log: Path) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "shopdb.cli", "worker", "--concurrency", "1"]
        with log.open("ab") as stderr:
            return subprocess.Popen(  # noqa: S603 - our own CLI
                command, env=self.env(), stdout=subprocess.DEVNULL, stderr=stderr
            )

    async def job(self, job_id: int) -> Job:
        async with self.database.sessionmaker() as session:
            # A read: on SQLite, no write lock to wait for while the worker imports.
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            found = await session.scalar(select(Job).where(Job.id == job_id))
            assert found is not None
            return found

    async def products(self) -> int:
        async with self.database.sessionmaker() as session:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            return int(await session.scalar(select(func.count()).select_from(Product)) or 0)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    url = await fresh_database_url(request.param, tmp_path, "worker")
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine)
    database = Database(engine)
    async with database.session() as session:
        session.add(Location(name="Warehouse"))
    try:
        yield Store(settings.database_url, tmp_path, database)
    finally:
        await database.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(settings.database_url)


async def queue_import(store: Store, count: int) -> int:
    rows = [{**MUG[0], "Handle": f"p{n:05d}", "Title": f"P {n}"} for n in range(count)]
    raw = csv_text(*rows).encode()
    async with store.database.session() as session:
        job, queued = await jobs.start_import(
            session,
            LocalStorage(store.var_dir / "storage"),
            raw,
            parse_products(raw.decode()),
            location_id=None,
            actor="test",
            inline_limit=0,
        )
    assert queued
    return job.id


async def wait_for(store: Store, job_id: int, done: object, seconds: float = 120) -> Job:
    """The job once `done(job)` holds."""
    deadline = time.monotonic() + seconds
    while True:
        row = await store.job(job_id)
        if done(row):  # type: ignore[operator]
            return row
        assert time.monotonic() < deadline, f"job {job_id} still {row.status} {row.processed}"
        await asyncio.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


class TestAWorkerKilledMidJob:
    async def test_loses_nothing_and_the_next_worker_finishes_after_the_lease(
        self, store: Store, tmp_path: Path
    ) -> None:
        count = 400
        job_id = await queue_import(store, count)
        log = tmp_path / "worker.log"

        first = store.start_worker(log)
        try:
            mid = await wait_for(store, job_id, lambda j: j.processed >= 100)
        finally:
            first.kill()  # SIGKILL: no clean-up of any kind
            first.wait(timeout=10)
        stranded = await store.job(job_id)
        assert (stranded.status, stranded.attempts) == ("running", 1)
        assert mid.processed <= stranded.processed < count
        killed_at = time.monotonic()

        second = store.start_worker(log)
        try:
            finished = await wait_for(store, job_id, lambda j: j.status != "running")
            resumed_after = time.monotonic() - killed_at
            uploads = store.var_dir / "storage" / "imports"
            await wait_for_empty(uploads)
        finally:
            assert stop(second) == 0

        result = finished.result
        assert (finished.status, finished.attempts, finished.error) == ("completed", 2, None)
        assert (finished.processed, finished.total) == (count, count)
        # Every product counted exactly once although two workers imported the file.
        assert (result["created"], result["updated"], result["unchanged"]) == (count, 0, 0)
        assert (result["failed"], result["errors"]) == (0, [])
        assert await store.products() == count
        assert resumed_after >= LEASE_SECONDS * 0.5  # the lease had to lapse first
        lines = log.read_text()
        assert f'"job_id":{job_id}' in lines
        assert '"outcome":"completed"' in lines


async def wait_for_empty(folder: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while await asyncio.to_thread(lambda: any(folder.glob("*.csv"))):
        assert time.monotonic() < deadline, "the stored upload was not deleted"
        await asyncio.sleep(0.05)


class TestSigterm:
    async def test_finishes_the_job_in_hand_and_exits_0(self, store: Store, tmp_path: Path) -> None:
        count = 200
        job_id = await queue_import(store, count)

        worker = store.start_worker(tmp_path / "worker.log")
        try:
            await wait_for(store, job_id, lambda j: j.processed > 0)
            in_hand = await store.job(job_id)
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()

        finished = await store.job(job_id)
        assert code == 0
        assert in_hand.processed < count  # the signal came mid-job
        assert (finished.status, finished.processed, finished.attempts) == ("completed", count, 1)
        assert finished.result["created"] == count
