"""Fixtures of the cache tests: an app on a database whose requests really commit (many
concurrent requests need their own connections, which the rolled-back test database, one
connection for all, cannot give), with the suite's Redis.

The caches run on PostgreSQL with Redis only: without SHOPDB_TEST_REDIS_URL these tests skip
locally and fail under CI, as tests/catalog/test_cache.py's.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from shopdb.app import create_app
from shopdb.catalog.read_model.cache import DocumentCache
from shopdb.db import Database
from shopdb.services import Services
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, live_client

REDIS_ENV = "SHOPDB_TEST_REDIS_URL"


def redis_url_or_skip() -> str:
    url = os.environ.get(REDIS_ENV, "")
    if not url:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REDIS_ENV} must be set under CI")
        pytest.skip(f"the caches need {REDIS_ENV}")
    return url


def cache_or_skip(found: DocumentCache | None) -> DocumentCache:
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{REDIS_ENV} must be set under CI")
        pytest.skip(f"the caches need {REDIS_ENV}")
    return found


@dataclass(frozen=True)
class Live:
    services: Services
    client: httpx.AsyncClient
    headers: Headers
    database: Database


@pytest.fixture
def live_database(backend: Backend, request: pytest.FixtureRequest) -> Database:
    """PostgreSQL's committing database (module-scoped, set up outside the test's loop)."""
    if backend.name != "postgresql":
        pytest.skip("the caches run on PostgreSQL only")
    database: Database = request.getfixturevalue("live_postgres")
    return database


@pytest.fixture
async def live(backend: Backend, live_database: Database) -> AsyncIterator[Live]:
    """PostgreSQL + Redis: an app whose requests commit, each on its own pooled connection."""
    url = redis_url_or_skip()
    database = live_database
    application = create_app(backend.settings)
    redis: Any = Redis.from_url(url)
    services = use_services(application, database, redis=redis)
    headers, _ = await committed_admin(application)
    try:
        async with live_client(application) as client:
            # The caller's standing, read once: the storms below count the cache's reads only.
            warm = await client.get("/api/v1/locations", headers=headers)
            assert warm.status_code == 200, warm.text
            yield Live(services, client, headers, database)
    finally:
        await services.aclose(settle_seconds=0)
        await redis.aclose()
