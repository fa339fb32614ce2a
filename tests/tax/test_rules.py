"""The pure tax arithmetic: how rates combine, inclusive and exclusive, rounding per line."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shopdb.tax.rules import RateRule, TaxLine, TaxResult, compute

GST = RateRule("GST", Decimal("0.05"), shipping_taxable=True)
PST = RateRule("PST", Decimal("0.07"), shipping_taxable=False)
HST = RateRule("HST", Decimal("0.13"), shipping_taxable=True, tax_type="harmonized")
QST = RateRule("QST", Decimal("0.075"), shipping_taxable=True, tax_type="compounded")
VAT = RateRule("VAT", Decimal("0.19"), shipping_taxable=True)


def exclusive(
    country: RateRule | None, province: RateRule | None, goods: str, shipping: str = "0"
) -> TaxResult:
    return compute(
        country,
        province,
        taxable_amount=Decimal(goods),
        shipping_amount=Decimal(shipping),
        included=False,
    )


def inclusive(
    country: RateRule | None, province: RateRule | None, goods: str, shipping: str = "0"
) -> TaxResult:
    return compute(
        country,
        province,
        taxable_amount=Decimal(goods),
        shipping_amount=Decimal(shipping),
        included=True,
    )


class TestCombining:
    def test_a_normal_province_rate_adds_to_the_country_rate(self) -> None:
        result = exclusive(GST, PST, "100.00", "10.00")

        # GST taxes shipping, PST does not.
        assert result == TaxResult(
            lines=[
                TaxLine("GST", Decimal("0.05"), Decimal("5.50")),
                TaxLine("PST", Decimal("0.07"), Decimal("7.00")),
            ],
            total=Decimal("12.50"),
            included=False,
        )

    def test_a_harmonized_province_rate_replaces_the_country_rate(self) -> None:
        result = exclusive(GST, HST, "100.00", "10.00")

        assert result.lines == [TaxLine("HST", Decimal("0.13"), Decimal("14.30"))]
        assert result.total == Decimal("14.30")

    def test_a_compounded_province_rate_is_charged_on_the_price_plus_country_tax(self) -> None:
        result = exclusive(GST, QST, "100.00")

        # QST on 100 + 5 GST = 7.875 -> 7.88
        assert result.lines == [
            TaxLine("GST", Decimal("0.05"), Decimal("5.00")),
            TaxLine("QST", Decimal("0.075"), Decimal("7.88")),
        ]
        assert result.total == Decimal("12.88")

    def test_either_rate_alone_and_neither(self) -> None:
        assert exclusive(GST, None, "10.00").total == Decimal("0.50")
        assert exclusive(None, QST, "10.00").lines == [
            TaxLine("QST", Decimal("0.075"), Decimal("0.75"))
        ]
        assert exclusive(None, None, "10.00") == TaxResult([], Decimal("0.00"), False)

    def test_a_zero_rate_adds_no_line(self) -> None:
        zero = RateRule("Exempt", Decimal("0"), shipping_taxable=True)
        assert exclusive(zero, PST, "10.00").lines == [
            TaxLine("PST", Decimal("0.07"), Decimal("0.70"))
        ]


class TestRounding:
    def test_each_line_is_rounded_half_up_and_the_total_is_their_sum(self) -> None:
        # 2.50 * 0.05 = 0.125 -> 0.13 and 2.50 * 0.07 = 0.175 -> 0.18 (half up, not to even).
        result = exclusive(GST, PST, "2.50")

        assert [line.amount for line in result.lines] == [Decimal("0.13"), Decimal("0.18")]
        assert result.total == Decimal("0.31")

    def test_inclusive_amounts_are_rounded_too(self) -> None:
        # 10.00 - 10.00 / 1.19 = 1.5966... -> 1.60
        assert inclusive(VAT, None, "10.00").total == Decimal("1.60")


class TestInclusive:
    def test_single_rate_is_amount_minus_amount_over_one_plus_rate(self) -> None:
        result = inclusive(VAT, None, "119.00", "11.90")

        assert result == TaxResult(
            lines=[TaxLine("VAT", Decimal("0.19"), Decimal("20.90"))],
            total=Decimal("20.90"),
            included=True,
        )

    def test_two_added_rates_split_the_gross_by_their_sum(self) -> None:
        # 112 includes 5% + 7%: net 100, so 5.00 and 7.00.
        result = inclusive(GST, PST, "112.00")

        assert [line.amount for line in result.lines] == [Decimal("5.00"), Decimal("7.00")]

    def test_shipping_holds_only_the_taxes_that_apply_to_it(self) -> None:
        # Shipping 10.50 includes GST only (PST does not tax shipping): net 10, GST 0.50.
        result = inclusive(GST, PST, "0", "10.50")

        assert [line.amount for line in result.lines] == [Decimal("0.50"), Decimal("0.00")]

    def test_compounded_inclusive_recovers_the_exclusive_lines(self) -> None:
        # 100 net -> 5.00 GST, 7.875 QST -> gross 112.875; inclusive of that: the same lines.
        result = inclusive(GST, QST, "112.875")

        assert [line.amount for line in result.lines] == [Decimal("5.00"), Decimal("7.88")]


def test_refuses_negative_amounts() -> None:
    with pytest.raises(ValueError, match="never negative"):
        exclusive(GST, None, "-1.00")
