"""ShippingRateRepository.quoted, the rate a placement or checkout names: on PostgreSQL read by
asyncpg's prepared statement (kit.models.attach_loaded), it must be what the ORM's own load
gives, value for value and type for type, and the session's own object, refreshed."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import inspect, update

from shopdb.db import Database
from shopdb.kit.models import Base
from shopdb.models import ShippingRate
from shopdb.shipping.repository import ShippingRateRepository
from tests.fixtures.catalog import Headers
from tests.shipping.conftest import create_rate, create_zone


def _columns(row: Base) -> dict[str, tuple[type, Any]]:
    return {
        column.key: (type(getattr(row, column.key)), getattr(row, column.key))
        for column in inspect(type(row)).column_attrs
    }


async def _rate(client: httpx.AsyncClient, admin: Headers) -> int:
    zone = await create_zone(client, admin, "Quoted", [{"code": "IS"}])
    rate = await create_rate(
        client, admin, zone["id"], price="7.50", minWeight="100", maxWeight="2500.5"
    )
    return int(rate["id"])


async def test_the_quoted_rate_is_what_the_orm_loads(
    client: httpx.AsyncClient, admin: Headers, database: Database
) -> None:
    rate_id = await _rate(client, admin)
    async with database.session() as session:
        loaded = await session.get(ShippingRate, rate_id)
        assert loaded is not None
        expected = _columns(loaded)

    async with database.session() as session:
        quoted = await ShippingRateRepository(session).quoted(rate_id)
        assert quoted is not None
        assert inspect(quoted).persistent
        assert _columns(quoted) == expected
        assert await ShippingRateRepository(session).quoted(rate_id + 1000) is None


async def test_the_sessions_own_rate_comes_back_refreshed(
    client: httpx.AsyncClient, admin: Headers, database: Database
) -> None:
    rate_id = await _rate(client, admin)
    async with database.session() as session:
        held = await session.get(ShippingRate, rate_id)
        assert held is not None
        async with database.session() as other:
            await other.execute(
                update(ShippingRate).where(ShippingRate.id == rate_id).values(name="Express")
            )
            await other.commit()

        quoted = await ShippingRateRepository(session).quoted(rate_id)

        assert quoted is held
        assert held.name == "Express"
