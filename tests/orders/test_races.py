"""Placements racing on PostgreSQL, in transactions that really commit: scarce stock, shared
variants in opposite orders, a limited code and one gift card; afterwards every count and
balance is summed from the database."""

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
from shopdb.models import OrderTransaction
from shopdb.models.discounts import GiftCardTransaction
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, live_client
from tests.orders.helpers import (
    discount_used,
    gift_card_balance,
    level,
    make_locations,
    make_variant,
    order_body,
    orders_with,
    place,
)
from tests.orders.test_adjustments import discount_code, gift_card

pytestmark = pytest.mark.postgres_only


@pytest.fixture
def racing_database(backend: Backend, request: pytest.FixtureRequest) -> Database:
    if backend.name != "postgresql":
        pytest.skip("needs real concurrent transactions")
    database: Database = request.getfixturevalue("live_postgres")
    return database


@pytest.fixture
async def racing(
    backend: Backend, racing_database: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, Headers, Database]]:
    application: FastAPI = create_app(backend.settings)
    use_services(application, racing_database)
    headers, _ = await committed_admin(application)
    async with live_client(application) as client:
        yield client, headers, racing_database


Racing = tuple[httpx.AsyncClient, Headers, Database]


class TestScarceStock:
    async def test_200_orders_for_the_last_50_units_sell_exactly_50(self, racing: Racing) -> None:
        client, headers, database = racing
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "9.99", {loc: 50})

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(place(client, headers, order_body((tee.variant_id, 1))) for _ in range(200))
            ),
            timeout=180,
        )

        sold = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code == 409]
        assert len(sold) == 50, [a.text for a in answers if a.status_code not in (201, 409)]
        assert len(refused) == 150
        assert all(a.json()["code"] == "INSUFFICIENT_INVENTORY" for a in refused)
        assert all(str(tee.variant_id) in a.json()["details"][0]["message"] for a in refused)
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (0, 50)
            orders = await orders_with(session, tee.variant_id)
        assert len(orders) == 50
        assert all(o.reserved_until is None and o.financial_status == "paid" for o in orders)
        numbers = [a.json()["orderNumber"] for a in sold]
        assert len(set(numbers)) == 50
        assert all(n >= 1001 for n in numbers)

        # Numbers keep increasing after the race.
        more = await make_variant(database, "1.00", {loc: 1})
        later = await place(client, headers, order_body((more.variant_id, 1)))
        assert later.status_code == 201, later.text
        assert later.json()["orderNumber"] > max(numbers)

    async def test_orders_sharing_variants_in_opposite_orders_never_deadlock(
        self, racing: Racing
    ) -> None:
        client, headers, database = racing
        first, second = await make_locations(database, "East", "West")
        a = await make_variant(database, "3.00", {first: 100, second: 100}, title="A")
        b = await make_variant(database, "4.00", {first: 100, second: 100}, title="B")
        bodies = [
            order_body((a.variant_id, 1), (b.variant_id, 2))
            if n % 2
            else order_body((b.variant_id, 2), (a.variant_id, 1))
            for n in range(60)
        ]

        answers = await asyncio.wait_for(
            asyncio.gather(*(place(client, headers, body) for body in bodies)), timeout=180
        )

        assert [r.status_code for r in answers] == [201] * 60, [
            r.text for r in answers if r.status_code != 201
        ]
        async with database.session() as session:
            a_levels = [await level(session, a.item_id, loc) for loc in (first, second)]
            b_levels = [await level(session, b.item_id, loc) for loc in (first, second)]
        assert sum(committed for _, committed in a_levels) == 60
        assert sum(committed for _, committed in b_levels) == 120
        assert sum(available for available, _ in a_levels) == 140
        assert sum(available for available, _ in b_levels) == 80


class TestScarceCodesAndCards:
    async def test_a_code_limited_to_10_discounts_exactly_10_of_40_orders(
        self, racing: Racing
    ) -> None:
        client, headers, database = racing
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "20.00", {loc: 100})
        await discount_code(client, headers, "RUSH10", usageLimit=10)

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    place(client, headers, order_body((tee.variant_id, 1), discountCode="RUSH10"))
                    for _ in range(40)
                )
            ),
            timeout=180,
        )

        placed = [r for r in answers if r.status_code == 201]
        refused = [r for r in answers if r.status_code == 409]
        assert len(placed) == 10, [r.text for r in answers if r.status_code not in (201, 409)]
        assert len(refused) == 30
        assert all(r.json()["totalDiscounts"] == "2.00" for r in placed)
        async with database.session() as session:
            assert await discount_used(session, "RUSH10") == 10
            # A refused order gave its stock back in the same rollback.
            assert await level(session, tee.item_id, loc) == (90, 10)

    async def test_one_gift_card_is_never_spent_twice(self, racing: Racing) -> None:
        client, headers, database = racing
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "15.00", {loc: 100})
        card = await gift_card(client, headers, "50.00")

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    place(
                        client,
                        headers,
                        order_body((tee.variant_id, 1), giftCardCodes=[card["code"]]),
                    )
                    for _ in range(20)
                )
            ),
            timeout=180,
        )

        placed = [r for r in answers if r.status_code == 201]
        assert len(placed) + sum(r.status_code in (402, 409, 422) for r in answers) == 20, [
            r.text for r in answers
        ]
        async with database.session() as session:
            assert await gift_card_balance(session, card["id"]) >= Decimal(0)
            debited = await session.scalar(
                select(func.sum(OrderTransaction.amount)).where(
                    OrderTransaction.gift_card_id == card["id"]
                )
            )
            ledger = await session.scalar(
                select(func.sum(GiftCardTransaction.amount)).where(
                    GiftCardTransaction.gift_card_id == card["id"]
                )
            )
            balance = await gift_card_balance(session, card["id"])
            orders = await orders_with(session, tee.variant_id)
        assert debited == Decimal("50.00")
        assert balance == Decimal("0.00")
        assert ledger == balance
        assert len(orders) == len(placed)
        paid = sum(Decimal(r.json()["totalPrice"]) for r in placed)
        assert paid == Decimal("15.00") * len(placed)
