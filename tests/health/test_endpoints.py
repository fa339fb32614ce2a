from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI


class TestLiveness:
    async def test_answers_ok_without_touching_dependencies(self, app: FastAPI) -> None:
        app.state.database = None  # liveness must not need the database
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


class TestReadiness:
    async def test_ready_when_database_answers(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/health/ready")
        assert response.status_code == 200
        assert response.json()["checks"]["database"] == "ok"

    async def test_names_the_failing_component(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        class DeadRedis:
            async def ping(self) -> bool:
                raise ConnectionError("connection refused")

        app.state.redis = DeadRedis()
        response = await client.get("/health/ready")
        assert response.status_code == 503
        body = response.json()
        assert body["checks"] == {"database": "ok", "redis": "unavailable: ConnectionError"}
        assert "redis" in body["message"]

    @pytest.mark.parametrize("path", ["/health", "/health/ready", "/docs", "/openapi.json"])
    async def test_public_probe_and_docs_need_no_credentials(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        assert response.status_code == 200
