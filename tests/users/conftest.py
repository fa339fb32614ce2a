from __future__ import annotations

import pytest
from fastapi import FastAPI

from shopdb.db import Database
from tests.auth.helpers import shared_app
from tests.fixtures.database import Backend


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)
