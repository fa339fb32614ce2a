from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shopdb.db import Database
from tests.auth.helpers import bare_app, http_client, shared_app
from tests.fixtures.database import Backend


@pytest.fixture(scope="module")
def lone_app(var_dir: Path) -> FastAPI:
    """One database-less application for a module's checks that happen before any query."""
    return bare_app(var_dir)


@pytest.fixture
async def lone_client(lone_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(lone_app) as client:
        yield client


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)
