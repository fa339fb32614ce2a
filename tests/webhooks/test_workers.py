"""The issue's check, on PostgreSQL: two `shopdb worker` processes send the outbox to a local
receiver that checks every signature, fails the first attempts on purpose and goes away for
a while; one worker is killed with SIGKILL mid-batch. Afterwards every event has been
delivered to every subscription at least once, and no signature was wrong."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shopdb.db import Database, create_engine
from shopdb.events.service import record_event
from shopdb.keys import field_cipher
from shopdb.models import Webhook, WebhookDelivery
from shopdb.schema import upgrade
from shopdb.webhooks import signing
from tests.fixtures.database import create_postgres_database, drop_postgres_database
from tests.fixtures.database import test_settings as make_settings
from tests.webhooks.receiver import Receiver

PATHS = ("/a", "/b", "/c")
EVENTS_BEFORE = 40
EVENTS_DURING = 10


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[Database, str]]:
    url = await create_postgres_database("webhook_workers")
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine)
    database = Database(engine)
    try:
        yield database, settings.database_url
    finally:
        await database.dispose()
        await drop_postgres_database(url)


def start_worker(url: str, var_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SHOPDB_DATABASE_URL": url,
        "SHOPDB_VAR_DIR": str(var_dir),
        "SHOPDB_REDIS_URL": "",
        "SHOPDB_LOG_LEVEL": "INFO",
        "SHOPDB_LOG_JSON": "true",
        "SHOPDB_JOB_POLL_SECONDS": "1",
        "SHOPDB_WEBHOOK_TIMEOUT_SECONDS": "1",
        "SHOPDB_WEBHOOK_LEASE_SECONDS": "1",  # 2 s in effect: the timeout and a second
        "SHOPDB_WEBHOOK_POLL_SECONDS": "0.05",
        "SHOPDB_WEBHOOK_RETRIES": "30",
        "SHOPDB_WEBHOOK_RETRY_BASE_SECONDS": "0.05",
        "SHOPDB_WEBHOOK_RETRY_MAX_SECONDS": "0.4",
        "SHOPDB_WEBHOOK_CONCURRENCY": "6",
        "SHOPDB_WEBHOOK_CONCURRENCY_PER_SUBSCRIPTION": "2",
        "SHOPDB_WEBHOOK_ALLOW_PRIVATE": "true",
    }
    command = [sys.executable, "-m", "shopdb.cli", "worker", "--concurrency", "1"]
    with log.open("ab") as stderr:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            command, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )


async def record_orders(database: Database, first: int, count: int) -> None:
    async with database.session() as session:
        for order_id in range(first, first + count):
            record_event(
                session,
                topic="orders/create",
                subject_type="Order",
                subject_id=order_id,
                body={"id": order_id, "name": f"#{order_id}"},
            )


async def undelivered(database: Database) -> int:
    async with database.sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count(WebhookDelivery.id)).where(WebhookDelivery.status != "succeeded")
            )
            or 0
        )


async def leased_by(database: Database, pid: int) -> bool:
    """Whether the worker process `pid` holds a lease (worker names carry the pid)."""
    async with database.sessionmaker() as session:
        found = await session.scalar(
            select(func.count(WebhookDelivery.id)).where(
                WebhookDelivery.locked_by.like(f"%:{pid}:%"),
                WebhookDelivery.status.in_(("pending", "failed")),
            )
        )
        return bool(found)


async def wait_for(condition: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.postgres_only
async def test_two_workers_one_killed_deliver_everything_signed(
    store: tuple[Database, str], tmp_path: Path
) -> None:
    database, url = store
    cipher = field_cipher(make_settings(url, tmp_path))  # the workers read the same keys
    async with Receiver() as receiver:
        async with database.session() as session:
            for path in PATHS:
                secret = signing.new_secret()
                receiver.secrets[path] = secret
                session.add(
                    Webhook(
                        topic="orders/create",
                        address=receiver.url(path),
                        format="json",
                        secret=signing.seal(cipher, secret),
                    )
                )
        receiver.fail_first["/b"] = 5
        for path in PATHS:
            # Slow enough that the first worker is still mid-batch when it is killed, however
            # fast the sender (it sends up to 6 at once here).
            receiver.delay[path] = 0.1
        await record_orders(database, 1, EVENTS_BEFORE)
        total = (EVENTS_BEFORE + EVENTS_DURING) * len(PATHS)

        doomed = start_worker(url, tmp_path, tmp_path / "doomed.log")
        survivor = None
        try:
            # The doomed worker first: whichever process starts faster must not have sent
            # everything before the other one holds anything.
            await wait_for(lambda: leased_by(database, doomed.pid), 60, "the doomed worker")
            survivor = start_worker(url, tmp_path, tmp_path / "survivor.log")

            async def first_deliveries() -> bool:
                return len(receiver.accepted()) >= 30

            await wait_for(first_deliveries, 60, "the first deliveries")
            # Killed mid-batch: while it holds leases on deliveries it is sending.
            await wait_for(lambda: leased_by(database, doomed.pid), 30, "the doomed worker")
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(10)
            assert await leased_by(database, doomed.pid)
            # The receiver goes away for a while; events keep coming.
            receiver.down = True
            await record_orders(database, 1000, EVENTS_DURING)

            async def refused_some() -> bool:
                return any(r.status == 503 for r in receiver.received)

            await wait_for(refused_some, 30, "a delivery to the receiver while it is away")
            await asyncio.sleep(0.3)
            receiver.down = False

            async def all_delivered() -> bool:
                return await undelivered(database) == 0

            await wait_for(all_delivered, 60, "every delivery")

            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(15) == 0
        finally:
            for process in (doomed, survivor):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait(10)

    order_ids = {*range(1, EVENTS_BEFORE + 1), *range(1000, 1000 + EVENTS_DURING)}
    for path in PATHS:
        delivered = {request.json["id"] for request in receiver.accepted(path)}
        assert delivered == order_ids, path
    assert receiver.bad_signatures == 0
    assert len(receiver.accepted()) >= total
    assert any(r.status == 503 for r in receiver.received), "the receiver was never away"
    # Each (event, subscription) kept one X-Shopdb-Webhook-Id over its attempts.
    ids: dict[tuple[str, int], set[str]] = {}
    for request in receiver.received:
        key = (request.path, request.json["id"])
        ids.setdefault(key, set()).add(request.headers["x-shopdb-webhook-id"])
    assert all(len(found) == 1 for found in ids.values())
    assert len(ids) == total
