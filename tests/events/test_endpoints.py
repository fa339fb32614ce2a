"""GET /api/v1/events and /api/v1/events/{id}: filters, pages, permission, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.events.service import record_event
from shopdb.models import Event, User
from tests.auth.helpers import bearer, make_user
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.kit.api_pages import read_all, walk_pages

EVENTS = "/api/v1/events"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def reader(db_session: AsyncSession) -> User:
    return await make_user(db_session, permissions=["events:read"])


@pytest.fixture
def as_reader(app: FastAPI, reader: User) -> dict[str, str]:
    return bearer(app, reader)


@pytest.fixture
async def log(db_session: AsyncSession) -> list[Event]:
    """Six events an hour apart: two orders, a product, a customer."""
    rows = [
        ("orders/create", "Order", 41, T0),
        ("orders/paid", "Order", 41, T0 + timedelta(hours=1)),
        ("orders/create", "Order", 42, T0 + timedelta(hours=2)),
        ("products/update", "Product", 42, T0 + timedelta(hours=3)),
        ("customers/create", "Customer", 7, T0 + timedelta(hours=4)),
        ("orders/cancelled", "Order", 42, T0 + timedelta(hours=5)),
    ]
    events = []
    for topic, subject_type, subject_id, at in rows:
        event = record_event(
            db_session,
            topic=topic,
            subject_type=subject_type,
            subject_id=subject_id,
            body={"id": subject_id},
            actor="user:1",
        )
        event.created_at = at
        events.append(event)
    await db_session.flush()
    return events


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def newest_first(events: list[Event], *positions: int) -> list[int]:
    return sorted((events[p].id for p in positions), reverse=True)


class TestList:
    async def test_lists_newest_first_with_every_field(
        self, client: httpx.AsyncClient, as_reader: dict[str, str], log: list[Event]
    ) -> None:
        body = await read_all(client, EVENTS, as_reader)

        mine = [item for item in body["items"] if item["id"] in {e.id for e in log}]
        assert ids(mine) == newest_first(log, 0, 1, 2, 3, 4, 5)
        assert mine[0] == {
            "id": log[5].id,
            "topic": "orders/cancelled",
            "verb": "cancelled",
            "subject": "Order 42",
            "subjectType": "Order",
            "subjectId": 42,
            "actor": "user:1",
            "body": {"id": 42},
            "createdAt": "2026-11-01T17:00:00Z",
        }

    @pytest.mark.parametrize(
        ("params", "positions"),
        [
            ({"topic": "orders/create"}, (0, 2)),
            ({"verb": "create"}, (0, 2, 4)),
            ({"subject": "Order 42"}, (2, 5)),
            ({"subject": "Order"}, (0, 1, 2, 5)),
            ({"subject": "Product 42"}, (3,)),
            ({"topic": "orders/create", "subject": "Order 42"}, (2,)),
            ({"createdAtMin": "2026-11-01T14:00:00Z"}, (2, 3, 4, 5)),
            ({"createdAtMax": "2026-11-01T13:00:00+00:00"}, (0, 1)),
            (
                {"createdAtMin": "2026-11-01T13:00:00Z", "createdAtMax": "2026-11-01T15:00:00Z"},
                (1, 2, 3),
            ),
            ({"verb": "create", "createdAtMin": "2026-11-01T13:00:00Z"}, (2, 4)),
            ({"topic": "orders/fulfilled"}, ()),
        ],
    )
    async def test_filters(
        self,
        client: httpx.AsyncClient,
        as_reader: dict[str, str],
        log: list[Event],
        params: dict[str, str],
        positions: tuple[int, ...],
    ) -> None:
        # Bounded to the fixture's hour range so other rows of the database never interfere.
        bounded = {"createdAtMin": "2026-11-01T12:00:00Z", "createdAtMax": "2026-11-01T17:00:00Z"}
        body = await read_all(client, EVENTS, as_reader, {**bounded, **params})

        assert ids(body["items"]) == newest_first(log, *positions)
        assert body["totalCount"] == len(positions)

    async def test_walks_every_page_by_cursor(
        self, client: httpx.AsyncClient, as_reader: dict[str, str], log: list[Event]
    ) -> None:
        items = await walk_pages(client, EVENTS, as_reader, {"subject": "Order"}, page_size=2)

        assert ids(items) == newest_first(log, 0, 1, 2, 5)

    async def test_an_offset_page_and_no_total_unless_asked(
        self, client: httpx.AsyncClient, as_reader: dict[str, str], log: list[Event]
    ) -> None:
        response = await client.get(
            EVENTS, params={"subject": "Order", "pageSize": 3, "page": 2}, headers=as_reader
        )

        assert response.status_code == 200
        body = response.json()
        assert ids(body["items"]) == [log[0].id]
        assert body["totalCount"] is None
        assert body["nextCursor"] is None

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"subject": "Order forty-two"}, "subject"),
            ({"subject": "Order 42 43"}, "subject"),
            ({"subject": "Order 99999999999999999999"}, "subject"),
            ({"createdAtMin": "2026-11-01T12:00:00"}, "createdAtMin"),
            (
                {"createdAtMin": "2026-11-02T00:00:00Z", "createdAtMax": "2026-11-01T00:00:00Z"},
                "createdAtMin",
            ),
            ({"topic": ""}, "topic"),
            ({"createdAtMin": "9999-12-31T23:59:59-23:00"}, "createdAtMin"),
            ({"createdAtMax": "0001-01-01T00:00:00+23:00"}, "createdAtMax"),
            ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
            ({"sort": "id"}, "sort"),
        ],
    )
    async def test_a_bad_filter_is_a_400_naming_it(
        self,
        client: httpx.AsyncClient,
        as_reader: dict[str, str],
        params: dict[str, str],
        field: str,
    ) -> None:
        response = await client.get(EVENTS, params=params, headers=as_reader)

        assert response.status_code == 400, response.text
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert field in [detail["field"] for detail in body["details"]]

    async def test_a_page_costs_one_statement_whatever_its_size(
        self,
        client: httpx.AsyncClient,
        backend: Backend,
        as_reader: dict[str, str],
        log: list[Event],
    ) -> None:
        # The caller's standing is cached by the first request; the counted ones read the page.
        await client.get(EVENTS, params={"pageSize": 1}, headers=as_reader)
        with statements_sent(backend.engine, first_word=True) as small:
            await client.get(EVENTS, params={"pageSize": 1}, headers=as_reader)
        with statements_sent(backend.engine, first_word=True) as large:
            await client.get(EVENTS, params={"pageSize": 6}, headers=as_reader)

        assert small == large
        assert small.count("SELECT") <= 2


class TestGet:
    async def test_reads_one_event(
        self, client: httpx.AsyncClient, as_reader: dict[str, str], log: list[Event]
    ) -> None:
        response = await client.get(f"{EVENTS}/{log[3].id}", headers=as_reader)

        assert response.status_code == 200
        body = response.json()
        assert body["topic"] == "products/update"
        assert body["subject"] == "Product 42"
        assert body["createdAt"] == "2026-11-01T15:00:00Z"

    async def test_an_unknown_id_is_a_404(
        self, client: httpx.AsyncClient, as_reader: dict[str, str]
    ) -> None:
        response = await client.get(f"{EVENTS}/987654321", headers=as_reader)

        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


class TestPermission:
    async def test_needs_events_read(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        log: list[Event],
    ) -> None:
        other = await make_user(db_session, permissions=["orders:read", "webhooks:read"])

        listed = await client.get(EVENTS, headers=bearer(app, other))
        one = await client.get(f"{EVENTS}/{log[0].id}", headers=bearer(app, other))
        anonymous = await client.get(EVENTS)

        assert (listed.status_code, one.status_code, anonymous.status_code) == (403, 403, 401)

    async def test_is_read_only(
        self, client: httpx.AsyncClient, as_reader: dict[str, str], log: list[Event]
    ) -> None:
        posted = await client.post(EVENTS, json={"topic": "x"}, headers=as_reader)
        deleted = await client.delete(f"{EVENTS}/{log[0].id}", headers=as_reader)

        assert (posted.status_code, deleted.status_code) == (405, 405)
