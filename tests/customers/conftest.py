from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.models import User
from tests.auth.helpers import bearer, make_user, shared_app
from tests.fixtures.database import Backend

CUSTOMERS = "/api/v1/customers"
GROUPS = "/api/v1/customer-groups"


@pytest.fixture
async def clerk(db_session: AsyncSession) -> User:
    """Staff who may read and change customers."""
    return await make_user(db_session, permissions=["customers:read", "customers:write"])


@pytest.fixture
def headers(app: FastAPI, clerk: User) -> dict[str, str]:
    return bearer(app, clerk)


async def create_customer(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"email": f"c-{uuid.uuid4().hex[:10]}@example.com", **fields}
    response = await client.post(CUSTOMERS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)
