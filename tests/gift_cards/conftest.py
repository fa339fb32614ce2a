from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.gift_cards import codes
from shopdb.models import Customer, User
from tests.auth.helpers import bearer, make_user, shared_app
from tests.fixtures.database import Backend

CARDS = "/api/v1/gift-cards"


@pytest.fixture(autouse=True)
def code_key() -> Iterator[bytes]:
    """A key of the test's own for the codes' hash, as the wiring installs the application's
    (without one the process's settings' blind-index key is used, read from var/)."""
    key = secrets.token_bytes(32)
    codes.use_key(key)
    yield key
    codes.use_key(None)


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)


@pytest.fixture
async def cashier(db_session: AsyncSession) -> User:
    return await make_user(db_session, permissions=["discounts:read", "discounts:write"])


@pytest.fixture
def headers(app: FastAPI, cashier: User) -> dict[str, str]:
    return bearer(app, cashier)


async def create_card(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"initialValue": "100.00", "currency": "USD", **fields}
    response = await client.post(CARDS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def a_customer(session: AsyncSession) -> Customer:
    run = uuid.uuid4().hex[:8]
    customer = Customer(
        email=f"sealed-{run}",  # never decrypted here: any unique text will do
        email_hash=f"hash-{run}",
        tag_rows=[],
        addresses=[],
        group_memberships=[],
    )
    session.add(customer)
    await session.flush()
    return customer
