"""Hardening at the edge: security headers on every answer, request size cap, CORS closed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.auth.helpers import bare_app, http_client

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"


# Everything here is decided before the first query, so it runs once, on an application over
# an empty database (any query would fail: see tests.auth.helpers.bare_app).


@pytest.fixture
async def edge(var_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    application = bare_app(
        var_dir, max_body_bytes=1024, rate_limit_burst=3, rate_limit_per_second=0.01
    )
    async with http_client(application) as client:
        yield client


def assert_hardened(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.status_code, name)
    assert response.headers["x-request-id"]


class TestSecurityHeaders:
    async def test_on_every_kind_of_answer(self, edge: httpx.AsyncClient) -> None:
        answers = {
            "ok": await edge.get("/health"),
            "unauthorized": await edge.get("/api/v1/customers"),
            "not found": await edge.get("/nothing/here"),
            "bad request": await edge.post("/api/v1/auth/token", json={"email": "x"}),
            "too large": await edge.post("/api/v1/auth/token", content=b"x" * 2048),
            "rate limited": await edge.get("/.well-known/jwks.json"),
        }

        assert {name: r.status_code for name, r in answers.items()} == {
            "ok": 200,
            "unauthorized": 401,
            "not found": 404,
            "bad request": 400,
            "too large": 413,
            "rate limited": 429,
        }
        for response in answers.values():
            assert_hardened(response)
            assert response.headers["content-security-policy"] == API_CSP

    async def test_the_docs_may_load_their_own_scripts_only(self, edge: httpx.AsyncClient) -> None:
        response = await edge.get("/docs")

        assert response.status_code == 200
        assert_hardened(response)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "http" not in csp

    async def test_a_request_id_is_echoed_or_made_up(self, edge: httpx.AsyncClient) -> None:
        given = await edge.get("/health", headers={"X-Request-ID": "trace-123"})
        made = await edge.get("/health")

        assert given.headers["x-request-id"] == "trace-123"
        assert len(made.headers["x-request-id"]) == 32


class TestBodySize:
    async def test_a_declared_length_over_the_cap_is_refused_before_reading(
        self, edge: httpx.AsyncClient
    ) -> None:
        response = await edge.post(
            "/api/v1/auth/token",
            content=b"{" + b" " * 1100 + b"}",
            headers={"content-type": "application/json"},
        )

        assert response.status_code == 413
        assert response.json() == {
            "code": "PAYLOAD_TOO_LARGE",
            "message": "Request body exceeds 1024 bytes",
            "details": [],
        }

    async def test_a_body_at_the_cap_is_read(self, edge: httpx.AsyncClient) -> None:
        body = b'{"email": "x", "password": "' + b"p" * (1024 - 30) + b'"}'
        assert len(body) == 1024

        response = await edge.post(
            "/api/v1/auth/token", content=body, headers={"content-type": "application/json"}
        )

        # Parsed and validated (the email is too short), not refused for its size.
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "email"

    async def test_a_streamed_body_over_the_cap_is_refused(self, edge: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 200

        response = await edge.post(
            "/api/v1/auth/token", content=chunks(), headers={"content-type": "application/json"}
        )

        assert response.status_code == 413
        assert response.json()["code"] == "PAYLOAD_TOO_LARGE"


class TestCors:
    async def test_closed_by_default(self, var_dir: Path) -> None:
        async with http_client(bare_app(var_dir)) as client:
            preflight = await client.options(
                "/api/v1/customers",
                headers={
                    "Origin": "https://shop.example",
                    "Access-Control-Request-Method": "GET",
                },
            )
            simple = await client.get("/health", headers={"Origin": "https://shop.example"})

        assert "access-control-allow-origin" not in preflight.headers
        assert preflight.status_code in (401, 405)
        assert "access-control-allow-origin" not in simple.headers

    async def test_configured_origins_only(self, var_dir: Path) -> None:
        async with http_client(bare_app(var_dir, cors_origins=["https://admin.example"])) as client:
            allowed = await client.options(
                "/api/v1/customers",
                headers={
                    "Origin": "https://admin.example",
                    "Access-Control-Request-Method": "PUT",
                    "Access-Control-Request-Headers": "authorization, if-match",
                },
            )
            refused = await client.options(
                "/api/v1/customers",
                headers={
                    "Origin": "https://evil.example",
                    "Access-Control-Request-Method": "GET",
                },
            )
            simple = await client.get("/health", headers={"Origin": "https://admin.example"})

        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://admin.example"
        assert "PUT" in allowed.headers["access-control-allow-methods"]
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        assert simple.headers["access-control-allow-origin"] == "https://admin.example"
        exposed = simple.headers["access-control-expose-headers"].lower()
        assert {"etag", "retry-after", "x-ratelimit-limit", "x-ratelimit-remaining"} <= {
            h.strip() for h in exposed.split(",")
        }

    async def test_the_setting_takes_a_comma_separated_list(self) -> None:
        from shopdb.config import Settings

        settings = Settings(cors_origins="https://a.example, https://b.example")

        assert settings.cors_origins == ["https://a.example", "https://b.example"]
