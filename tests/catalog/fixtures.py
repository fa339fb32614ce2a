"""Fixtures shared by the catalog, inventory, collections and metafields tests.

Each of those packages' conftest.py re-exports them (sibling conftests do not see each other).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.permissions import PERMISSIONS
from shopdb.models import User
from shopdb.services import services_of

Headers = dict[str, str]
TokenFactory = Callable[..., Headers]
ProductFactory = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def staff_user(db_session: AsyncSession) -> User:
    """An admin row (no password: nobody logs in as it); tokens narrow what it may do."""
    user = User(email=f"catalog-{uuid.uuid4().hex[:10]}@example.com", role="admin")
    db_session.add(user)
    await db_session.flush()
    return user


@pytest.fixture
def token_for(app: FastAPI, staff_user: User) -> TokenFactory:
    """Bearer headers for a caller holding exactly the given permissions."""

    def issue(*permissions: str) -> Headers:
        token = services_of(app).tokens.issue(staff_user.id, permissions).token
        return {"Authorization": f"Bearer {token}"}

    return issue


@pytest.fixture
def admin(token_for: TokenFactory) -> Headers:
    return token_for(*PERMISSIONS)


def product_body(title: str = "Classic Tee", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title,
        "vendor": "Northwind",
        "productType": "T-Shirt",
        "status": "active",
        "tags": "cotton, summer",
        "options": [
            {"name": "Size", "values": ["S", "M"]},
            {"name": "Color", "values": ["Black", "White"]},
        ],
        "variants": [
            {"price": "19.99", "sku": None, "option1": "S", "option2": "Black"},
            {"price": "19.99", "option1": "S", "option2": "White"},
            {"price": "21.50", "option1": "M", "option2": "Black"},
        ],
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_product(client: httpx.AsyncClient, admin: Headers) -> ProductFactory:
    async def make(title: str = "Classic Tee", **overrides: Any) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/products", json=product_body(title, **overrides), headers=admin
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return make


@pytest.fixture
async def location(client: httpx.AsyncClient, admin: Headers) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/locations", json={"name": "Main warehouse", "country": "US"}, headers=admin
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created
