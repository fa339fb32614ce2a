"""Races between committed sessions (PostgreSQL): one region per country per market, and no
market left priced in a currency whose settings a concurrent delete removed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from shopdb.auth.dependencies import Subject
from shopdb.db import Database
from shopdb.markets import service
from shopdb.markets.errors import CurrencyInUse, CurrencyNotConfigured, MarketRegionExists
from shopdb.markets.schemas import CurrencySettingsCreate, MarketCreate, RegionCreate
from shopdb.models import CurrencySettings, Market, MarketRegion

pytestmark = pytest.mark.postgres_only

ACTOR = Subject("user", 1, frozenset({"markets:write"}))
SHOP = "USD"


async def test_racing_regions_for_one_country_leave_exactly_one(live_postgres: Database) -> None:
    async with live_postgres.session() as session:
        market = await service.create_market(
            session, ACTOR, MarketCreate(name="Iceland", primary_locale="is"), shop_currency=SHOP
        )
        market_id = market.id
    start = asyncio.Event()

    async def add() -> int:
        async with live_postgres.session() as session:
            await start.wait()
            region = await service.add_region(
                session, ACTOR, market_id, RegionCreate(country_code="IS"), shop_currency=SHOP
            )
            return region.id

    racing = [asyncio.create_task(add()) for _ in range(10)]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*racing, return_exceptions=True)

    created = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, MarketRegionExists)]
    assert (len(created), len(refused)) == (1, 9), outcomes
    async with live_postgres.session() as session:
        stored = await session.scalar(
            select(func.count(MarketRegion.id)).where(MarketRegion.market_id == market_id)
        )
    assert stored == 1


@pytest.mark.parametrize("currency", ["AAA", "AAB", "AAC", "AAD", "AAE", "AAF"])
async def test_deleting_settings_while_a_market_is_priced_in_them(
    live_postgres: Database, currency: str
) -> None:
    """Either the market is written first (the delete then finds it: 409) or the settings
    are gone first (the market is refused: 422); never a market in a currency without a rate."""
    async with live_postgres.session() as session:
        settings = await service.create_currency_settings(
            session,
            ACTOR,
            CurrencySettingsCreate(currency=currency, exchange_rate=Decimal("2")),
            shop_currency=SHOP,
        )
        settings_id = settings.id
    start = asyncio.Event()

    async def create_market() -> int:
        async with live_postgres.session() as session:
            await start.wait()
            market = await service.create_market(
                session,
                ACTOR,
                MarketCreate(name=f"In {currency}", primary_locale="en", currency=currency),
                shop_currency=SHOP,
            )
            return market.id

    async def delete_settings() -> None:
        async with live_postgres.session() as session:
            await start.wait()
            await service.delete_currency_settings(session, ACTOR, settings_id, if_match=None)

    racing = [asyncio.create_task(create_market()), asyncio.create_task(delete_settings())]
    await asyncio.sleep(0.05)
    start.set()
    created, deleted = await asyncio.gather(*racing, return_exceptions=True)

    async with live_postgres.session() as session:
        markets = await session.scalar(
            select(func.count(Market.id)).where(Market.currency == currency)
        )
        rows = await session.scalar(
            select(func.count(CurrencySettings.id)).where(CurrencySettings.currency == currency)
        )
    if isinstance(created, int):
        assert isinstance(deleted, CurrencyInUse), deleted
        assert (markets, rows) == (1, 1)
    else:
        assert isinstance(created, CurrencyNotConfigured), created
        assert deleted is None
        assert (markets, rows) == (0, 0)
