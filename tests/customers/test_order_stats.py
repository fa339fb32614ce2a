"""Customers carry `ordersCount` and `totalSpent` (Shopify's orders_count and total_spent):
placed orders counted, cancelled ones included but not spent, read from one query per
response or list page whatever its size."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.access import AccessCache
from shopdb.db import Database
from shopdb.kit.types import utcnow
from shopdb.models import Order
from shopdb.services import services_of
from tests.customers.conftest import CUSTOMERS, create_customer
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import make_locations, make_variant, order_body, place

TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")


async def _variant(database: Database, price: str = "10.00") -> int:
    (location,) = await make_locations(database, "Main")
    return (await make_variant(database, price, {location: 1_000})).variant_id


async def _order_for(
    client: httpx.AsyncClient, admin: Headers, variant_id: int, customer_id: int, units: int
) -> dict[str, Any]:
    body = order_body((variant_id, units), customerId=customer_id)
    del body["email"]  # the customer's own address is used
    response = await place(client, admin, body)
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


async def _customer(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: int
) -> dict[str, Any]:
    response = await client.get(f"{CUSTOMERS}/{customer_id}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def _listed(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[int, Any]:
    response = await client.get(CUSTOMERS, params={"pageSize": 250}, headers=headers)
    assert response.status_code == 200, response.text
    return {
        item["id"]: (item["ordersCount"], item["totalSpent"]) for item in response.json()["items"]
    }


def _stats(customer: dict[str, Any]) -> tuple[int, str]:
    return customer["ordersCount"], customer["totalSpent"]


def _row(customer_id: int, **fields: Any) -> Order:
    return Order(
        customer_id=customer_id,
        email="sealed-order-email",  # never decrypted here
        number=f"#{uuid.uuid4().hex[:10]}",
        total_price=Decimal("500.00"),
        subtotal_price=Decimal("500.00"),
        **fields,
    )


class TestCountsAndSums:
    async def test_detail_and_list_show_the_placed_orders(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        admin: Headers,
        database: Database,
    ) -> None:
        buyer = await create_customer(client, headers)
        other = await create_customer(client, headers)
        variant_id = await _variant(database)
        placed = [
            await _order_for(client, admin, variant_id, buyer["id"], units) for units in (1, 3)
        ]
        # An order by email only belongs to no customer record.
        anonymous = await place(client, admin, order_body((variant_id, 2)))
        assert anonymous.status_code == 201, anonymous.text

        assert sum(Decimal(o["totalPrice"]) for o in placed) == Decimal("40.00")
        assert _stats(await _customer(client, headers, buyer["id"])) == (2, "40.00")
        assert _stats(await _customer(client, headers, other["id"])) == (0, "0.00")
        listed = await _listed(client, headers)
        assert listed[buyer["id"]] == (2, "40.00")
        assert listed[other["id"]] == (0, "0.00")

    async def test_a_new_customer_has_no_orders(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)

        assert _stats(created) == (0, "0.00")
        assert (await _listed(client, headers))[created["id"]] == (0, "0.00")

    async def test_a_cancelled_order_counts_but_is_not_spent(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        admin: Headers,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        buyer = await create_customer(client, headers)
        variant_id = await _variant(database, "12.50")
        kept = await _order_for(client, admin, variant_id, buyer["id"], 2)
        cancelled = await _order_for(client, admin, variant_id, buyer["id"], 1)
        # No cancel endpoint yet: the order is cancelled as its action would mark it.
        order = await db_session.scalar(select(Order).where(Order.id == cancelled["id"]))
        assert order is not None
        order.cancelled_at = utcnow()
        await db_session.flush()

        assert kept["totalPrice"] == "25.00"
        assert _stats(await _customer(client, headers, buyer["id"])) == (2, "25.00")
        assert (await _listed(client, headers))[buyer["id"]] == (2, "25.00")

    async def test_reservations_and_deleted_orders_are_left_out(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        buyer = await create_customer(client, headers)
        # A placement awaiting its payment is not an order yet; a deleted order is gone.
        db_session.add_all(
            [
                _row(buyer["id"], reserved_until=utcnow() + timedelta(minutes=15)),
                _row(buyer["id"], deleted_at=utcnow()),
                _row(buyer["id"]),
            ]
        )
        await db_session.flush()

        assert _stats(await _customer(client, headers, buyer["id"])) == (1, "500.00")
        assert (await _listed(client, headers))[buyer["id"]] == (1, "500.00")


class TestEveryCustomerResponse:
    async def test_update_and_account_actions_answer_with_the_stats(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        admin: Headers,
        database: Database,
    ) -> None:
        buyer = await create_customer(client, headers)
        variant_id = await _variant(database, "7.25")
        await _order_for(client, admin, variant_id, buyer["id"], 2)
        path = f"{CUSTOMERS}/{buyer['id']}"

        updated = await client.put(path, json={"note": "regular"}, headers=headers)
        disabled = await client.post(f"{path}/disable", headers=headers)
        invited = await client.post(f"{path}/invite", headers=headers)

        for response in (updated, disabled, invited):
            assert response.status_code == 200, response.text
            assert _stats(response.json()) == (1, "14.50")


class TestReadOnlyOnInput:
    async def test_sent_back_on_update_they_are_ignored(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        admin: Headers,
        database: Database,
    ) -> None:
        buyer = await create_customer(client, headers)
        variant_id = await _variant(database)
        await _order_for(client, admin, variant_id, buyer["id"], 1)
        path = f"{CUSTOMERS}/{buyer['id']}"

        response = await client.put(
            path,
            json={"note": "vip", "ordersCount": 99, "totalSpent": "9999.00"},
            headers=headers,
        )

        assert response.status_code == 200, response.text
        assert (response.json()["note"], *_stats(response.json())) == ("vip", 1, "10.00")
        assert _stats(await _customer(client, headers, buyer["id"])) == (1, "10.00")

    async def test_what_was_read_can_be_sent_back_whole(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        buyer = await create_customer(client, headers, firstName="Ada")
        read = await _customer(client, headers, buyer["id"])

        response = await client.put(
            f"{CUSTOMERS}/{buyer['id']}", json={**read, "firstName": "Ida"}, headers=headers
        )

        assert response.status_code == 200, response.text
        assert (response.json()["firstName"], *_stats(response.json())) == ("Ida", 0, "0.00")

    @pytest.mark.parametrize("spelling", ["camel", "snake"])
    async def test_sent_on_create_they_are_ignored(
        self, client: httpx.AsyncClient, headers: dict[str, str], spelling: str
    ) -> None:
        fields = (
            {"ordersCount": 3, "totalSpent": "30.00"}
            if spelling == "camel"
            else {"orders_count": 3, "total_spent": "30.00"}
        )

        created = await create_customer(client, headers, **fields)

        assert _stats(created) == (0, "0.00")


class TestListQueryCount:
    async def test_a_page_costs_the_same_statements_whatever_its_size(
        self,
        app: FastAPI,
        backend: Backend,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        admin: Headers,
        database: Database,
    ) -> None:
        # The caller's standing is read once and kept for the whole test, however slow it runs.
        services_of(app).access_cache = AccessCache(3600)
        variant_id = await _variant(database)
        buyers = [await create_customer(client, headers) for _ in range(8)]
        for units, buyer in enumerate(buyers, start=1):
            await _order_for(client, admin, variant_id, buyer["id"], units)
        await client.get(CUSTOMERS, params={"pageSize": 1}, headers=headers)  # warm the caches

        with statements_sent(backend.engine) as small:
            small_page = await client.get(CUSTOMERS, params={"pageSize": 2}, headers=headers)
        with statements_sent(backend.engine) as large:
            large_page = await client.get(CUSTOMERS, params={"pageSize": 8}, headers=headers)

        assert [_stats(item) for item in large_page.json()["items"]] == [
            (1, f"{10 * units}.00") for units in range(1, 9)
        ]
        assert len(small_page.json()["items"]) == 2
        assert len(small) == len(large)
        data = [s for s in large if not s.upper().startswith(TRANSACTION_CONTROL)]
        on_orders = [s for s in data if "FROM orders" in s]
        assert len(on_orders) == 1, on_orders
        assert "GROUP BY orders.customer_id" in on_orders[0]
