"""compute_tax as checkout calls it: the address's rates from the table, tax-inclusive where the
country's market region says so."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Market, MarketRegion, TaxRate
from shopdb.tax.service import TaxLine, TaxResult, compute_tax


async def rates(db_session: AsyncSession, *rows: TaxRate) -> None:
    db_session.add_all(rows)
    await db_session.flush()


async def market(
    db_session: AsyncSession, name: str, *regions: tuple[str, str, bool], enabled: bool = True
) -> None:
    db_session.add(
        Market(
            name=name,
            primary_locale="en",
            enabled=enabled,
            regions=[
                MarketRegion(country_code=country, currency=currency, tax_inclusive_pricing=incl)
                for country, currency, incl in regions
            ],
        )
    )
    await db_session.flush()


async def tax(
    db_session: AsyncSession,
    country: str,
    province: str | None,
    goods: str,
    shipping: str = "0.00",
    currency: str = "USD",
) -> TaxResult:
    return await compute_tax(
        db_session,
        country=country,
        province=province,
        taxable_amount=Decimal(goods),
        shipping_amount=Decimal(shipping),
        currency=currency,
    )


class TestExclusiveByDefault:
    async def test_country_and_province_rates_of_the_address(
        self, db_session: AsyncSession
    ) -> None:
        await rates(
            db_session,
            TaxRate(country="CA", name="GST", rate=Decimal("0.05"), shipping_taxable=True),
            TaxRate(country="CA", province="BC", name="PST", rate=Decimal("0.07")),
            TaxRate(
                country="CA",
                province="ON",
                name="HST",
                rate=Decimal("0.13"),
                shipping_taxable=True,
                tax_type="harmonized",
            ),
        )

        bc = await tax(db_session, "ca", "bc", "80.00", "10.00", currency="CAD")
        on = await tax(db_session, "CA", "ON", "80.00", "10.00", currency="CAD")
        ab = await tax(db_session, "CA", "AB", "80.00", "10.00", currency="CAD")

        assert bc == TaxResult(
            lines=[
                TaxLine("GST", Decimal("0.05000"), Decimal("4.50")),
                TaxLine("PST", Decimal("0.07000"), Decimal("5.60")),
            ],
            total=Decimal("10.10"),
            included=False,
        )
        assert on.lines == [TaxLine("HST", Decimal("0.13000"), Decimal("11.70"))]
        assert ab.lines == [TaxLine("GST", Decimal("0.05000"), Decimal("4.50"))]

    async def test_no_rate_for_the_country_is_no_tax(self, db_session: AsyncSession) -> None:
        assert await tax(db_session, "NZ", None, "50.00") == TaxResult([], Decimal("0.00"), False)

    async def test_rounds_each_line_half_up_to_cents(self, db_session: AsyncSession) -> None:
        await rates(
            db_session,
            TaxRate(country="US", province="NY", name="NY State", rate=Decimal("0.04")),
            TaxRate(country="US", name="Federal (test)", rate=Decimal("0.0225")),
        )

        # 12.50 * 0.0225 = 0.28125 -> 0.28; 12.50 * 0.04 = 0.50
        result = await tax(db_session, "US", "NY", "12.50")

        assert [line.amount for line in result.lines] == [Decimal("0.28"), Decimal("0.50")]
        assert result.total == Decimal("0.78")


class TestInclusiveWhereTheMarketSaysSo:
    async def test_a_tax_inclusive_region_extracts_the_tax_without_adding_it(
        self, db_session: AsyncSession
    ) -> None:
        await rates(
            db_session,
            TaxRate(country="DE", name="MwSt", rate=Decimal("0.19"), shipping_taxable=True),
        )
        await market(db_session, "Europe", ("DE", "EUR", True), ("FR", "EUR", False))

        result = await tax(db_session, "DE", None, "59.50", "5.95", currency="EUR")

        assert result == TaxResult(
            lines=[TaxLine("MwSt", Decimal("0.19000"), Decimal("10.45"))],
            total=Decimal("10.45"),
            included=True,
        )

    async def test_a_disabled_market_does_not_count(self, db_session: AsyncSession) -> None:
        await rates(db_session, TaxRate(country="AU", name="GST", rate=Decimal("0.10")))
        await market(db_session, "Australia (off)", ("AU", "AUD", True), enabled=False)

        result = await tax(db_session, "AU", None, "100.00", currency="AUD")

        assert (result.included, result.total) == (False, Decimal("10.00"))

    async def test_the_region_selling_in_the_orders_currency_decides(
        self, db_session: AsyncSession
    ) -> None:
        await rates(db_session, TaxRate(country="CH", name="MWST", rate=Decimal("0.081")))
        await market(db_session, "Switzerland in euros", ("CH", "EUR", False))
        await market(db_session, "Switzerland", ("CH", "CHF", True))

        in_francs = await tax(db_session, "CH", None, "108.10", currency="CHF")
        in_euros = await tax(db_session, "CH", None, "100.00", currency="EUR")

        assert (in_francs.included, in_francs.total) == (True, Decimal("8.10"))
        assert (in_euros.included, in_euros.total) == (False, Decimal("8.10"))
