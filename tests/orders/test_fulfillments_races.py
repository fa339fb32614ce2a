"""Fulfillments racing on PostgreSQL, in transactions that really commit: however many run at
once, a line never ships more than it has left (the order's row lock serialises them, the
guarded UPDATE has the last word), and stock and both fulfillment tables agree afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shopdb.app import create_app
from shopdb.db import Database
from shopdb.models import FulfillmentEnhanced, OrderFulfillment
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, live_client
from tests.orders.helpers import count, level, make_locations, make_variant
from tests.orders.test_fulfillments import (
    both_tables,
    fulfil,
    fulfillment_status,
    line_quantities,
    placed_order,
)

pytestmark = pytest.mark.postgres_only

Racing = tuple[httpx.AsyncClient, Headers, Database]


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
        yield client, headers, racing_database


class TestConcurrentFulfillments:
    async def test_twelve_fulfillments_of_two_units_ship_exactly_the_five_ordered(
        self, racing: Racing
    ) -> None:
        client, headers, database = racing
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 20})
        order = await placed_order(client, headers, (tee.variant_id, 5))
        line_id = order["lineItems"][0]["id"]

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    fulfil(client, headers, order["id"], lineItems=[{"id": line_id, "quantity": 2}])
                    for _ in range(12)
                )
            ),
            timeout=120,
        )

        shipped = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code == 422]
        assert len(shipped) == 2, [a.text for a in answers if a.status_code not in (201, 422)]
        assert len(refused) == 10
        assert {a.json()["code"] for a in refused} == {"FULFILLMENT_EXCEEDS_FULFILLABLE"}
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(5, 4, 0)]
            assert await level(session, tee.item_id, loc) == (15, 1)
            assert await fulfillment_status(session, order["id"]) == "partial"
            truth, mirror = await both_tables(session, order["id"])
            assert len(truth) == 2
            assert mirror == truth

    async def test_racing_requests_for_everything_left_ship_it_once(self, racing: Racing) -> None:
        client, headers, database = racing
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 20})
        mug = await make_variant(database, "3.00", {loc: 20}, title="Mug")
        order = await placed_order(client, headers, (tee.variant_id, 3), (mug.variant_id, 2))

        answers = await asyncio.wait_for(
            asyncio.gather(*(fulfil(client, headers, order["id"]) for _ in range(8))),
            timeout=120,
        )

        assert sorted(a.status_code for a in answers) == [201] + [422] * 7, [
            a.text for a in answers
        ]
        assert {a.json()["code"] for a in answers if a.status_code == 422} == {"NOTHING_TO_FULFIL"}
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(3, 3, 0), (2, 2, 0)]
            assert await level(session, tee.item_id, loc) == (17, 0)
            assert await level(session, mug.item_id, loc) == (18, 0)
            assert await fulfillment_status(session, order["id"]) == "fulfilled"
            order_id = order["id"]
            assert (
                await count(session, FulfillmentEnhanced, FulfillmentEnhanced.order_id == order_id)
                == 1
            )
            assert (
                await count(session, OrderFulfillment, OrderFulfillment.order_id == order_id) == 1
            )
            status = await session.scalar(
                select(FulfillmentEnhanced.status).where(FulfillmentEnhanced.order_id == order_id)
            )
            assert status == "success"
