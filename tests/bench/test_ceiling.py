from __future__ import annotations

import httpx
import orjson
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.app import create_app
from shopdb.bench.endpoints import BODY, PRODUCT_DETAIL
from shopdb.db import Database
from shopdb.services import services_of
from tests.auth.helpers import bearer, make_user
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services

CEILING = "/api/v1/bench/ceiling"


def bench_app(backend: Backend, database: Database) -> FastAPI:
    application = create_app(backend.settings.model_copy(update={"bench_routes": True}))
    use_services(application, database)
    return application


async def get(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(CEILING, headers=headers or {})


class TestCeilingRoute:
    async def test_is_absent_by_default(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        assert services_of(app).settings.bench_routes is False
        response = await client.get(CEILING)
        assert response.status_code == 404
        assert CEILING not in {getattr(route, "path", "") for route in app.routes}

    async def test_needs_credentials_when_enabled(
        self, backend: Backend, database: Database
    ) -> None:
        response = await get(bench_app(backend, database))
        assert response.status_code == 401
        assert response.json()["code"] == "UNAUTHORIZED"

    async def test_needs_products_read(
        self, backend: Backend, database: Database, db_session: AsyncSession
    ) -> None:
        app = bench_app(backend, database)
        user = await make_user(db_session, permissions=["orders:read"])
        response = await get(app, bearer(app, user))
        assert response.status_code == 403

    async def test_answers_the_constant_product_detail(
        self, backend: Backend, database: Database, db_session: AsyncSession
    ) -> None:
        app = bench_app(backend, database)
        user = await make_user(db_session, permissions=["products:read"])
        response = await get(app, bearer(app, user))
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.content == BODY
        assert orjson.loads(response.content) == PRODUCT_DETAIL
        assert len(PRODUCT_DETAIL["variants"]) == 3
