from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shopdb.db import Database
from shopdb.services import services_of
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.redis_doubles import NO_RETRY, closed_port, hung_server


class TestLiveness:
    async def test_answers_ok_without_touching_dependencies(
        self, app: FastAPI, backend: Backend, tmp_path: Path
    ) -> None:
        # Liveness must not need the database: an unreachable one changes nothing.
        use_services(app, Database(unreachable_engine(backend, tmp_path)))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


class TestReadiness:
    async def test_ready_when_database_answers(
        self, app: FastAPI, client: httpx.AsyncClient, database: Database
    ) -> None:
        use_services(app, database)  # no Redis configured
        response = await client.get("/health/ready")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok"}}

    async def test_ready_when_database_and_redis_answer(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        url = os.environ.get("SHOPDB_TEST_REDIS_URL")
        if not url:
            pytest.skip("needs SHOPDB_TEST_REDIS_URL")
        redis: Any = Redis.from_url(url)
        services_of(app).redis = redis
        try:
            response = await client.get("/health/ready")
        finally:
            await redis.aclose()
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


class TestReadinessWithoutRedis:
    """Redis is optional (the cache reads PostgreSQL without it): degraded, still ready."""

    async def test_a_refused_redis_is_degraded_and_ready(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        redis: Any = Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", retry=NO_RETRY)
        services_of(app).redis = redis
        try:
            response = await client.get("/health/ready")
        finally:
            await redis.aclose()
        assert response.status_code == 200
        assert response.json() == {
            "status": "degraded",
            "checks": {"database": "ok", "redis": "degraded: ConnectionError"},
        }

    async def test_a_hung_redis_is_degraded_within_a_probe_timeout(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        async with hung_server() as port:
            redis: Any = Redis.from_url(f"redis://127.0.0.1:{port}/0")  # app.py's defaults
            services_of(app).redis = redis
            try:
                started = time.monotonic()
                response = await client.get("/health/ready")
                elapsed = time.monotonic() - started
            finally:
                await redis.aclose()
        assert response.status_code == 200
        assert response.json() == {
            "status": "degraded",
            "checks": {"database": "ok", "redis": "degraded: TimeoutError"},
        }
        assert elapsed < 1.0  # a kubelet's default probe timeout


class TestReadinessWithoutDatabase:
    async def test_a_failing_database_is_unavailable(
        self, app: FastAPI, client: httpx.AsyncClient, backend: Backend, tmp_path: Path
    ) -> None:
        use_services(app, Database(unreachable_engine(backend, tmp_path)))
        try:
            response = await client.get("/health/ready")
        finally:
            await services_of(app).database.dispose()
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["message"] == "Not ready: database"
        assert list(body["checks"]) == ["database"]
        assert body["checks"]["database"].startswith("unavailable: ")

    async def test_database_and_redis_failing_is_unavailable_and_names_both(
        self, app: FastAPI, client: httpx.AsyncClient, backend: Backend, tmp_path: Path
    ) -> None:
        use_services(app, Database(unreachable_engine(backend, tmp_path)))
        redis: Any = Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", retry=NO_RETRY)
        services_of(app).redis = redis
        try:
            response = await client.get("/health/ready")
        finally:
            await redis.aclose()
            await services_of(app).database.dispose()
        assert response.status_code == 503
        body = response.json()
        assert body["message"] == "Not ready: database"
        assert body["checks"]["database"].startswith("unavailable: ")
        assert body["checks"]["redis"] == "degraded: ConnectionError"


def unreachable_engine(backend: Backend, tmp_path: Path) -> AsyncEngine:
    if backend.name == "sqlite":
        # A database file under a regular file: SQLite cannot open it.
        (tmp_path / "not-a-directory").write_text("")
        return create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/not-a-directory/db.sqlite3")
    return create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/x")


class TestPublicRoutes:
    @pytest.mark.parametrize("path", ["/health", "/health/ready", "/docs", "/openapi.json"])
    async def test_public_probe_and_docs_need_no_credentials(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code == 200
