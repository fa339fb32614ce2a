"""Shared fixtures. Database fixtures live in tests/fixtures/database.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from shopdb.app import create_app

if TYPE_CHECKING:
    from shopdb.db import Database
    from tests.fixtures.database import Backend

pytest_plugins = ["tests.fixtures.database"]


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    """The application wired to the test's rolled-back database (no lifespan needed)."""
    application = create_app(backend.settings)
    application.state.database = database
    application.state.redis = None
    return application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
