"""Every failure leaves the API in the seed's envelope: {"code", "message", "details"}.

A throwaway router raises each typed error (and the exceptions nobody should leak); the real
POST /api/v1/auth/token shows request validation. Server errors must never carry a stack trace,
an exception class or SQL in their body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import Field
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from shopdb.app import create_app
from shopdb.dependencies import SessionDep
from shopdb.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    RateLimited,
    Unauthorized,
    ValidationFailed,
)
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import InputModel
from shopdb.services import services_of
from tests.fixtures.database import test_settings as make_settings

SECRET_SQL = "SELECT password_hash FROM users WHERE email = 'root@example.com'"
LEAKS = ("Traceback", 'File "', "password_hash", "SELECT", "INSERT", "UPDATE", "uq_", "Error:")

RAISED: dict[str, Exception] = {
    "validation": ValidationFailed.on("title", "must not be blank"),
    "not_found": NotFound.resource("Product", 42),
    "unauthorized": Unauthorized(),
    "forbidden": Forbidden("Missing permission products:write"),
    "conflict": Conflict("A product with handle classic-tee already exists"),
    "precondition": PreconditionFailed("If-Match does not match the current version"),
    "payload": PayloadTooLarge("The upload exceeds 10 MB"),
    "rate_limited": RateLimited("Too many requests", headers={"Retry-After": "3"}),
    "integrity": IntegrityError(
        "INSERT INTO products (handle) VALUES (?)",
        ("classic-tee",),
        Exception('duplicate key value violates unique constraint "uq_products_handle"'),
    ),
    "stale": StaleDataError(
        "UPDATE statement on table 'products' expected to update 1 row(s); 0 were matched."
    ),
    "bug": RuntimeError(f"unexpected state while running {SECRET_SQL}"),
}


class VariantIn(InputModel):
    title: str
    price: Decimal = Field(ge=0)
    compare_at_price: Decimal | None = None


class ProductIn(InputModel):
    title: str = Field(min_length=1)
    variants: list[VariantIn] = Field(default_factory=list)


def _test_router() -> Any:
    router = domain_router("/test-errors", tags=["test"])

    @router.get("/raise/{kind}")
    async def raise_it(kind: str) -> None:
        raise RAISED[kind]

    @router.get("/items/{item_id}")
    async def get_item(
        item_id: int, page_size: Annotated[int, Query(alias="pageSize", ge=1, le=250)] = 50
    ) -> dict[str, int]:
        return {"itemId": item_id, "pageSize": page_size}

    @router.post("/products")
    async def create_product(body: ProductIn) -> dict[str, str]:
        return {"title": body.title}

    @router.post("/sql/{statement}")
    async def run_sql(statement: str, session: SessionDep) -> None:
        statements = {
            "missing_table": "SELECT secret_column FROM no_such_table",
            "duplicate_handle": (
                "INSERT INTO products (title, handle) VALUES ('A', 'dup'), ('B', 'dup')"
            ),
        }
        await session.execute(text(statements[statement]))

    return router


@pytest.fixture(scope="module")
async def bare_app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """The app on a database it never needs: everything here fails before a query is sent."""
    var_dir = tmp_path_factory.mktemp("errors")
    settings = make_settings(f"sqlite:///{var_dir / 'unused.sqlite3'}", var_dir)
    application = create_app(settings)
    application.include_router(_test_router(), prefix="/api/v1")
    # Its Database (from these settings) connects lazily, so request dependencies resolve
    # without touching the file.
    yield application
    await services_of(application).aclose()


@pytest.fixture
async def http(bare_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    # Starlette re-raises unhandled errors after sending the 500; the client only sees the reply.
    transport = httpx.ASGITransport(app=bare_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], list)
    return body


def assert_leaks_nothing(response: httpx.Response) -> None:
    for leak in LEAKS:
        assert leak not in response.text, leak


class TestTypedErrors:
    @pytest.mark.parametrize(
        ("kind", "status", "code", "message"),
        [
            ("not_found", 404, "NOT_FOUND", "Product 42 not found"),
            ("unauthorized", 401, "UNAUTHORIZED", "Authentication required"),
            ("forbidden", 403, "FORBIDDEN", "Missing permission products:write"),
            ("conflict", 409, "CONFLICT", "A product with handle classic-tee already exists"),
            (
                "precondition",
                412,
                "PRECONDITION_FAILED",
                "If-Match does not match the current version",
            ),
            ("payload", 413, "PAYLOAD_TOO_LARGE", "The upload exceeds 10 MB"),
            ("rate_limited", 429, "RATE_LIMITED", "Too many requests"),
        ],
    )
    async def test_renders_status_code_and_message(
        self, http: httpx.AsyncClient, kind: str, status: int, code: str, message: str
    ) -> None:
        response = await http.get(f"/api/v1/test-errors/raise/{kind}")

        body = assert_envelope(response, status, code)
        assert body == {"code": code, "message": message, "details": []}

    async def test_validation_failure_names_the_field(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/test-errors/raise/validation")

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert body["details"] == [{"field": "title", "message": "must not be blank"}]

    async def test_unauthorized_tells_the_client_how_to_authenticate(
        self, http: httpx.AsyncClient
    ) -> None:
        response = await http.get("/api/v1/test-errors/raise/unauthorized")

        assert response.headers["www-authenticate"] == "Bearer"

    async def test_rate_limited_says_when_to_retry(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/test-errors/raise/rate_limited")

        assert response.headers["retry-after"] == "3"


class TestErrorsThatMustNotLeak:
    async def test_an_unchecked_constraint_is_a_conflict_without_sql(
        self, http: httpx.AsyncClient
    ) -> None:
        response = await http.get("/api/v1/test-errors/raise/integrity")

        assert_envelope(response, 409, "CONFLICT")
        assert_leaks_nothing(response)
        assert "duplicate key" not in response.text

    async def test_a_lost_race_is_a_conflict_without_sql(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/test-errors/raise/stale")

        body = assert_envelope(response, 409, "CONFLICT")
        assert_leaks_nothing(response)
        assert "retry" in body["message"]

    async def test_a_bug_is_a_500_without_trace_or_sql(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/test-errors/raise/bug")

        body = assert_envelope(response, 500, "INTERNAL_ERROR")
        assert_leaks_nothing(response)
        assert "RuntimeError" not in response.text
        assert "unexpected state" not in response.text
        assert body["details"] == []

    async def test_a_database_error_is_a_500_without_sql(self, client: httpx.AsyncClient) -> None:
        """A real failing statement, on both databases, through the request's session."""
        response = await client.post("/api/v1/test-errors/sql/missing_table")

        assert_envelope(response, 500, "INTERNAL_ERROR")
        assert_leaks_nothing(response)
        assert "no_such_table" not in response.text
        assert "secret_column" not in response.text

    async def test_a_real_unique_violation_is_a_conflict_without_sql(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/api/v1/test-errors/sql/duplicate_handle")

        body = assert_envelope(response, 409, "CONFLICT")
        assert_leaks_nothing(response)
        assert "dup" not in response.text
        # The conflicting field is named (from the key's columns, never its values).
        assert body["details"] == [{"field": "handle", "message": "conflicts with existing data"}]


@pytest.fixture
def app_with_test_routes(app: FastAPI) -> FastAPI:
    app.include_router(_test_router(), prefix="/api/v1")
    return app


@pytest.fixture
async def client(app_with_test_routes: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The suite's database-backed client, on an app that also has the throwaway routes."""
    transport = httpx.ASGITransport(app=app_with_test_routes, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


class TestRequestValidation:
    async def test_malformed_json_names_the_body(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/api/v1/auth/token",
            content=b'{"email": "a@example.com", "password": ',
            headers={"content-type": "application/json"},
        )

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert [d["field"] for d in body["details"]] == ["body"]
        assert body["details"][0]["message"].startswith("Malformed JSON")

    async def test_a_body_that_is_not_json_names_the_body(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/api/v1/auth/token",
            content=b"email=a@example.com&password=secret",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert [d["field"] for d in body["details"]] == ["body"]

    async def test_a_missing_field_is_named(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/api/v1/auth/token", json={"password": "secret"})

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert body["details"] == [{"field": "email", "message": "Field required"}]

    async def test_wrong_types_name_each_field(self, http: httpx.AsyncClient) -> None:
        response = await http.post("/api/v1/auth/token", json={"email": 123, "password": ["x"]})

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert sorted(d["field"] for d in body["details"]) == ["email", "password"]

    async def test_an_unknown_field_is_named(self, http: httpx.AsyncClient) -> None:
        response = await http.post(
            "/api/v1/auth/token",
            json={"email": "a@example.com", "password": "secret", "isAdmin": True},
        )

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert [d["field"] for d in body["details"]] == ["isAdmin"]

    async def test_nested_fields_are_named_by_their_camel_case_path(
        self, http: httpx.AsyncClient
    ) -> None:
        response = await http.post(
            "/api/v1/test-errors/products",
            json={
                "title": "Tee",
                "variants": [
                    {"title": "S", "price": "9.99"},
                    {"title": "M", "price": "-1", "compareAtPrice": "ten"},
                ],
            },
        )

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert sorted(d["field"] for d in body["details"]) == [
            "variants[1].compareAtPrice",
            "variants[1].price",
        ]

    @pytest.mark.parametrize("value", ["abc", "0", "251", "1.5"])
    async def test_a_bad_query_parameter_is_named(
        self, http: httpx.AsyncClient, value: str
    ) -> None:
        response = await http.get(f"/api/v1/test-errors/items/1?pageSize={value}")

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert [d["field"] for d in body["details"]] == ["pageSize"]

    async def test_a_bad_path_parameter_is_named(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/test-errors/items/abc")

        body = assert_envelope(response, 400, "VALIDATION_ERROR")
        assert [d["field"] for d in body["details"]] == ["item_id"]

    async def test_valid_parameters_pass(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/test-errors/items/7?pageSize=250")

        assert response.status_code == 200
        assert response.json() == {"itemId": 7, "pageSize": 250}


class TestRoutingErrors:
    async def test_unknown_route_is_a_404_in_the_envelope(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/no-such-resource")

        assert_envelope(response, 404, "NOT_FOUND")

    async def test_wrong_method_is_a_405_in_the_envelope(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/api/v1/auth/token")

        assert_envelope(response, 405, "METHOD_NOT_ALLOWED")

    async def test_an_oversized_body_is_a_413_in_the_envelope(self, tmp_path: Path) -> None:
        settings = make_settings(f"sqlite:///{tmp_path / 'unused.sqlite3'}", tmp_path)
        small = create_app(settings.model_copy(update={"max_body_bytes": 64}))
        transport = httpx.ASGITransport(app=small, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/api/v1/auth/token", json={"email": "a@example.com", "password": "x" * 100}
            )

        assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
