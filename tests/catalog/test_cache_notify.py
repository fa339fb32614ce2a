"""Invalidations that cannot reach Redis travel through PostgreSQL (catalog/read_model/cache.py).

Worker A commits a change and cannot increment the product's generation in Redis; it sends a
NOTIFY, and every listening worker drops what it holds, bypasses the cache and rotates the
epoch. PostgreSQL and Redis only, like the other cache tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from shopdb.catalog.read_model import cache as cache_module
from shopdb.catalog.read_model.cache import (
    LISTENER_NAME,
    NOTIFY_CHANNEL,
    Lookup,
    ProductDocumentCache,
)
from shopdb.db import Database
from shopdb.kit import journal
from shopdb.services import services_of
from tests.catalog import test_cache
from tests.catalog.test_cache import (
    OLD,
    PRODUCTS,
    cut_off_worker,
    detail,
    epoch,
    generation,
    hold_old_document,
    invalidate_with,
    retitle_behind_the_cache,
    until_usable,
)
from tests.fixtures.catalog import Headers, ProductFactory
from tests.redis_doubles import FlakyRedis, closed_port

# The PostgreSQL-and-Redis fixture of the other cache tests (skips on SQLite or without Redis).
cache = test_cache.cache

# How long a notification may take to arrive: a local hop, given far more than it needs.
DELIVERY_SECONDS = 2.0


async def until(condition: Callable[[], bool | Awaitable[bool]], seconds: float = 2.0) -> None:
    async with asyncio.timeout(seconds):
        while True:
            met = condition()
            if not isinstance(met, bool):
                met = await met
            if met:
                return
            await asyncio.sleep(0.01)


async def listening_worker(
    cache: ProductDocumentCache,
) -> tuple[ProductDocumentCache, FlakyRedis]:
    """A server's worker: its own memory and Redis client (which the test can cut off), and a
    LISTEN of its own."""
    worker, client = cut_off_worker(cache)
    assert await worker.start_listening()
    assert worker.usable()
    return worker, client


async def notify(cache: ProductDocumentCache, payload: str) -> None:
    async with cache.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": payload},
        )


async def listener_pids(cache: ProductDocumentCache) -> list[int]:
    async with cache.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": LISTENER_NAME},
        )
        return [pid for (pid,) in rows]


class TestPartitionedWriter:
    """Only worker A cannot reach Redis; worker B can, and holds the old document."""

    async def test_the_others_serve_the_change_once_the_response_has_left(
        self,
        cache: ProductDocumentCache,
        app: FastAPI,
        database: Database,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Partition Tee")
        worker_b, _ = await listening_worker(cache)
        worker_a, client_a = cut_off_worker(cache)
        try:
            services_of(app).product_cache = worker_b
            await detail(client, admin, product["id"])  # B holds the old document
            assert product["id"] in worker_b._local
            old_epoch = await epoch(cache)

            services_of(app).product_cache = worker_a  # the write runs on A, cut off from Redis
            invalidate_with(database, worker_a)
            client_a.down = True
            written = await client.put(
                f"{PRODUCTS}/{product['id']}", json={"title": "Written Apart"}, headers=admin
            )
            assert written.status_code == 200, written.text
            await until(lambda: worker_b._heard == 1, DELIVERY_SECONDS)

            services_of(app).product_cache = worker_b
            assert product["id"] not in worker_b._local
            for _ in range(2):  # a miss, then whatever B cached after it
                assert (await detail(client, admin, product["id"])).json()["title"] == (
                    "Written Apart"
                )
            # B rotated the epoch: the old entry is dead in Redis for every worker as well.
            await until_usable(worker_b)
            assert await epoch(cache) not in (None, old_epoch)
            # Reads made while the rotation was still landing stored nothing (on a busy
            # machine both above may have): one read now stores what B reads under the new one.
            await detail(client, admin, product["id"])
            hits = (await cut_off_worker(cache)[0].lookup([product["id"]])).hits
            assert [orjson.loads(document)["title"] for document, _ in hits.values()] == [
                "Written Apart"  # what B read after its rotation, not the old one
            ]
            assert (await detail(client, admin, product["id"])).json()["title"] == ("Written Apart")
            assert client_a.down  # A never reached Redis: the news came through PostgreSQL
            assert not worker_a.usable()
        finally:
            await worker_a.aclose()
            await worker_b.aclose()

    async def test_every_write_of_a_bypassing_worker_is_announced(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product("Announced Tee"))["id"]
        worker_b, _ = await listening_worker(cache)
        worker_a, client_a = cut_off_worker(cache)
        try:
            client_a.down = True
            await worker_a.products_changed(
                journal.Changes({product_id}, listing=True)
            )  # the INCR fails: A bypasses
            await until(lambda: worker_b._heard == 1, DELIVERY_SECONDS)
            await until_usable(worker_b)
            await hold_old_document(worker_b, db_session, product_id)  # cached after that

            await worker_a.products_changed(
                journal.Changes({product_id}, listing=True)
            )  # A sends nothing to Redis now
            await until(lambda: worker_b._heard == 2, DELIVERY_SECONDS)
            assert product_id not in worker_b._local
            assert (await worker_b.lookup([product_id])).hits == {}  # B may have rotated again
        finally:
            await worker_a.aclose()
            await worker_b.aclose()


class TestFullOutage:
    async def test_a_worker_that_saw_no_error_never_serves_the_old_document(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product("Blackout Tee"))["id"]
        worker_b, client_b = await listening_worker(cache)
        await hold_old_document(worker_b, db_session, product_id)
        worker_a, client_a = cut_off_worker(cache)
        old_epoch = await epoch(cache)
        try:
            client_a.down = client_b.down = True  # Redis is down; B asks it nothing
            await worker_a.products_changed(journal.Changes({product_id}, listing=True))
            await until(lambda: worker_b._heard == 1, DELIVERY_SECONDS)
            assert not worker_b.usable()
            assert worker_b._local == {}
            assert await worker_b.lookup([product_id]) == Lookup()

            client_b.down = False  # Redis answers B again, before A
            await until_usable(worker_b)
            assert await epoch(cache) not in (None, old_epoch)
            found = await worker_b.lookup([product_id])
            assert found.hits == {}
            assert not worker_a.usable()

            client_a.down = False
            await until_usable(worker_a)
            assert (await worker_b.lookup([product_id])).hits == {}
        finally:
            await worker_a.aclose()
            await worker_b.aclose()


class TestListener:
    async def test_starting_and_stopping_leave_the_epoch_alone(
        self, cache: ProductDocumentCache
    ) -> None:
        await cache.lookup([1])  # an epoch exists
        before = await epoch(cache)
        worker, _ = await listening_worker(cache)
        assert await listener_pids(cache) != []
        await worker.aclose(settle_seconds=1.0)
        assert await epoch(cache) == before
        await until(lambda: _no_listener(cache))

    async def test_it_reconnects_and_bypasses_the_cache_while_disconnected(
        self,
        cache: ProductDocumentCache,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(cache_module, "LISTEN_RETRY_SECONDS", 0.5)
        product_id = (await make_product("Reconnected Tee"))["id"]
        worker, _ = await listening_worker(cache)
        try:
            services_of(app).product_cache = worker
            await detail(client, admin, product_id)
            await retitle_behind_the_cache(db_session, product_id, "Read While Deaf")
            assert (await detail(client, admin, product_id)).json()["title"] == (
                "Reconnected Tee"  # from the cache
            )
            (pid,) = await listener_pids(cache)
            old_epoch = await epoch(cache)
            worker._prefix = "shopdb:products:before-a-restart:"

            async with cache.engine.connect() as connection:
                await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await until(lambda: worker._listening is False)
            assert not worker.usable()
            assert worker._local == {}
            assert (await detail(client, admin, product_id)).json()["title"] == (
                "Read While Deaf"  # from PostgreSQL
            )
            await notify(cache, await cache.prefix())  # missed: nobody listens

            await until(lambda: worker._listening is True, seconds=5)
            assert await listener_pids(cache) not in ([], [pid])
            assert worker._prefix == await cache.prefix()  # the identity is read again
            await until_usable(worker)
            # The rotation on reconnection retired whatever a missed notification would have.
            assert await epoch(cache) not in (None, old_epoch)
        finally:
            await worker.aclose()

    async def test_a_notification_for_another_namespace_is_ignored(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product("Namespaced Tee"))["id"]
        worker, _ = await listening_worker(cache)
        try:
            await hold_old_document(worker, db_session, product_id)
            old_epoch = await epoch(cache)

            await notify(cache, "shopdb:products:0123456789abcdef:")
            await until(lambda: worker._heard == 1, DELIVERY_SECONDS)
            assert worker.usable()
            assert (await worker.lookup([product_id])).hits == {product_id: OLD}
            assert await epoch(cache) == old_epoch

            await notify(cache, await cache.prefix())  # its own namespace
            await until(lambda: worker._heard == 2, DELIVERY_SECONDS)
            assert product_id not in worker._local
        finally:
            await worker.aclose()


class TestNotifyFails:
    async def test_it_is_logged_and_the_write_still_succeeds(
        self,
        cache: ProductDocumentCache,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        logged = _Log()
        monkeypatch.setattr(cache_module, "log", logged)
        unreachable = create_async_engine(
            f"postgresql+asyncpg://shopdb@127.0.0.1:{closed_port()}/x"
        )
        client = FlakyRedis(cache.redis)
        worker = ProductDocumentCache(client, unreachable, cache.ttl_seconds)
        worker._prefix = await cache.prefix()
        try:
            client.down = True
            await worker.invalidate([1])  # neither Redis nor PostgreSQL: logged, not raised
            assert "product_cache.invalidate_failed" in logged.events
            assert "product_cache.notify_failed" in logged.events
            assert worker._pending_ids == {1}
        finally:
            await worker.aclose()
            await unreachable.dispose()


async def _no_listener(cache: ProductDocumentCache) -> bool:
    return await listener_pids(cache) == []


class _Log:
    def __init__(self) -> None:
        self.events: list[str] = []

    def __getattr__(self, _level: str) -> Callable[..., None]:
        def record(event: str, **_details: Any) -> None:
            self.events.append(event)

        return record


class HeldAnswers(FlakyRedis):
    """Redis has answered the MGET; the answer waits at `hold` before the worker sees it."""

    async def mget(self, keys: list[str]) -> Any:
        values = await self.real.mget(keys)
        if self.hold is not None:
            self.holding.set()
            await self.hold.wait()
        return values


class TestReadInFlight:
    async def test_a_read_answered_before_the_notification_serves_nothing_of_it(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product("In Flight Tee"))["id"]
        client = HeldAnswers(cache.redis)
        worker = ProductDocumentCache(client, cache.engine, cache.ttl_seconds)
        try:
            assert await worker.start_listening()
            await hold_old_document(worker, db_session, product_id)
            worker._local.clear()  # the read below takes the document from Redis
            client.hold = asyncio.Event()
            read = asyncio.create_task(worker.lookup([product_id]))
            async with asyncio.timeout(2):
                await client.holding.wait()  # OLD is in the answer, not yet served

            await notify(cache, await cache.prefix())
            await until(lambda: worker._heard == 1, DELIVERY_SECONDS)
            client.hold.set()
            assert await read == Lookup()
            assert product_id not in worker._local
        finally:
            if client.hold is not None:
                client.hold.set()
            await worker.aclose()


class TestStartingUp:
    async def test_a_write_before_the_first_listen_lands_with_a_rotation(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        product_id = (await make_product("Early Tee"))["id"]
        before, old_epoch = await generation(cache, product_id), await epoch(cache)
        connect = asyncio.Event()
        real_connect = asyncpg.connect

        async def delayed_connect(*args: Any, **kwargs: Any) -> Any:
            settings = kwargs.get("server_settings") or {}
            if settings.get("application_name") == LISTENER_NAME:  # not the engine's pool
                await connect.wait()
            return await real_connect(*args, **kwargs)

        monkeypatch.setattr(asyncpg, "connect", delayed_connect)
        worker, _ = cut_off_worker(cache)
        try:
            assert not await worker.start_listening(wait_seconds=0)
            assert not worker.usable()  # a notification could be missed: PostgreSQL only
            await worker.invalidate([product_id])  # kept for the rotation, and announced

            connect.set()
            await until(lambda: worker._listening is True)
            await until_usable(worker)
            assert await generation(cache, product_id) == before + 1
            assert await epoch(cache) not in (None, old_epoch)
        finally:
            connect.set()
            await worker.aclose()
