from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from shopdb.app import create_app
from shopdb.db import Database
from shopdb.services import services_of
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, live_client


@dataclass(frozen=True)
class Live:
    """An app whose placements really commit step by step, with its client and an admin."""

    app: FastAPI
    client: httpx.AsyncClient
    headers: Headers
    database: Database


@pytest.fixture
def live_database(backend: Backend, request: pytest.FixtureRequest) -> Database | None:
    """PostgreSQL's committing database (module-scoped, set up outside the test's loop)."""
    if backend.name != "postgresql":
        return None
    database: Database = request.getfixturevalue("live_postgres")
    return database


@pytest.fixture
async def live(
    backend: Backend, live_database: Database | None, app: FastAPI, admin: Headers
) -> AsyncIterator[Live]:
    """PostgreSQL: an app on a database whose transactions really commit, so that what a
    failed request's own rollback would hide (the rolled-back test database nests every
    session in it) shows: each placement step commits by itself there, as in production.
    SQLite: the usual app, since there every step is a savepoint of the request anyway."""
    if live_database is None:
        async with live_client(app) as client:
            yield Live(app, client, admin, services_of(app).database)
        return
    database = live_database
    application = create_app(backend.settings)
    use_services(application, database)
    headers, _ = await committed_admin(application)
    async with live_client(application) as client:
        yield Live(application, client, headers, database)
