"""GET /api/v1/orders and /api/v1/orders/{id}: placed orders only, filtered, sorted, paged by
offset or cursor, counted only on request; customers' aggregates from one query."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.kit.types import utcnow
from shopdb.models import Customer
from shopdb.orders.service import customer_order_stats
from shopdb.services import services_of
from tests.fixtures.catalog import Headers, TokenFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import ORDERS, make_locations, make_variant, order_body, place


@pytest.fixture
async def shop(
    client: httpx.AsyncClient, admin: Headers, database: Database, db_session: AsyncSession
) -> dict[str, Any]:
    """Five orders: three paid (one for a customer), two authorized, totals 10 to 50."""
    customer_response = await client.post(
        "/api/v1/customers", json={"email": "regular@example.com"}, headers=admin
    )
    assert customer_response.status_code == 201, customer_response.text
    customer_id = customer_response.json()["id"]
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "10.00", {loc: 100})
    orders = []
    for units, capture, who in [
        (1, True, {"customerId": customer_id}),
        (2, False, {"email": "a@example.com"}),
        (3, True, {"customerId": customer_id}),
        (4, False, {"email": "A@Example.com"}),
        (5, True, {"email": "b@example.com"}),
    ]:
        body = order_body((tee.variant_id, units), **who)
        if "customerId" in who:
            del body["email"]
        body["payment"]["capture"] = capture
        response = await place(client, admin, body)
        assert response.status_code == 201, response.text
        orders.append(response.json())
    return {"orders": orders, "customer_id": customer_id}


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


class TestOneOrder:
    async def test_reads_back_what_placing_answered(
        self, client: httpx.AsyncClient, admin: Headers, shop: dict[str, Any]
    ) -> None:
        placed = shop["orders"][0]

        response = await client.get(f"{ORDERS}/{placed['id']}", headers=admin)

        assert response.status_code == 200, response.text
        assert response.json() == placed
        assert response.json()["email"] == "regular@example.com"

    async def test_a_missing_order_is_404(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        response = await client.get(f"{ORDERS}/999999", headers=admin)
        assert response.status_code == 404

    async def test_needs_orders_read(
        self, client: httpx.AsyncClient, token_for: TokenFactory, shop: dict[str, Any]
    ) -> None:
        response = await client.get(
            f"{ORDERS}/{shop['orders'][0]['id']}", headers=token_for("products:read")
        )
        assert response.status_code == 403


class TestList:
    async def test_newest_first_without_a_total_unless_asked(
        self, client: httpx.AsyncClient, admin: Headers, shop: dict[str, Any]
    ) -> None:
        every = [o["id"] for o in shop["orders"]]

        plain = await client.get(ORDERS, headers=admin)
        counted = await client.get(ORDERS, params={"withTotal": "true"}, headers=admin)

        assert ids(plain) == every[::-1]
        assert plain.json()["totalCount"] is None
        assert counted.json()["totalCount"] == 5
        assert "lineItems" not in plain.json()["items"][0]

    async def test_filters(
        self, client: httpx.AsyncClient, admin: Headers, shop: dict[str, Any]
    ) -> None:
        o = [order["id"] for order in shop["orders"]]

        async def listed(**params: Any) -> list[int]:
            return sorted(ids(await client.get(ORDERS, params=params, headers=admin)))

        assert await listed(financialStatus="authorized") == [o[1], o[3]]
        assert await listed(financialStatus="paid") == [o[0], o[2], o[4]]
        assert await listed(customerId=shop["customer_id"]) == [o[0], o[2]]
        # By the blind index of the normalised address: the case does not matter.
        assert await listed(email="a@EXAMPLE.com") == [o[1], o[3]]
        assert await listed(email="regular@example.com") == [o[0], o[2]]
        assert await listed(status="open") == sorted(o)
        assert await listed(status="cancelled") == []
        assert await listed(fulfillmentStatus="unfulfilled") == sorted(o)
        future = (utcnow() + timedelta(hours=1)).isoformat()
        past = (utcnow() - timedelta(hours=1)).isoformat()
        assert await listed(createdAtMin=future) == []
        assert await listed(createdAtMin=past, createdAtMax=future) == sorted(o)

    async def test_an_unknown_filter_value_is_400(
        self, client: httpx.AsyncClient, admin: Headers, shop: dict[str, Any]
    ) -> None:
        response = await client.get(ORDERS, params={"financialStatus": "rich"}, headers=admin)
        assert response.status_code == 400

    @pytest.mark.parametrize(
        "params",
        [
            {"pageSize": "251"},
            {"page": "0"},
            {"customerId": "0"},
            {"email": "not-an-address"},
            {"sortBy": "title"},
            {"createdAtMin": "yesterday"},
        ],
    )
    async def test_each_bad_parameter_is_400(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        shop: dict[str, Any],
        params: dict[str, str],
    ) -> None:
        response = await client.get(ORDERS, params=params, headers=admin)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION_ERROR"

    async def test_page_parameters_shape_the_envelope(
        self, client: httpx.AsyncClient, admin: Headers, shop: dict[str, Any]
    ) -> None:
        response = await client.get(
            ORDERS, params={"page": 2, "pageSize": 2, "withTotal": "true"}, headers=admin
        )
        body = response.json()
        assert (body["page"], body["pageSize"], body["totalCount"]) == (2, 2, 5)
        assert ids(response) == [o["id"] for o in shop["orders"]][::-1][2:4]
        assert body["nextCursor"] is not None

    @pytest.mark.parametrize(
        ("sort", "direction"),
        [("totalPrice", "asc"), ("totalPrice", "desc"), ("number", "asc"), ("createdAt", "asc")],
    )
    async def test_cursor_pages_walk_the_whole_sort(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        shop: dict[str, Any],
        sort: str,
        direction: str,
    ) -> None:
        by_total = sorted(shop["orders"], key=lambda o: (Decimal(o["totalPrice"]), o["id"]))
        expected = [o["id"] for o in by_total]
        if direction == "desc":
            expected.reverse()
        seen: list[int] = []
        params: dict[str, Any] = {"sortBy": sort, "sortDirection": direction, "pageSize": 2}
        while True:
            response = await client.get(ORDERS, params=params, headers=admin)
            seen.extend(ids(response))
            cursor = response.json()["nextCursor"]
            if cursor is None:
                break
            params["cursor"] = cursor
        # Totals, numbers and creation times all grow with the order here.
        assert seen == expected

    async def test_offset_pages(
        self, client: httpx.AsyncClient, admin: Headers, shop: dict[str, Any]
    ) -> None:
        o = [order["id"] for order in shop["orders"]]
        params: dict[str, Any] = {"sortBy": "number", "sortDirection": "asc", "pageSize": 2}
        params["page"] = 2
        assert ids(await client.get(ORDERS, params=params, headers=admin)) == o[2:4]

    async def test_a_cursor_of_another_sort_is_400(
        self, client: httpx.AsyncClient, admin: Headers, shop: dict[str, Any]
    ) -> None:
        first = await client.get(ORDERS, params={"pageSize": 2}, headers=admin)
        cursor = first.json()["nextCursor"]

        response = await client.get(
            ORDERS, params={"cursor": cursor, "sortBy": "totalPrice"}, headers=admin
        )

        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "cursor"

    async def test_a_page_is_one_query_after_authentication_two_on_postgresql(
        self,
        app: FastAPI,
        backend: Backend,
        client: httpx.AsyncClient,
        admin: Headers,
        shop: dict[str, Any],
    ) -> None:
        await client.get(ORDERS, headers=admin)  # warm the caller's access
        engine = services_of(app).database.primary
        with statements_sent(engine, first_word=True) as sent:
            response = await client.get(ORDERS, params={"pageSize": 3}, headers=admin)
        assert response.status_code == 200
        assert len(response.json()["items"]) == 3
        # PostgreSQL: the page's ids (an index range), then their documents (orders/
        # documents.py), built for those rows only; SQLite: the rows themselves.
        assert sent.count("SELECT") == (2 if backend.name == "postgresql" else 1), sent


class TestCustomerAggregates:
    async def test_orders_count_and_total_spent_per_customer(
        self, db_session: AsyncSession, shop: dict[str, Any]
    ) -> None:
        customer_id = shop["customer_id"]
        nobody = Customer(email="x", email_hash="y" * 64)
        db_session.add(nobody)
        await db_session.flush()

        stats = await customer_order_stats(db_session, [customer_id, nobody.id])

        assert set(stats) == {customer_id}
        assert stats[customer_id].orders_count == 2
        assert stats[customer_id].total_spent == Decimal("40.00")
