"""100 orders race for a code limited to 10 uses (PostgreSQL, committed sessions)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from shopdb.db import Database
from shopdb.discounts.errors import DiscountUsageLimitReached
from shopdb.discounts.service import redeem_discount_code
from shopdb.kit.types import utcnow
from shopdb.models import DiscountCode

pytestmark = pytest.mark.postgres_only


async def test_a_code_limited_to_ten_is_used_exactly_ten_times(live_postgres: Database) -> None:
    name = f"RACE-{uuid.uuid4().hex[:8]}"
    async with live_postgres.session() as session:
        code = DiscountCode(code=name, type="percentage", value=Decimal(10), usage_limit=10)
        session.add(code)
        await session.flush()
        code_id = code.id
    start = asyncio.Event()

    async def order() -> Decimal:
        async with live_postgres.session() as session:
            await start.wait()
            applied = await redeem_discount_code(
                session, name.lower(), subtotal=Decimal("20.00"), currency="USD", now=utcnow()
            )
            return applied.amount

    racing = [asyncio.create_task(order()) for _ in range(100)]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*racing, return_exceptions=True)

    unexpected = [
        o
        for o in outcomes
        if isinstance(o, BaseException) and not isinstance(o, DiscountUsageLimitReached)
    ]
    assert unexpected == []
    assert outcomes.count(Decimal("2.00")) == 10
    assert sum(isinstance(o, DiscountUsageLimitReached) for o in outcomes) == 90
    async with live_postgres.session() as session:
        used = await session.scalar(
            select(DiscountCode.used_count).where(DiscountCode.id == code_id)
        )
    assert used == 10
