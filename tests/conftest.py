"""Shared fixtures. Database fixtures live in tests/fixtures/database.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from shopdb.app import create_app
from tests.fixtures.services import use_services

if TYPE_CHECKING:
    from shopdb.db import Database
    from tests.fixtures.database import Backend

pytest_plugins = ["tests.fixtures.database", "tests.fixtures.catalog", "tests.fixtures.standby"]


@pytest.fixture
async def app(backend: Backend, database: Database) -> AsyncIterator[FastAPI]:
    """The application wired to the test's rolled-back database (no lifespan needed).

    With SHOPDB_TEST_REDIS_URL (always under CI) the PostgreSQL runs cache product documents
    in Redis as production does, so every API test that writes and reads back also checks
    that no write leaves a stale document behind.
    """
    application = create_app(backend.settings)
    redis: Any = None  # types-redis lags behind redis 8 (no aclose)
    if backend.settings.redis_url:
        redis = Redis.from_url(backend.settings.redis_url)
    use_services(application, database, redis=redis)
    try:
        yield application
    finally:
        if redis is not None:
            await redis.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
