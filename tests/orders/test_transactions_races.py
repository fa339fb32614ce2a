"""Transactions racing on PostgreSQL, in requests that really commit: concurrent captures
never exceed the authorization, concurrent refunds never exceed the capture, a void and a
capture of one authorization never both succeed. The gateway answers slowly (it is called
under the order's lock), which widens every window a missing lock would leave open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shopdb.app import create_app
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.models import Order, OrderTransaction
from shopdb.orders.transactions import endpoints
from shopdb.payments.gateways.base import PaymentGateway
from shopdb.payments.gateways.test import TestGateway
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, live_client
from tests.orders.helpers import (
    ORDERS,
    make_locations,
    make_variant,
    order_body,
    order_events,
    place,
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
async def racing(
    backend: Backend, racing_database: Database, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Racing]:
    slow = TestGateway(latency_ms=30)

    def gateways(settings: Settings) -> Callable[[str], PaymentGateway]:
        return lambda name: slow

    monkeypatch.setattr(endpoints, "registry_gateways", gateways)
    application: FastAPI = create_app(backend.settings)
    use_services(application, racing_database)
    headers, _ = await committed_admin(application)
    async with live_client(application) as client:
        yield client, headers, racing_database


async def placed(racing: Racing, price: str, *, capture: bool) -> dict[str, Any]:
    client, headers, database = racing
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, price, {loc: 5})
    body = order_body((tee.variant_id, 1))
    body["payment"]["capture"] = capture
    response = await place(client, headers, body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def at_once(racing: Racing, order_id: int, bodies: list[dict[str, Any]]) -> list[Any]:
    client, headers, _ = racing
    url = f"{ORDERS}/{order_id}/transactions"
    return await asyncio.wait_for(
        asyncio.gather(*(client.post(url, json=body, headers=headers) for body in bodies)),
        timeout=120,
    )


async def sums(database: Database, order_id: int) -> dict[tuple[str, str], Decimal]:
    async with database.session() as session:
        rows = await session.execute(
            select(
                OrderTransaction.kind, OrderTransaction.status, func.sum(OrderTransaction.amount)
            )
            .where(OrderTransaction.order_id == order_id)
            .group_by(OrderTransaction.kind, OrderTransaction.status)
        )
        return {(r[0], r[1]): Decimal(r[2]) for r in rows}


async def status_of(database: Database, order_id: int) -> str:
    async with database.session() as session:
        found = await session.scalar(select(Order.financial_status).where(Order.id == order_id))
    assert found is not None
    return found


class TestConcurrentCaptures:
    async def test_twelve_captures_of_5_on_an_authorization_of_30_capture_exactly_30(
        self, racing: Racing
    ) -> None:
        order = await placed(racing, "30.00", capture=False)

        answers = await at_once(racing, order["id"], [{"kind": "capture", "amount": "5.00"}] * 12)

        done = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code == 422]
        assert len(done) == 6, [a.text for a in answers if a.status_code not in (201, 422)]
        assert len(refused) == 6
        assert all(a.json()["status"] == "success" for a in done)
        assert {a.json()["code"] for a in refused} <= {
            "NOTHING_TO_CAPTURE",
            "CAPTURE_EXCEEDS_AUTHORIZED",
        }
        _, _, database = racing
        assert await sums(database, order["id"]) == {
            ("authorization", "success"): Decimal("30.00"),
            ("capture", "success"): Decimal("30.00"),
        }
        assert await status_of(database, order["id"]) == "paid"
        async with database.session() as session:
            events = await order_events(session, order["id"])
        assert events == ["orders/create"] + ["orders/updated"] * 5 + ["orders/paid"]

    async def test_a_void_and_a_capture_of_one_authorization_never_both_succeed(
        self, racing: Racing
    ) -> None:
        _, _, database = racing
        for _ in range(3):
            order = await placed(racing, "30.00", capture=False)

            answers = await at_once(racing, order["id"], [{"kind": "void"}, {"kind": "capture"}])

            codes = sorted(a.status_code for a in answers)
            assert codes == [201, 422], [a.text for a in answers]
            kinds = await sums(database, order["id"])
            assert (("void", "success") in kinds) != (("capture", "success") in kinds)
            expected = "voided" if ("void", "success") in kinds else "paid"
            assert await status_of(database, order["id"]) == expected


class TestConcurrentRefunds:
    async def test_ten_refunds_of_10_on_a_sale_of_60_refund_exactly_60(
        self, racing: Racing
    ) -> None:
        order = await placed(racing, "60.00", capture=True)

        answers = await at_once(racing, order["id"], [{"kind": "refund", "amount": "10.00"}] * 10)

        done = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code == 422]
        assert len(done) == 6, [a.text for a in answers if a.status_code not in (201, 422)]
        assert len(refused) == 4
        assert {a.json()["code"] for a in refused} == {"REFUND_EXCEEDS_CAPTURED"}
        _, _, database = racing
        assert await sums(database, order["id"]) == {
            ("sale", "success"): Decimal("60.00"),
            ("refund", "success"): Decimal("60.00"),
        }
        assert await status_of(database, order["id"]) == "refunded"
