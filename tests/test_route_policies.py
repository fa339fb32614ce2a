"""Every route declares who may call it.

The routes are read from the OpenAPI document, so a route added later without an
`Authenticator` dependency fails here without anyone listing it: without credentials every
operation but the public few answers 401, and a caller holding no permission gets 403 from
each of them (so none is satisfied by mere authentication).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from tests.auth.helpers import (
    bare_app,
    bearer,
    http_client,
    make_api_key,
    make_user,
    shared_app,
)
from tests.fixtures.database import Backend

PUBLIC = {
    ("GET", "/health"),
    ("GET", "/health/ready"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/.well-known/jwks.json"),
    ("POST", "/api/v1/auth/token"),
}
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def full_app(backend: Backend, database: Database) -> FastAPI:
    """Every router the application can mount, the development-only ones included."""
    settings = backend.settings.model_copy(update={"bench_routes": True})
    return shared_app(f"{backend.name}+bench", settings, database)


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)


@pytest.fixture
async def http(full_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(full_app) as client:
        yield client


@pytest.fixture(scope="module")
def anonymous_app(var_dir: Path) -> FastAPI:
    """Refusing the anonymous happens before any query: one run, no database needed."""
    return bare_app(var_dir, bench_routes=True)


@pytest.fixture
async def anonymous(anonymous_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(anonymous_app) as client:
        yield client


def operations(app: FastAPI) -> list[tuple[str, str]]:
    found = [
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in METHODS
        if method in item
    ]
    assert found, "the OpenAPI document lists no operations"
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def call(
    client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body: dict[str, object] | None = {} if method in ("POST", "PUT", "PATCH") else None
    return await client.request(method, concrete(path), json=body, headers=headers)


class TestAuthentication:
    async def test_every_route_but_the_public_ones_answers_401_without_credentials(
        self, anonymous_app: FastAPI, anonymous: httpx.AsyncClient
    ) -> None:
        answers = {
            (method, path): (await call(anonymous, method, path)).status_code
            for method, path in operations(anonymous_app)
            if (method, path) not in PUBLIC
        }

        assert len(answers) > 20
        assert {op: code for op, code in answers.items() if code != 401} == {}

    async def test_the_public_routes_need_no_credentials(
        self, anonymous: httpx.AsyncClient
    ) -> None:
        answers = {
            (method, path): (await call(anonymous, method, path)).status_code
            for method, path in PUBLIC
        }

        # The token endpoint refuses an empty body (400), but it does not ask who is calling.
        assert answers == {op: 400 if op[1] == "/api/v1/auth/token" else 200 for op in PUBLIC}

    async def test_the_public_routes_are_documented(self, anonymous_app: FastAPI) -> None:
        documented = set(operations(anonymous_app))

        assert PUBLIC - {("GET", "/docs"), ("GET", "/openapi.json")} <= documented


class TestEveryRouteDeclaresAPermission:
    async def test_a_caller_holding_no_permission_is_refused_everywhere(
        self, full_app: FastAPI, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        nobody = await make_user(db_session)
        _key, secret = await make_api_key(db_session, nobody, [])
        credentials = {"token": bearer(full_app, nobody), "key": {"X-API-Key": secret}}

        answers = {
            (method, path, kind): (await call(http, method, path, headers)).status_code
            for method, path in operations(full_app)
            if (method, path) not in PUBLIC
            for kind, headers in credentials.items()
        }

        assert {op: code for op, code in answers.items() if code != 403} == {}

    async def test_forged_credentials_are_no_better_than_none(
        self, full_app: FastAPI, http: httpx.AsyncClient
    ) -> None:
        # An API key is looked up in the database before it is refused: this one needs tables.
        forged = [
            {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."},
            {"X-API-Key": "shpk_000000000000_forged"},
        ]

        answers = {
            (method, path, tuple(headers)): (await call(http, method, path, headers)).status_code
            for method, path in operations(full_app)
            if (method, path) not in PUBLIC
            for headers in forged
        }

        assert {op: code for op, code in answers.items() if code != 401} == {}


MATRIX: list[tuple[str, str, str]] = [
    # (method, path, the permission it needs)
    ("GET", "/api/v1/customers", "customers:read"),
    ("GET", "/api/v1/customers/{id}", "customers:read"),
    ("GET", "/api/v1/customer-groups", "customers:read"),
    ("POST", "/api/v1/customer-groups", "customers:write"),
    ("DELETE", "/api/v1/customers/{id}", "customers:write"),
    ("GET", "/api/v1/users", "users:admin"),
    ("GET", "/api/v1/permissions", "users:admin"),
    ("GET", "/api/v1/api-keys", "users:admin"),
    ("GET", "/api/v1/shipping-zones", "shipping:read"),
    ("DELETE", "/api/v1/shipping-zones/{id}", "shipping:write"),
    ("GET", "/api/v1/tax-rates", "settings:read"),
    ("DELETE", "/api/v1/tax-rates/{id}", "settings:write"),
    ("GET", "/api/v1/markets", "markets:read"),
    ("DELETE", "/api/v1/markets/{id}", "markets:write"),
    ("GET", "/api/v1/currency-settings", "markets:read"),
    ("DELETE", "/api/v1/currency-settings/{id}", "markets:write"),
    ("GET", "/api/v1/discount-codes", "discounts:read"),
    ("DELETE", "/api/v1/discount-codes/{id}", "discounts:write"),
    ("GET", "/api/v1/gift-cards", "discounts:read"),
]
SCOPES = [
    "customers:read",
    "customers:write",
    "users:admin",
    "orders:read",
    "shipping:read",
    "shipping:write",
    "settings:read",
    "settings:write",
    "markets:read",
    "markets:write",
    "discounts:read",
    "discounts:write",
]


class TestPermissionMatrix:
    @pytest.mark.parametrize("credential", ["token", "api_key"])
    async def test_each_scope_opens_exactly_its_routes(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        credential: str,
    ) -> None:
        owner = await make_user(db_session, role="admin")
        customer = await client.post(
            "/api/v1/customers", json={"email": "matrix@example.com"}, headers=bearer(app, owner)
        )
        customer_id = customer.json()["id"]

        answers: dict[tuple[str, str, str], int] = {}
        expected: dict[tuple[str, str, str], int] = {}
        for scope in SCOPES:
            if credential == "token":
                headers = bearer(app, owner, [scope])
            else:
                _key, secret = await make_api_key(db_session, owner, [scope])
                headers = {"X-API-Key": secret}
            for method, template, needed in MATRIX:
                path = template.replace("{id}", str(customer_id))
                body = {"name": f"group {scope}"} if method == "POST" else None
                if method == "DELETE" and scope == needed:
                    path = path.replace(str(customer_id), "999999")  # keep the customer
                response = await client.request(method, path, json=body, headers=headers)
                answers[(scope, method, template)] = response.status_code
                allowed = {"GET": 200, "POST": 201, "DELETE": 404}[method]
                expected[(scope, method, template)] = allowed if scope == needed else 403

        assert answers == expected
