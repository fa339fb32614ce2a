"""Concurrent billing and transitions on PostgreSQL, with transactions that really commit:
one cycle is billed once, one transition wins."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shopdb.app import create_app
from shopdb.db import Database
from shopdb.models import Order, SubscriptionContract
from shopdb.selling_plans.billing import bill_contract
from shopdb.selling_plans.rules import start_of
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, live_client
from tests.selling_plans.helpers import (
    CONTRACTS,
    ORDERS,
    Shop,
    billing_for,
    make_shop,
    subscription_order,
)

pytestmark = pytest.mark.postgres_only

Racing = tuple[httpx.AsyncClient, Headers, Database, Backend]


@pytest.fixture
def racing_database(backend: Backend, request: pytest.FixtureRequest) -> Database:
    if backend.name != "postgresql":
        pytest.skip("needs real concurrent transactions")
    database: Database = request.getfixturevalue("live_postgres")
    return database


@pytest.fixture
async def racing(backend: Backend, racing_database: Database) -> AsyncIterator[Racing]:
    application: FastAPI = create_app(backend.settings)
    use_services(application, racing_database)
    headers, _ = await committed_admin(application)
    async with live_client(application) as client:
        yield client, headers, racing_database, backend


async def subscribed(racing: Racing) -> tuple[Shop, SubscriptionContract]:
    client, headers, database, _ = racing
    shop = await make_shop(client, headers, database)
    response = await client.post(
        ORDERS, json=subscription_order(shop, shop.plan("Monthly, 10% off")), headers=headers
    )
    assert response.status_code == 201, response.text
    async with database.session() as session:
        contract = await session.scalar(
            select(SubscriptionContract).where(
                SubscriptionContract.origin_order_id == response.json()["id"]
            )
        )
    assert contract is not None
    return shop, contract


async def order_count(database: Database, customer_id: int) -> int:
    async with database.session() as session:
        found = await session.scalar(
            select(func.count()).select_from(Order).where(Order.customer_id == customer_id)
        )
    return int(found or 0)


class TestConcurrentBilling:
    async def test_workers_billing_one_contract_at_once_place_one_order(
        self, racing: Racing
    ) -> None:
        _, _, database, backend = racing
        shop, contract = await subscribed(racing)
        billing = billing_for(database, backend.settings)
        now = start_of(contract.next_billing_date) + timedelta(hours=1)

        outcomes = await asyncio.wait_for(
            asyncio.gather(*(bill_contract(billing, contract.id, now=now) for _ in range(6))),
            timeout=60,
        )

        assert sorted(outcomes) == ["billed"] + ["skipped"] * 5
        assert await order_count(database, shop.customer_id) == 2
        async with database.session() as session:
            row = await session.get(SubscriptionContract, contract.id)
            assert row is not None
            assert (row.billing_cycle, row.billing_lease_until) == (2, None)


class TestConcurrentTransitions:
    async def test_one_of_concurrent_cancels_wins(self, racing: Racing) -> None:
        client, headers, _, _ = racing
        _, contract = await subscribed(racing)
        url = f"{CONTRACTS}/{contract.id}"

        answers = await asyncio.gather(
            *(client.post(f"{url}/cancel", headers=headers) for _ in range(5)),
            *(client.post(f"{url}/pause", headers=headers) for _ in range(5)),
        )

        cancels = sorted(a.status_code for a in answers[:5])
        assert cancels.count(200) == 1
        assert all(code == 409 for code in cancels if code != 200)
        final = await client.get(url, headers=headers)
        assert final.json()["status"] == "cancelled"
        # A pause wins only before the cancel, never after it.
        assert sum(a.status_code == 200 for a in answers[5:]) <= 1
