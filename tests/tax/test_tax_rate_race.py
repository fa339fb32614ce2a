"""Concurrent creations of the same country-wide rate: one wins, the others get the typed 409
(PostgreSQL, committed sessions; the partial unique index decides what the pre-check cannot)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from shopdb.auth.dependencies import Subject
from shopdb.db import Database
from shopdb.models import TaxRate
from shopdb.tax import service
from shopdb.tax.errors import TaxRateExists

pytestmark = pytest.mark.postgres_only

ACTOR = Subject("user", 1, frozenset({"settings:write"}))


async def test_racing_country_wide_rates_leave_exactly_one(live_postgres: Database) -> None:
    start = asyncio.Event()

    async def create(position: int) -> int:
        async with live_postgres.session() as session:
            await start.wait()
            rate = await service.create_tax_rate(
                session,
                ACTOR,
                {
                    "country": "IS",
                    "province": None,
                    "name": f"VSK {position}",
                    "rate": Decimal("0.24"),
                    "shipping_taxable": True,
                    "tax_type": "normal",
                },
            )
            return rate.id

    racing = [asyncio.create_task(create(n)) for n in range(10)]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*racing, return_exceptions=True)

    created = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, TaxRateExists)]
    assert (len(created), len(refused)) == (1, 9), outcomes
    async with live_postgres.session() as session:
        stored = await session.scalar(select(func.count(TaxRate.id)).where(TaxRate.country == "IS"))
    assert stored == 1
