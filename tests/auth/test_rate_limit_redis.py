"""The Redis store: one atomic script, so every worker shares the buckets exactly.

Runs against SHOPDB_TEST_REDIS_URL or redis://127.0.0.1:6379/0, each test under its own key
prefix. Without a reachable Redis these tests skip locally and fail under CI.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.app import create_app
from shopdb.auth.limits import build_limits
from shopdb.db import Database
from shopdb.ratelimit import Decision, RateLimiter, RedisBucketStore
from shopdb.services import services_of
from tests.auth.helpers import PASSWORD, bearer, make_user
from tests.auth.redis_worker import hammer
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services

# types-redis lags behind redis 8 (no aclose), so the client is typed loosely here.
RedisClient = Any
REDIS_URL = os.environ.get("SHOPDB_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
# Slow enough that nothing refills while a test runs.
TRICKLE = 0.001


@pytest.fixture
async def redis() -> AsyncIterator[RedisClient]:
    client: RedisClient = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable under CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: RedisClient) -> AsyncIterator[str]:
    name = f"shopdb-test:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in redis.scan_iter(match=name + "*")]
    if keys:
        await redis.delete(*keys)


class TestScript:
    async def test_takes_tokens_until_the_bucket_is_empty(
        self, redis: RedisClient, prefix: str
    ) -> None:
        store = RedisBucketStore(redis, prefix=prefix, clock_ms=lambda: 5_000)
        limiter = RateLimiter(store, burst=3, per_second=0.5)

        decisions = [await limiter.hit("k") for _ in range(4)]

        assert decisions[:3] == [Decision(True, 3, 2), Decision(True, 3, 1), Decision(True, 3, 0)]
        assert decisions[3] == Decision(False, 3, 0, retry_after=2)

    async def test_refills_on_the_clock_it_is_given(self, redis: RedisClient, prefix: str) -> None:
        now_ms = [1_000_000]
        store = RedisBucketStore(redis, prefix=prefix, clock_ms=lambda: now_ms[0])
        limiter = RateLimiter(store, burst=2, per_second=4)
        await limiter.hit("k")
        await limiter.hit("k")
        assert (await limiter.hit("k")) == Decision(False, 2, 0, retry_after=1)

        now_ms[0] += 250
        refilled = await limiter.hit("k")
        now_ms[0] += 10_000
        capped = await limiter.hit("k")

        assert refilled == Decision(True, 2, 0)
        assert capped == Decision(True, 2, 1)

    async def test_a_look_costs_nothing_and_a_refund_gives_back(
        self, redis: RedisClient, prefix: str
    ) -> None:
        limiter = RateLimiter(RedisBucketStore(redis, prefix=prefix), burst=2, per_second=TRICKLE)
        await limiter.hit("k")

        looked = [await limiter.hit("k", cost=0) for _ in range(3)]
        await limiter.hit("k", cost=-1)

        assert {d.remaining for d in looked if d} == {1}
        assert await limiter.hit("k") == Decision(True, 2, 1)

    async def test_buckets_expire_once_they_would_be_full_again(
        self, redis: RedisClient, prefix: str
    ) -> None:
        limiter = RateLimiter(RedisBucketStore(redis, prefix=prefix), burst=10, per_second=2)

        await limiter.hit("k")

        ttl_ms = await redis.pttl(prefix + "k")
        assert 5_000 < ttl_ms <= 6_000

    async def test_reset_empties_the_count(self, redis: RedisClient, prefix: str) -> None:
        limiter = RateLimiter(RedisBucketStore(redis, prefix=prefix), burst=1, per_second=TRICKLE)
        await limiter.hit("k")

        await limiter.reset("k")

        assert await limiter.hit("k") == Decision(True, 1, 0)
        assert await redis.exists(prefix + "k") == 1


class TestConcurrency:
    async def test_concurrent_tasks_get_exactly_the_burst(
        self, redis: RedisClient, prefix: str
    ) -> None:
        limiter = RateLimiter(RedisBucketStore(redis, prefix=prefix), burst=10, per_second=TRICKLE)

        decisions = await asyncio.gather(*(limiter.hit("shared") for _ in range(60)))

        assert sum(1 for d in decisions if d and d.allowed) == 10
        assert sorted(d.remaining for d in decisions if d and d.allowed) == list(range(10))

    def test_worker_processes_share_one_bucket(self, prefix: str) -> None:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
            futures = [pool.submit(hammer, REDIS_URL, prefix, 20, 15, TRICKLE) for _ in range(3)]
            allowed = [future.result() for future in futures]

        assert sum(allowed) == 20
        assert len(allowed) == 3


def _worker_app(backend: Backend, database: Database, redis: RedisClient, prefix: str) -> FastAPI:
    settings = backend.settings.model_copy(
        update={
            "rate_limit_burst": 4,
            "rate_limit_per_second": TRICKLE,
            "rate_limit_key_prefix": prefix,
            "login_failures_per_email": 2,
        }
    )
    application = create_app(settings)
    services = use_services(application, database)
    services.rate_limiter, services.login_throttle = build_limits(settings, redis)
    return application


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("192.0.2.50", 1))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class TestOverHttp:
    async def test_two_workers_share_a_users_bucket(
        self,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
        redis: RedisClient,
        prefix: str,
    ) -> None:
        first = _worker_app(backend, database, redis, prefix)
        second = _worker_app(backend, database, redis, prefix)
        user = await make_user(db_session, role="admin")
        headers = bearer(first, user)

        async with _client(first) as a, _client(second) as b:
            answers = [
                await (a if i % 2 else b).get("/api/v1/permissions", headers=headers)
                for i in range(5)
            ]

        assert [r.status_code for r in answers] == [200, 200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["3", "2", "1", "0", "0"]
        assert int(answers[-1].headers["retry-after"]) >= 1

    async def test_failed_logins_are_counted_across_workers(
        self,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
        redis: RedisClient,
        prefix: str,
    ) -> None:
        user = await make_user(db_session)
        apps = [_worker_app(backend, database, redis, prefix) for _ in range(2)]

        codes = []
        for attempt, password in enumerate(["wrong one", "wrong two", PASSWORD]):
            async with _client(apps[attempt % 2]) as client:
                response = await client.post(
                    "/api/v1/auth/token", json={"email": user.email, "password": password}
                )
                codes.append(response.status_code)

        assert codes == [401, 401, 429]


class TestStartup:
    async def test_with_a_redis_url_the_app_keeps_its_buckets_in_redis(
        self, var_dir: Path, redis: RedisClient, prefix: str
    ) -> None:
        from shopdb.config import Settings

        settings = Settings(
            var_dir=var_dir,
            database_url=f"sqlite:///{var_dir / 'startup.sqlite3'}",
            redis_url=REDIS_URL,
            rate_limit_key_prefix=prefix,
            rate_limit_burst=5,
            rate_limit_per_second=TRICKLE,
        )
        application = create_app(settings)
        store = services_of(application).rate_limiter.store  # built once, with the app

        async with application.router.lifespan_context(application):
            async with _client(application) as client:
                response = await client.get("/.well-known/jwks.json")

        assert isinstance(store, RedisBucketStore)
        assert services_of(application).rate_limiter.store is store
        assert services_of(application).login_throttle.by_email.store is store
        assert response.headers["x-ratelimit-remaining"] == "4"
        assert await redis.exists(prefix + "ip:192.0.2.50") == 1
