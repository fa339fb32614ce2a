"""No password, token, API key, card number, customer email or phone in any log line.

The flows that handle them (logging in, a failed login, creating and using an API key,
creating a customer with an email and a phone, placing an order with a card, a declined
card) run with every logger at DEBUG, structlog's and the standard library's (SQLAlchemy,
the database drivers, Redis) captured; then every line is searched for each secret and each
piece of personal data the flows sent or received, in the forms they could take.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.api_keys import prefix_of
from shopdb.config import Settings
from shopdb.db import Database, create_engine
from shopdb.observability import configure_logging, redact
from shopdb.services import services_of
from shopdb.users.service import create_user
from tests.orders.helpers import make_locations, make_variant

PASSWORD = "Correct-Horse-Battery-9"
WRONG_PASSWORD = "Wrong-Horse-Battery-7"
STAFF_EMAIL = "owner.secret@example.com"
CUSTOMER_EMAIL = "jane.private@example.org"
CUSTOMER_PHONE = "+14155550123"
BUYER_EMAIL = "Buyer.Hidden@Example.net"
CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


@pytest.fixture
def captured(app: FastAPI) -> Iterator[io.StringIO]:
    """Every log line of the test, JSON, at DEBUG; the app's own configuration after."""
    settings = services_of(app).settings
    lines = io.StringIO()
    configure_logging("DEBUG", json=True, stream=lines)
    try:
        yield lines
    finally:
        configure_logging(settings.log_level, json=settings.log_json)


async def run_flows(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, database: Database
) -> dict[str, str]:
    """The flows; the secrets they handled, by what they are."""
    await create_user(session, email=STAFF_EMAIL, password=PASSWORD, role="admin")
    await session.commit()

    refused = await client.post(
        "/api/v1/auth/token", json={"email": STAFF_EMAIL, "password": WRONG_PASSWORD}
    )
    assert refused.status_code == 401
    login = await client.post(
        "/api/v1/auth/token",
        json={"email": STAFF_EMAIL, "password": PASSWORD},
        headers={"X-Request-Id": "login-flow-1"},
    )
    assert login.status_code == 200, login.text
    assert login.headers["x-request-id"] == "login-flow-1"
    token = login.json()["accessToken"]
    staff = {"Authorization": f"Bearer {token}"}

    created_key = await client.post(
        "/api/v1/api-keys",
        json={"name": "scraper", "scopes": ["customers:read", "customers:write"]},
        headers=staff,
    )
    assert created_key.status_code == 201, created_key.text
    api_key = created_key.json()["key"]

    customer = await client.post(
        "/api/v1/customers",
        json={
            "email": CUSTOMER_EMAIL,
            "phone": CUSTOMER_PHONE,
            "firstName": "Jane",
            "addresses": [
                {
                    "address1": "1 Main St",
                    "city": "Springfield",
                    "country": "United States",
                    "province": "Illinois",
                    "zip": "62701",
                    "phone": CUSTOMER_PHONE,
                }
            ],
        },
        headers={"X-API-Key": api_key},
    )
    assert customer.status_code == 201, customer.text
    # A duplicate email: refused, and the refusal is logged as a 409, without the email.
    duplicate = await client.post(
        "/api/v1/customers", json={"email": CUSTOMER_EMAIL}, headers={"X-API-Key": api_key}
    )
    assert duplicate.status_code in (409, 422), duplicate.text
    found = await client.get(
        "/api/v1/customers", params={"email": CUSTOMER_EMAIL}, headers={"X-API-Key": api_key}
    )
    assert found.status_code == 200, found.text

    (location,) = await make_locations(database, "Main")
    tee = await make_variant(database, "19.99", {location: 5})
    for card, status in ((CARD, 201), (DECLINED_CARD, 402)):
        order = await client.post(
            "/api/v1/orders",
            json={
                "email": BUYER_EMAIL,
                "lineItems": [{"variantId": tee.variant_id, "quantity": 1}],
                "payment": {"gateway": "test", "token": card, "capture": True},
            },
            headers=staff,
        )
        assert order.status_code == status, order.text
    return {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "access token": token,
        "access token's signature": token.rsplit(".", 1)[1],
        "api key": api_key,
        # The secret part follows the lookup prefix; it may itself hold "_"
        # (URL-safe base64), so it is cut at the prefix, never at the last "_".
        "api key's secret part": api_key.removeprefix(f"{prefix_of(api_key)}_"),
        "staff email": STAFF_EMAIL,
        "customer email": CUSTOMER_EMAIL,
        "buyer email": BUYER_EMAIL,
        "customer phone": CUSTOMER_PHONE,
        "customer phone digits": CUSTOMER_PHONE.lstrip("+"),
        "card number": CARD,
        "declined card number": DECLINED_CARD,
    }


