"""Every query on markets, their regions and the currency settings."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, delete, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import CurrencySettings, Market, MarketRegion


@dataclass(frozen=True)
class MarketPricing:
    """How orders shipped to one country are priced: its region's currency, that currency's
    settings (None when it has none) and whether prices include tax."""

    market_id: int
    currency: str
    tax_inclusive: bool
    exchange_rate: Decimal | None
    rounding_rule: str | None


class MarketRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, market_id: int) -> Market | None:
        result = await self.session.execute(
            select(Market)
            .where(Market.id == market_id)
            .options(selectinload(Market.regions))
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def page(
        self, *, enabled: bool | None, country: str | None, request: PageRequest
    ) -> RowsPage[Market]:
        """By name, then id, with each market's regions in one more query for the page."""
        statement = select(Market).options(selectinload(Market.regions))
        if enabled is not None:
            statement = statement.where(Market.enabled.is_(enabled))
        if country is not None:
            statement = statement.where(
                exists().where(
                    MarketRegion.market_id == Market.id, MarketRegion.country_code == country
                )
            )
        return await read_requested_page(
            self.session,
            statement,
            request,
            sort_column=Market.name,
            id_column=Market.id,
            sort_name="name",
            key_type=str,
        )

    async def add(self, market: Market) -> Market:
        self.session.add(market)
        await self.session.flush()
        return market

    async def delete(self, market_id: int) -> None:
        await self.session.execute(delete(Market).where(Market.id == market_id))

    async def set_regions(self, market_id: int, *, currency: str | None, tax: bool | None) -> None:
        """Write the market's currency and tax-inclusive pricing to each of its regions."""
        values: dict[str, object] = {}
        if currency is not None:
            values["currency"] = currency
        if tax is not None:
            values["tax_inclusive_pricing"] = tax
        if values:
            await self.session.execute(
                update(MarketRegion)
                .where(MarketRegion.market_id == market_id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def add_region(self, region: MarketRegion) -> MarketRegion:
        self.session.add(region)
        await self.session.flush()
        return region

    async def region(self, market_id: int, region_id: int) -> MarketRegion | None:
        return await self.session.scalar(
            select(MarketRegion).where(
                MarketRegion.id == region_id, MarketRegion.market_id == market_id
            )
        )

    async def region_taken(self, market_id: int, country: str, *, except_id: int | None) -> bool:
        statement = select(MarketRegion.id).where(
            MarketRegion.market_id == market_id, MarketRegion.country_code == country
        )
        if except_id is not None:
            statement = statement.where(MarketRegion.id != except_id)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def delete_region(self, region_id: int) -> None:
        await self.session.execute(delete(MarketRegion).where(MarketRegion.id == region_id))

    async def pricing_for(self, country: str, shop_currency: str) -> MarketPricing | None:
        """The region of `country` in an enabled market, as tax/ reads tax-inclusive pricing
        (tax.repository.MarketRegionReader): where several markets list the country, the one
        selling in the shop's currency, then the oldest market. One indexed query."""
        row = (
            await self.session.execute(
                select(
                    MarketRegion.market_id,
                    MarketRegion.currency,
                    MarketRegion.tax_inclusive_pricing,
                    CurrencySettings.exchange_rate,
                    CurrencySettings.rounding_rule,
                )
                .join(Market, Market.id == MarketRegion.market_id)
                .outerjoin(CurrencySettings, CurrencySettings.currency == MarketRegion.currency)
                .where(MarketRegion.country_code == country, Market.enabled.is_(True))
                .order_by(case((MarketRegion.currency == shop_currency, 0), else_=1), Market.id)
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        return MarketPricing(
            market_id=row.market_id,
            currency=row.currency,
            tax_inclusive=bool(row.tax_inclusive_pricing),
            exchange_rate=row.exchange_rate,
            rounding_rule=row.rounding_rule,
        )


class CurrencySettingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, settings_id: int, *, lock: bool = False) -> CurrencySettings | None:
        statement = select(CurrencySettings).where(CurrencySettings.id == settings_id)
        if lock:
            statement = statement.with_for_update()
        result = await self.session.execute(statement.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    async def hold(self, currency: str) -> bool:
        """Whether `currency` has settings, read under a share lock (PostgreSQL) held to the
        end of the transaction: a concurrent delete waits, then sees what this one wrote."""
        found = await self.session.scalar(
            select(CurrencySettings.id)
            .where(CurrencySettings.currency == currency)
            .with_for_update(read=True)
        )
        return found is not None

    async def taken(self, currency: str) -> bool:
        found = await self.session.scalar(
            select(CurrencySettings.id).where(CurrencySettings.currency == currency).limit(1)
        )
        return found is not None

    async def in_use(self, currency: str) -> bool:
        """Whether a market or a region is priced in `currency`."""
        market = select(Market.id).where(Market.currency == currency)
        region = select(MarketRegion.id).where(MarketRegion.currency == currency)
        found = await self.session.scalar(select(or_(exists(market), exists(region))))
        return bool(found)

    async def page(
        self, *, currency: str | None, request: PageRequest
    ) -> RowsPage[CurrencySettings]:
        statement = select(CurrencySettings)
        if currency is not None:
            statement = statement.where(CurrencySettings.currency == currency)
        return await read_requested_page(
            self.session,
            statement,
            request,
            sort_column=CurrencySettings.currency,
            id_column=CurrencySettings.id,
            sort_name="currency",
            key_type=str,
        )

    async def add(self, settings: CurrencySettings) -> CurrencySettings:
        self.session.add(settings)
        await self.session.flush()
        return settings

    async def delete(self, settings_id: int) -> None:
        await self.session.execute(
            delete(CurrencySettings).where(CurrencySettings.id == settings_id)
        )
