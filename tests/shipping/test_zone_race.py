"""Concurrent zone writers naming the same country: exactly one wins (PostgreSQL, committed
sessions). Without the lock each would pass the overlap check before the other commits."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from shopdb.auth.dependencies import Subject
from shopdb.db import Database
from shopdb.models import ShippingZone
from shopdb.shipping import service
from shopdb.shipping.errors import ShippingZoneOverlap
from shopdb.shipping.rules import ZoneCountry

pytestmark = pytest.mark.postgres_only

ACTOR = Subject("user", 1, frozenset({"shipping:write"}))
OWN_COUNTRIES = "AD AE AF AG AI AL AM AO AQ AR AS AT".split()


async def test_racing_zones_for_one_country_leave_exactly_one(live_postgres: Database) -> None:
    run = uuid.uuid4().hex[:8]
    start = asyncio.Event()

    async def create(position: int) -> int:
        async with live_postgres.session() as session:
            await start.wait()  # all twelve start together
            zone = await service.create_zone(
                session,
                ACTOR,
                name=f"Race {run} {position}",
                # Each names a country of its own too: only the shared one may conflict.
                countries=[ZoneCountry(OWN_COUNTRIES[position]), ZoneCountry("JP")],
            )
            return zone.id

    racing = [asyncio.create_task(create(n)) for n in range(12)]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*racing, return_exceptions=True)

    created = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, ShippingZoneOverlap)]
    assert (len(created), len(refused)) == (1, 11), outcomes
    async with live_postgres.session() as session:
        stored = list(
            await session.scalars(
                select(ShippingZone.id).where(ShippingZone.name.like(f"Race {run} %"))
            )
        )
    assert stored == created