def parsed(lines: list[str]) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in lines]


class TestLogsWithoutSecrets:
    async def test_no_secret_or_personal_data_in_any_line(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        database: Database,
        captured: io.StringIO,
    ) -> None:
        secrets = await run_flows(app, client, db_session, database)

        lines = captured.getvalue().splitlines()
        # The capture saw the flows: a line per request at least, and DEBUG ones.
        records = parsed(lines)
        assert sum(1 for r in records if r.get("event") == "request") == 8
        assert any(r.get("level") == "debug" for r in records)
        leaks = [
            (what, line)
            for line in lines
            for what, secret in secrets.items()
            if secret.lower() in line.lower()
        ]
        assert leaks == []

    async def test_each_request_line_says_who_what_and_how_it_went(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        database: Database,
        captured: io.StringIO,
    ) -> None:
        await run_flows(app, client, db_session, database)

        requests = [r for r in parsed(captured.getvalue().splitlines()) if r["event"] == "request"]
        login = next(r for r in requests if r["request_id"] == "login-flow-1")
        assert (login["method"], login["route"], login["status"]) == (
            "POST",
            "/api/v1/auth/token",
            200,
        )
        assert isinstance(login["duration_ms"], float)
        created = next(
            r
            for r in requests
            if r["route"] == "/api/v1/customers" and r["method"] == "POST" and r["status"] == 201
        )
        # Made with the API key: its id and its owner's.
        assert isinstance(created["api_key_id"], int)
        assert isinstance(created["user_id"], int)
        assert len(created["request_id"]) == 32  # none was sent: one was made
        placed = next(r for r in requests if r["route"] == "/api/v1/orders" and r["status"] == 201)
        assert "api_key_id" not in placed
        assert placed["user_id"] == created["user_id"]

    async def test_a_request_id_that_is_not_a_plain_token_is_replaced(
        self, client: httpx.AsyncClient, captured: io.StringIO
    ) -> None:
        response = await client.get(
            "/health", headers={"X-Request-Id": 'x" forged="1 jane@example.org'}
        )
        assert response.status_code == 200
        echoed = response.headers["x-request-id"]
        assert len(echoed) == 32
        assert "jane" not in captured.getvalue()
        (line,) = [
            r for r in parsed(captured.getvalue().splitlines()) if r.get("event") == "request"
        ]
        assert line["request_id"] == echoed


class TestStatementParameters:
    async def test_are_neither_logged_nor_in_an_errors_text(self, tmp_path: Path) -> None:
        """SQLAlchemy logs each statement once its logger is at INFO (here DEBUG), and puts
        the parameters in the text of a failed statement's exception, which is logged."""
        settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'p.sqlite3'}")
        lines = io.StringIO()
        configure_logging("DEBUG", json=True, stream=lines)
        engine = create_engine(settings.database_url, settings)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT :card AS card"), {"card": CARD})
                with pytest.raises(OperationalError) as failed:
                    await connection.execute(
                        text("SELECT * FROM missing WHERE email = :email"), {"email": BUYER_EMAIL}
                    )
        finally:
            await engine.dispose()
            configure_logging("INFO")
        assert "SELECT :card AS card" in lines.getvalue() or "SELECT ? AS card" in lines.getvalue()
        assert CARD not in lines.getvalue()
        assert BUYER_EMAIL.lower() not in str(failed.value).lower()


class TestRedact:
    def test_masks_fields_named_for_a_secret_and_values_shaped_like_one(self) -> None:
        event = redact(
            None,
            "info",
            {
                "event": "called +1 (415) 555-0123 about 4242 4242 4242 4242",
                "password": "x",
                "customer_email": "a@b.co",
                "note": "Bearer abc.def sent by jane@example.org with shpk_0a1b_secretpart",
                "exception": "ValueError: eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl",
            },
        )
        assert event == {
            "event": "called [redacted] about [redacted]",
            "password": "[redacted]",
            "customer_email": "[redacted]",
            "note": "[redacted] sent by [redacted] with [redacted]",
            "exception": "ValueError: [redacted]",
        }

    def test_leaves_ids_amounts_dates_and_card_metadata_alone(self) -> None:
        fields = {
            "event": "order #1001 paid 19.99 at 2026-11-27 23:15:34",
            "order_id": 123456789012,
            "card_brand": "visa",
            "card_last4": "4242",
            "route": "/api/v1/orders/{order_id}",
            "kinds": ["files/delete"],
            "counts": {"created": 2, "email": "x"},
        }
        assert redact(None, "info", dict(fields)) == {
            **fields,
            "counts": {"created": 2, "email": "[redacted]"},
        }
