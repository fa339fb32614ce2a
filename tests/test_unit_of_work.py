"""No route leaves a database session open (issue 10, item 1).

One scrape of /metrics used to break every write on SQLite until a restart: its router was
not a unit-of-work route, so the session its authentication opened (BEGIN IMMEDIATE, the
write lock) was never ended. These tests use a real, committing database (not the rolled-back
test transaction, where every session shares one connection and the leak cannot show), walk
every route of the application, and check after each request that every pooled connection
is back, then write.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text

from shopdb.app import create_app
from shopdb.auth.dependencies import Authenticator, Subject
from shopdb.auth.permissions import PERMISSIONS
from shopdb.db import Database
from shopdb.models import User
from shopdb.schema import upgrade
from shopdb.services import services_of
from tests.fixtures import database as test_databases
from tests.fixtures.database import BACKENDS, drop_postgres_database, fresh_database_url
from tests.fixtures.services import use_services

# Routes outside the OpenAPI document, served by the same application.
UNDOCUMENTED = [
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/static/swagger-ui/swagger-ui.css"),
    ("GET", "/no/such/route"),
]
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(params=BACKENDS)
async def committing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, Database, dict[str, str]]]:
    url = await fresh_database_url(request.param, tmp_path, f"uow_{uuid.uuid4().hex[:6]}")
    settings = test_databases.test_settings(url, tmp_path, bench_routes=True)
    database = Database.from_settings(settings)
    await upgrade(database.primary)
    await test_databases._ensure_permissions(database.primary)
    async with database.session() as session:
        admin = User(email=f"uow-{uuid.uuid4().hex[:8]}@example.com", role="admin")
        session.add(admin)
    app = create_app(settings)
    use_services(app, database)
    token = services_of(app).tokens.issue(admin.id, PERMISSIONS).token
    try:
        yield app, database, {"Authorization": f"Bearer {token}"}
    finally:
        await database.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(url)


def every_operation(app: FastAPI) -> list[tuple[str, str]]:
    documented = [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, item in app.openapi()["paths"].items()
        for method in METHODS
        if method in item
    ]
    assert len(documented) > 50
    return documented + UNDOCUMENTED


def checked_out(database: Database) -> int:
    count: int = database.primary.pool.checkedout()  # type: ignore[attr-defined]
    return count


async def test_every_route_returns_its_connection_and_writes_still_work(
    committing: tuple[FastAPI, Database, dict[str, str]],
) -> None:
    app, database, admin = committing
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for method, path in every_operation(app):
            body: dict[str, object] | None = {} if method in ("POST", "PUT", "PATCH") else None
            response = await client.request(method, path, headers=admin, json=body)
            assert response.status_code < 500 or path == "/health/ready", (
                method,
                path,
                response.text,
            )
            assert checked_out(database) == 0, f"{method} {path} left a connection checked out"
        metrics = await client.get("/metrics", headers=admin)
        assert metrics.status_code == 200
        written = await client.post(
            "/api/v1/locations", json={"name": "After the walk", "country": "US"}, headers=admin
        )
        assert written.status_code == 201, written.text
    async with database.session() as session:
        names = (await session.execute(text("SELECT name FROM locations"))).scalars().all()
    assert "After the walk" in names


async def test_a_route_outside_the_unit_of_work_cannot_leak_its_session(
    committing: tuple[FastAPI, Database, dict[str, str]],
) -> None:
    """A future route added without UnitOfWorkRoute: the session guard still ends it."""
    app, database, admin = committing

    async def reads_users(
        _subject: Annotated[Subject, Depends(Authenticator({"users:admin"}))],
    ) -> dict[str, str]:
        return {"status": "ok"}

    app.router.routes.append(
        APIRoute("/plain-route", reads_users, methods=["GET"], include_in_schema=False)
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get("/plain-route", headers=admin)
        assert response.status_code == 200
        assert checked_out(database) == 0
        written = await client.post(
            "/api/v1/locations", json={"name": "Still writable", "country": "US"}, headers=admin
        )
        assert written.status_code == 201, written.text
