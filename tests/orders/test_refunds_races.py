"""Refunds racing on PostgreSQL, in transactions that really commit: concurrent refunds of one
line never together take more units than it has, nor more money than was captured."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shopdb.app import create_app
from shopdb.db import Database
from shopdb.models import OrderRefund, OrderRefundLineItem
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, live_client
from tests.orders.helpers import level, make_locations, make_variant
from tests.orders.test_refunds import (
    both_refund_tables,
    financial_status,
    item,
    line_units,
    lines_of,
    placed,
    refund,
    refund_transactions,
)

pytestmark = pytest.mark.postgres_only

Racing = tuple[httpx.AsyncClient, Headers, Database]


@pytest.fixture
def racing_database(backend: Backend, request: pytest.FixtureRequest) -> Database:
    """PostgreSQL's committing database (module-scoped, set up outside the test's loop)."""
    if backend.name != "postgresql":
        pytest.skip("needs real concurrent transactions")
    database: Database = request.getfixturevalue("live_postgres")
    return database


@pytest.fixture
async def racing(backend: Backend, racing_database: Database) -> AsyncIterator[Racing]:
    database = racing_database
    application: FastAPI = create_app(backend.settings)
    use_services(application, database)
    headers, _ = await committed_admin(application)
    async with live_client(application) as client:
        yield client, headers, database


async def refunded_units(database: Database, order_id: int) -> int:
    async with database.session() as session:
        found = await session.scalar(
            select(func.coalesce(func.sum(OrderRefundLineItem.quantity), 0))
            .join(OrderRefund, OrderRefund.id == OrderRefundLineItem.order_refund_id)
            .where(OrderRefund.order_id == order_id)
        )
        return int(found or 0)


class TestConcurrentRefunds:
    async def test_two_refunds_of_the_same_units_take_them_once(self, racing: Racing) -> None:
        client, headers, database = racing
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, headers, (tee.variant_id, 3))
        (line,) = lines_of(order)

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    refund(client, headers, order["id"], refundLineItems=[item(line, 2, "cancel")])
                    for _ in range(2)
                )
            ),
            timeout=60,
        )

        codes = sorted(a.status_code for a in answers)
        assert codes == [201, 422], [a.text for a in answers]
        (refused,) = [a for a in answers if a.status_code == 422]
        assert refused.json()["code"] == "REFUND_QUANTITY_EXCEEDED"
        assert await line_units(database, line) == (3, 0, 2)
        assert await refunded_units(database, order["id"]) == 2
        assert await refund_transactions(database, order["id"]) == [("success", Decimal("20.00"))]
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (9, 1)

    async def test_twenty_single_unit_refunds_of_a_five_unit_line_refund_five(
        self, racing: Racing
    ) -> None:
        client, headers, database = racing
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "4.00", {loc: 10})
        order = await placed(client, headers, (tee.variant_id, 5))
        (line,) = lines_of(order)

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    refund(
                        client,
                        headers,
                        order["id"],
                        refundLineItems=[item(line, 1, "cancel" if n % 2 else "no_restock")],
                    )
                    for n in range(20)
                )
            ),
            timeout=120,
        )

        made = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code != 201]
        assert len(made) == 5, [a.text for a in refused if a.status_code != 422]
        assert all(a.json()["code"] == "REFUND_QUANTITY_EXCEEDED" for a in refused)
        assert await line_units(database, line) == (5, 0, 5)
        assert await refunded_units(database, order["id"]) == 5
        assert (
            await refund_transactions(database, order["id"]) == [("success", Decimal("4.00"))] * 5
        )
        assert await both_refund_tables(database, order["id"]) == (
            Decimal("20.00"),
            Decimal("20.00"),
        )
        assert await financial_status(database, order["id"]) == "refunded"
        cancelled = sum(
            1 for a in made if a.json()["refundLineItems"][0]["restockType"] == "cancel"
        )
        async with database.session() as session:
            # Every unit left committed: the cancelled ones back to available, the others out.
            assert await level(session, tee.item_id, loc) == (5 + cancelled, 0)
