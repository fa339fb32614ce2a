"""Every query on tax rates, and the one read of the markets' tax-inclusive pricing."""

from __future__ import annotations

from sqlalchemy import case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import Market, MarketRegion, TaxRate

# The list's order as one key, so a cursor can name a place in it: country codes are exactly
# two letters and the country-wide row's province is empty, so "CA" < "CAON" < "CAQC" < "DE"
# is the country, its country-wide rate first, then its provinces. (country, province) is
# unique, and so is this key; the id only completes the cursor.
_LIST_KEY = TaxRate.country + func.coalesce(TaxRate.province, "")


class TaxRateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, tax_rate_id: int) -> TaxRate | None:
        return await self.session.get(TaxRate, tax_rate_id)

    async def page(self, *, country: str | None, request: PageRequest) -> RowsPage[TaxRate]:
        """By country, each country's country-wide rate before its provinces' by code.

        The key is an expression no index holds: the table has a row per country and
        province at most (a few thousand), and `country` narrows it through the unique
        (country, province) index."""
        where = [] if country is None else [TaxRate.country == country]
        return await read_requested_page(
            self.session,
            select(TaxRate).where(*where),
            request,
            sort_column=_LIST_KEY,
            id_column=TaxRate.id,
            sort_name="country",
            key_type=str,
        )

    async def taken(self, country: str, province: str | None, *, except_id: int | None) -> bool:
        statement = select(TaxRate.id).where(
            TaxRate.country == country,
            TaxRate.province.is_(None) if province is None else TaxRate.province == province,
        )
        if except_id is not None:
            statement = statement.where(TaxRate.id != except_id)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def for_address(self, country: str, province: str | None) -> list[TaxRate]:
        """The country-wide rate and the province's, whichever exist (at most two rows)."""
        result = await self.session.execute(
            select(TaxRate).where(
                TaxRate.country == country,
                or_(TaxRate.province.is_(None), TaxRate.province == province),
            )
        )
        return list(result.scalars())

    async def add(self, tax_rate: TaxRate) -> TaxRate:
        self.session.add(tax_rate)
        await self.session.flush()
        return tax_rate

    async def delete(self, tax_rate_id: int) -> None:
        await self.session.execute(delete(TaxRate).where(TaxRate.id == tax_rate_id))


class MarketRegionReader:
    """market_regions belong to the markets; taxes only read whether prices include tax."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def tax_inclusive(self, country: str, currency: str) -> bool:
        """The country's region in an enabled market; where several markets list the country,
        the one selling in the order's currency, then the oldest market. No region: False."""
        found = await self.session.scalar(
            select(MarketRegion.tax_inclusive_pricing)
            .join(Market, Market.id == MarketRegion.market_id)
            .where(MarketRegion.country_code == country, Market.enabled.is_(True))
            .order_by(case((MarketRegion.currency == currency, 0), else_=1), Market.id)
            .limit(1)
        )
        return bool(found)
