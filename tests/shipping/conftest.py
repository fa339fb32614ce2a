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

ZONES = "/api/v1/shipping-zones"
QUOTE = "/api/v1/shipping-rates/quote"


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)


@pytest.fixture
async def shipper(db_session: AsyncSession) -> User:
    """Staff who may read and change shipping zones and rates."""
    return await make_user(db_session, permissions=["shipping:read", "shipping:write"])


@pytest.fixture
def headers(app: FastAPI, shipper: User) -> dict[str, str]:
    return bearer(app, shipper)


async def create_zone(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, countries: list[Any]
) -> dict[str, Any]:
    response = await client.post(
        ZONES, json={"name": name, "countries": countries}, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_rate(
    client: httpx.AsyncClient, headers: dict[str, str], zone_id: int, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Standard", "price": "5.00", "currency": "USD", **fields}
    response = await client.post(f"{ZONES}/{zone_id}/rates", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
