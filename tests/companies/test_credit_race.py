"""Terms orders racing for one company's credit on PostgreSQL, in transactions that really
commit: exactly the orders that fit are placed, the rest are 409, and the balance is exact."""

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
from shopdb.models import B2BPaymentTerm, Company, Order
from tests.companies.conftest import stocked_variant, stored_balance, terms_body
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, live_client
from tests.orders.helpers import ORDERS, level, make_locations, make_variant

pytestmark = pytest.mark.postgres_only

Racing = tuple[httpx.AsyncClient, Headers, Database]


@pytest.fixture
def racing_database(backend: Backend, request: pytest.FixtureRequest) -> Database:
    """PostgreSQL's committing database (set up outside the test's loop)."""
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


async def committed_company(database: Database, credit: str) -> int:
    async with database.session() as session:
        company = Company(company_name="Racing Co", credit_limit=Decimal(credit))
        session.add(company)
        await session.flush()
        session.add(B2BPaymentTerm(company_id=company.id, net_days=30))
        return company.id


async def company_orders(database: Database, company_id: int) -> list[Order]:
    async with database.session() as session:
        rows = await session.scalars(select(Order).where(Order.company_id == company_id))
        return list(rows)


class TestCreditRace:
    async def test_20_orders_racing_for_credit_that_fits_5_place_exactly_5(
        self, racing: Racing
    ) -> None:
        client, headers, database = racing
        company_id = await committed_company(database, "500.00")
        variant = await stocked_variant(database, "100.00", units=100)

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=headers)
                    for _ in range(20)
                )
            ),
            timeout=180,
        )

        placed = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code == 409]
        assert len(placed) == 5, [a.text for a in answers if a.status_code not in (201, 409)]
        assert len(refused) == 15
        assert {a.json()["code"] for a in refused} == {"CREDIT_LIMIT_EXCEEDED"}
        assert all(a.json()["financialStatus"] == "pending" for a in placed)
        async with database.session() as session:
            assert await stored_balance(session, company_id) == (
                Decimal("500.00"),
                Decimal("500.00"),
            )
        orders = await company_orders(database, company_id)
        assert sorted(o.id for o in orders) == sorted(a.json()["id"] for a in placed)
        assert all(o.credit_held == Decimal("100.00") for o in orders)

    async def test_payments_and_new_orders_racing_keep_the_balance_exact(
        self, racing: Racing
    ) -> None:
        client, headers, database = racing
        company_id = await committed_company(database, "300.00")
        variant = await stocked_variant(database, "100.00", units=100)
        first = [
            await client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=headers)
            for _ in range(3)
        ]
        assert [a.status_code for a in first] == [201, 201, 201]

        pays = [
            client.post(
                f"{ORDERS}/{a.json()['id']}/transactions",
                json={"kind": "sale", "gateway": "test", "token": "4242424242424242"},
                headers=headers,
            )
            for a in first
        ]
        orders = [
            client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=headers)
            for _ in range(10)
        ]
        answers = await asyncio.wait_for(asyncio.gather(*pays, *orders), timeout=180)

        paid, placing = answers[:3], answers[3:]
        assert [a.status_code for a in paid] == [201, 201, 201], [a.text for a in paid]
        placed = [a for a in placing if a.status_code == 201]
        assert all(a.status_code in (201, 409) for a in placing), [a.text for a in placing]
        # However the race went, no more than the credit is held, and every hold is counted.
        assert len(placed) <= 3
        async with database.session() as session:
            outstanding, held = await stored_balance(session, company_id)
            count = await session.scalar(
                select(func.count()).where(Order.company_id == company_id, Order.credit_held > 0)
            )
        assert outstanding == held == Decimal(100 * len(placed))
        assert count == len(placed)

    async def test_cancellations_and_new_orders_sharing_stock_never_deadlock(
        self, racing: Racing
    ) -> None:
        """A cancellation restocks then releases credit (stock, then company); a placement
        commits stock then holds credit: the same order, so no cycle."""
        client, headers, database = racing
        company_id = await committed_company(database, "400.00")
        variant = await stocked_variant(database, "100.00", units=100)
        first = [
            await client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=headers)
            for _ in range(4)
        ]
        assert [a.status_code for a in first] == [201] * 4

        cancels = [
            client.post(
                f"{ORDERS}/{a.json()['id']}/cancel",
                json={"reason": "customer", "restock": True},
                headers=headers,
            )
            for a in first
        ]
        orders = [
            client.post(ORDERS, json=terms_body(variant, 1, company_id), headers=headers)
            for _ in range(8)
        ]
        answers = await asyncio.wait_for(asyncio.gather(*cancels, *orders), timeout=180)

        cancelled, placing = answers[:4], answers[4:]
        assert [a.status_code for a in cancelled] == [200] * 4, [a.text for a in cancelled]
        assert all(a.status_code in (201, 409) for a in placing), [a.text for a in placing]
        placed = [a for a in placing if a.status_code == 201]
        assert len(placed) <= 4  # none, if every placement ran before the cancellations
        async with database.session() as session:
            assert await stored_balance(session, company_id) == (
                Decimal(100 * len(placed)),
                Decimal(100 * len(placed)),
            )

    async def test_a_refused_order_commits_no_stock(self, racing: Racing) -> None:
        client, headers, database = racing
        company_id = await committed_company(database, "100.00")
        (location,) = await make_locations(database, "Race")
        tee = await make_variant(database, "60.00", {location: 10})

        answers = await asyncio.gather(
            *(
                client.post(ORDERS, json=terms_body(tee.variant_id, 1, company_id), headers=headers)
                for _ in range(4)
            )
        )

        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
        async with database.session() as session:
            assert await level(session, tee.item_id, location) == (9, 1)
