"""The arithmetic of presentment prices (markets/rules.py): each rounding rule, and the
identities of converted orders for any input (hypothesis)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopdb.markets.rules import convert, present_price, rule_problem, total_of

D = Decimal


class TestRoundingRules:
    @pytest.mark.parametrize(
        ("price", "rate", "rule", "expected"),
        [
            ("10.00", "1.23456789", "none", "12.35"),
            ("10.00", "1.23449", "none", "12.34"),
            ("10.00", "1.23449", "nearest_0_05", "12.35"),
            ("10.00", "1.2320", "nearest_0_05", "12.30"),
            ("10.00", "1.2325", "nearest_0_05", "12.35"),
            ("10.00", "1.23449", "nearest_whole", "12.00"),
            ("10.00", "1.25", "nearest_whole", "13.00"),
            ("10.00", "1.23449", "up_to_0_99", "12.99"),
            ("10.00", "1.299", "up_to_0_99", "12.99"),
            ("10.00", "1.2996", "up_to_0_99", "13.99"),  # 12.996 -> 13.00 -> 13.99
            ("10.00", "1.30", "up_to_0_99", "13.99"),
            ("10.00", "1.2051", "up_to_whole", "13.00"),
            ("10.00", "1.2", "up_to_whole", "12.00"),
        ],
    )
    def test_each_rule_on_a_converted_price(
        self, price: str, rate: str, rule: str, expected: str
    ) -> None:
        assert present_price(D(price), D(rate), "EUR", rule) == D(expected)
        assert str(present_price(D(price), D(rate), "EUR", rule)) == expected

    def test_the_rule_applies_to_the_amount_in_cents(self) -> None:
        # 12.0001 is 12.00 in cents: not pushed up to 13 by a ten-thousandth.
        assert present_price(D("10.00"), D("1.20001"), "EUR", "up_to_whole") == D("12.00")
        assert present_price(D("10.00"), D("1.2991"), "EUR", "up_to_0_99") == D("12.99")

    @pytest.mark.parametrize(
        "rule", ["none", "nearest_0_05", "nearest_whole", "up_to_0_99", "up_to_whole"]
    )
    def test_a_free_item_stays_free(self, rule: str) -> None:
        assert present_price(D("0.00"), D("1.5"), "EUR", rule) == D("0.00")

    def test_a_cheap_item_never_rounds_to_free(self) -> None:
        assert present_price(D("0.01"), D("1"), "EUR", "nearest_0_05") == D("0.05")
        assert present_price(D("0.30"), D("1"), "EUR", "nearest_whole") == D("1.00")

    def test_a_currency_without_cents(self) -> None:
        assert present_price(D("19.99"), D("151.237"), "JPY", "none") == D("3023")
        assert present_price(D("19.99"), D("151.237"), "JPY", "up_to_whole") == D("3023")
        assert present_price(D("19.99"), D("151.237"), "JPY", "nearest_whole") == D("3023")

    def test_fractional_rules_need_cents(self) -> None:
        assert (
            rule_problem("up_to_0_99", "JPY") == "needs a currency with minor units; JPY has none"
        )
        assert rule_problem("nearest_0_05", "JPY") is not None
        assert rule_problem("up_to_whole", "JPY") is None
        assert rule_problem("up_to_0_99", "EUR") is None
        assert rule_problem("sideways", "EUR") is not None


class TestConvert:
    def test_an_order_with_an_awkward_rate(self) -> None:
        converted = convert(
            [(D("19.99"), 3), (D("7.33"), 1)],
            rate=D("0.91234567"),
            currency="EUR",
            rule="none",
            shop_subtotal=D("67.30"),
            shop_discount=D("6.73"),
            shop_shipping=D("4.95"),
        )
        # 19.99 x 0.91234567 = 18.2378... -> 18.24; 7.33 x ... = 6.6874... -> 6.69
        assert [line.price for line in converted.lines] == [D("18.24"), D("6.69")]
        assert [line.total for line in converted.lines] == [D("54.72"), D("6.69")]
        assert converted.subtotal == D("61.41")
        # the same tenth of the presentment subtotal: 6.141 -> 6.14
        assert converted.discount == D("6.14")
        assert sum(line.discount for line in converted.lines) == D("6.14")
        assert converted.shipping == D("4.52")  # 4.95 x 0.91234567 = 4.5161...
        assert total_of(converted, D("1.00"), taxes_included=False) == D("60.79")
        assert total_of(converted, D("1.00"), taxes_included=True) == D("59.79")


prices = st.decimals(min_value=D("0"), max_value=D("9999.99"), places=2)
rates = st.decimals(min_value=D("0.00000001"), max_value=D("30000"), places=8).filter(
    lambda r: r > 0
)
rules_ = st.sampled_from(["none", "nearest_0_05", "nearest_whole", "up_to_0_99", "up_to_whole"])


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.tuples(prices, st.integers(1, 50)), min_size=1, max_size=6),
    rate=rates,
    rule=rules_,
    discount_share=st.decimals(min_value=D("0"), max_value=D("1"), places=4),
    shipping=prices,
    tax=prices,
    included=st.booleans(),
)
def test_converted_orders_add_up_exactly(
    lines: list[tuple[Decimal, int]],
    rate: Decimal,
    rule: str,
    discount_share: Decimal,
    shipping: Decimal,
    tax: Decimal,
    included: bool,
) -> None:
    shop_subtotal = sum((p * q for p, q in lines), D(0))
    shop_discount = (shop_subtotal * discount_share).quantize(D("0.01"))
    converted = convert(
        lines,
        rate=rate,
        currency="EUR",
        rule=rule,
        shop_subtotal=shop_subtotal,
        shop_discount=shop_discount,
        shop_shipping=shipping,
    )
    step = D("0.01")
    for line, (_, quantity) in zip(converted.lines, lines, strict=True):
        assert line.price == line.price.quantize(step)
        assert line.price >= 0
        assert line.total == line.price * quantity
        assert 0 <= line.discount <= line.total
    assert converted.subtotal == sum((line.total for line in converted.lines), D(0))
    assert converted.discount == sum((line.discount for line in converted.lines), D(0))
    assert 0 <= converted.discount <= converted.subtotal
    total = total_of(converted, tax, taxes_included=included)
    expected = converted.subtotal - converted.discount + converted.shipping
    assert total == (expected if included else expected + tax)
    assert total >= 0
