"""Cached standings are forgotten after the commit that changed them, in every worker.

Forgetting before the commit (as the endpoints once did) let a request in between read the
old standing, still committed, and cache it again: a deactivated user kept access for the
cache's lifetime. The race needs two sessions that really commit, so it runs on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from shopdb.app import create_app
from shopdb.auth.access import ACCESS_CHANGED, AccessCache, UserAccess, current_access
from shopdb.auth.dependencies import Subject
from shopdb.auth.invalidation import AccessInvalidation
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.models import User
from shopdb.services import services_of
from shopdb.users import service as users_service
from tests.auth.helpers import bearer, make_user
from tests.fixtures.database import test_settings as make_settings
from tests.fixtures.services import use_services

REDIS_URL = os.environ.get("SHOPDB_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
PROTECTED = "/api/v1/permissions"  # needs users:admin


def _committed(*user_ids: int) -> Any:
    """What after_commit reads from a session: the ids its unit of work noted."""
    return SimpleNamespace(info={ACCESS_CHANGED: set(user_ids)})


class TestAccessCacheEpoch:
    def test_a_standing_read_before_a_forget_is_not_stored_after_it(self) -> None:
        cache = AccessCache(60)
        epoch = cache.epoch

        cache.forget(7)  # the commit's hook runs while the read was in flight
        cache.put(7, UserAccess(True, frozenset()), until=None, read_at_epoch=epoch)

        assert cache.get(7) is None

    def test_a_read_with_no_forget_in_between_is_stored(self) -> None:
        cache = AccessCache(60)

        cache.put(7, UserAccess(True, frozenset()), until=None, read_at_epoch=cache.epoch)

        assert cache.get(7) == (UserAccess(True, frozenset()),)


class TestAfterCommitHook:
    async def test_forgets_the_noted_users_in_this_worker(self) -> None:
        cache = AccessCache(60)
        for user_id in (1, 2, 3):
            cache.put(user_id, UserAccess(True, frozenset()), until=None)
        invalidation = AccessInvalidation(lambda: cache, None)
        session = _committed(1, 3)

        await invalidation.after_commit(session)

        assert (cache.get(1), cache.get(2), cache.get(3)) == (
            None,
            (UserAccess(True, frozenset()),),
            None,
        )
        assert session.info == {}

    async def test_a_failing_publish_neither_raises_nor_skips_the_local_forget(self) -> None:
        class Down:
            async def publish(self, channel: str, message: str) -> int:
                raise ConnectionError("Redis is down")

        cache = AccessCache(60)
        cache.put(1, UserAccess(True, frozenset()), until=None)

        await AccessInvalidation(lambda: cache, Down()).after_commit(_committed(1))

        assert cache.get(1) is None

    async def test_the_service_notes_the_change_and_nothing_is_forgotten_before_commit(
        self, database: Database
    ) -> None:
        cache = AccessCache(60)
        database.after_commit.append(AccessInvalidation(lambda: cache, None).after_commit)
        async with database.sessionmaker() as setup:
            admin = await make_user(setup, role="admin")
            staff = await make_user(setup, permissions=["orders:read"])
            await setup.commit()
        actor = Subject("user", admin.id, frozenset({"users:admin"}))
        cached = UserAccess(True, frozenset({"orders:read"}))
        cache.put(staff.id, cached, until=None)

        async with database.sessionmaker() as session:
            await users_service.update_user(session, actor, staff.id, {"active": False})
            before_commit = cache.get(staff.id)
            await session.commit()
            await database.committed(session)

        assert before_commit == (cached,)
        assert cache.get(staff.id) is None


@pytest.fixture
async def live_app(live_postgres: Database, var_dir: Path) -> AsyncIterator[FastAPI]:
    settings = make_settings(str(live_postgres.primary.url), var_dir, auth_cache_seconds=60)
    application = create_app(settings)
    # Its Services forget changed standings after commit, as the lifespan's do.
    use_services(application, live_postgres, access_cache=AccessCache(60))
    yield application
    live_postgres.after_commit.clear()


async def _committed_users(database: Database) -> tuple[User, User]:
    async with database.session() as session:
        admin = await make_user(session, role="admin")
        staff = await make_user(session, permissions=["users:admin"])
    return admin, staff


class TestDeactivationRace:
    async def test_a_request_between_the_change_and_its_commit_does_not_keep_access(
        self, live_app: FastAPI, live_postgres: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        admin, staff = await _committed_users(live_postgres)
        staff_headers = bearer(live_app, staff)
        transport = httpx.ASGITransport(app=live_app, raise_app_exceptions=False)
        services = services_of(live_app)
        real_finish = services.finish_unit_of_work
        between: list[int] = []

        async def race_then_finish(request: Any, *, success: bool) -> None:
            if request.method == "PUT":
                # The endpoint has returned, its change is not committed: another request
                # still reads the user as active, and caches that standing.
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as other:
                    response = await other.get(PROTECTED, headers=staff_headers)
                    between.append(response.status_code)
            await real_finish(request, success=success)

        monkeypatch.setattr(services, "finish_unit_of_work", race_then_finish)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            deactivated = await client.put(
                f"/api/v1/users/{staff.id}", json={"active": False}, headers=bearer(live_app, admin)
            )
            after = await client.get(PROTECTED, headers=staff_headers)

        assert deactivated.status_code == 200
        assert between == [200]
        assert after.status_code == 401


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    client: Any = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis at {REDIS_URL} is unreachable under CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    yield client
    await client.aclose()


async def _eventually(condition: Any) -> None:
    async with asyncio.timeout(5):
        # Polling: the condition is met by another task's Redis message, not by an event here.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class TestAcrossWorkers:
    async def test_every_worker_forgets_what_one_worker_committed(self, redis: Any) -> None:
        channel = f"shopdb-test:forget:{uuid.uuid4().hex}"
        caches = [AccessCache(60) for _ in range(3)]
        workers = [
            AccessInvalidation(functools.partial(lambda c: c, cache), redis, channel=channel)
            for cache in caches
        ]
        for worker in workers:
            worker.start()
        try:
            for worker in workers:
                await asyncio.wait_for(worker.subscribed.wait(), 5)
            for cache in caches:
                cache.put(11, UserAccess(True, frozenset()), until=None)
                cache.put(12, UserAccess(True, frozenset()), until=None)

            await workers[0].after_commit(_committed(11))

            await _eventually(lambda: all(cache.get(11) is None for cache in caches))
            assert [cache.get(12) is not None for cache in caches] == [True, True, True]
        finally:
            for worker in workers:
                await worker.aclose()

    async def test_a_new_subscription_trusts_nothing_cached_before_it(self, redis: Any) -> None:
        cache = AccessCache(60)
        cache.put(1, UserAccess(True, frozenset()), until=None)
        worker = AccessInvalidation(lambda: cache, redis, channel=f"t:{uuid.uuid4().hex}")

        worker.start()
        try:
            await asyncio.wait_for(worker.subscribed.wait(), 5)
        finally:
            await worker.aclose()

        assert cache.get(1) is None

    async def test_the_cli_path_publishes_without_subscribing(self, redis: Any) -> None:
        """`shopdb user set-password` runs outside the servers: it only publishes."""
        channel = f"shopdb-test:forget:{uuid.uuid4().hex}"
        server_cache = AccessCache(60)
        server = AccessInvalidation(lambda: server_cache, redis, channel=channel)
        server.start()
        cli_cache = AccessCache(0)
        try:
            await asyncio.wait_for(server.subscribed.wait(), 5)
            server_cache.put(5, UserAccess(True, frozenset()), until=None)

            await AccessInvalidation(lambda: cli_cache, redis, channel=channel).after_commit(
                _committed(5)
            )

            await _eventually(lambda: server_cache.get(5) is None)
        finally:
            await server.aclose()


class TestLifespanWiring:
    async def test_the_application_installs_the_hook_and_the_subscriber(
        self, var_dir: Path, redis: Any
    ) -> None:
        """Fails unless the lifespan starts the Services' access invalidation (shopdb.services)."""
        settings = Settings(
            database_url=f"sqlite:///{var_dir / f'wiring-{uuid.uuid4().hex[:8]}.sqlite3'}",
            var_dir=var_dir,
            redis_url=REDIS_URL,
            rate_limit_burst=0,
        )
        application = create_app(settings)

        async with application.router.lifespan_context(application):
            invalidation: AccessInvalidation = services_of(application).access_invalidation
            database: Database = services_of(application).database
            await asyncio.wait_for(invalidation.subscribed.wait(), 5)
            hooked = invalidation.after_commit in database.after_commit

        assert hooked
        assert not invalidation.subscribed.is_set()  # stopped with the application


async def test_current_access_reads_again_for_a_newer_token(database: Database) -> None:
    cache = AccessCache(60)
    async with database.sessionmaker() as session:
        user = await make_user(session)
        cache.put(user.id, UserAccess(True, frozenset(), token_generation=0), until=None)
        user.token_generation = 2
        await session.flush()

        stale = await current_access(cache, session, user.id)
        fresh = await current_access(cache, session, user.id, token_generation=2)

    assert stale == UserAccess(True, frozenset(), token_generation=0)
    assert fresh == UserAccess(True, frozenset(), token_generation=2)
