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

CODES = "/api/v1/discount-codes"


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)


@pytest.fixture
async def marketer(db_session: AsyncSession) -> User:
    """Staff who may read and change discounts."""
    return await make_user(db_session, permissions=["discounts:read", "discounts:write"])


@pytest.fixture
def headers(app: FastAPI, marketer: User) -> dict[str, str]:
    return bearer(app, marketer)


async def create_code(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"code": "SAVE10", "type": "percentage", "value": "10", **fields}
    response = await client.post(CODES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
