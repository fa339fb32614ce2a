from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.models import User
from tests.auth.helpers import bearer, make_user, shared_app
from tests.fixtures.database import Backend

TAX_RATES = "/api/v1/tax-rates"


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)


@pytest.fixture
async def admin(db_session: AsyncSession) -> User:
    """Staff who may read and change shop settings, tax rates among them."""
    return await make_user(db_session, permissions=["settings:read", "settings:write"])


@pytest.fixture
def headers(app: FastAPI, admin: User) -> dict[str, str]:
    return bearer(app, admin)


async def create_tax_rate(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post(TAX_RATES, json=fields, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
