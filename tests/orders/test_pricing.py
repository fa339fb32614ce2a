"""The pricing arithmetic, for any lines and adjustments: the identities hold to the cent."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from shopdb.orders.pricing import (
    CatalogLine,
    allocate,
    compute_totals,
    grams,
    quantum,
    to_minor_units,
)

cents = st.integers(min_value=0, max_value=9_999_999).map(lambda c: Decimal(c).scaleb(-2))
amounts = st.integers(min_value=0, max_value=99_999_999).map(lambda c: Decimal(c).scaleb(-2))


def line(price: Decimal, quantity: int, *, taxable: bool = True, n: int = 0) -> CatalogLine:
    return CatalogLine(
        variant_id=n + 1,
        product_id=1,
        title="Tee",
        variant_title=None,
        sku=None,
        price=price,
        quantity=quantity,
        grams=0,
        taxable=taxable,
        requires_shipping=True,
        inventory_item_id=None,
        tracked=False,
        field=f"lineItems[{n}]",
    )


lines_strategy = st.lists(
    st.tuples(cents, st.integers(min_value=1, max_value=1000), st.booleans()),
    min_size=1,
    max_size=12,
).map(lambda rows: [line(p, q, taxable=t, n=i) for i, (p, q, t) in enumerate(rows)])


class TestIdentities:
    @settings(max_examples=400, deadline=None)
    @given(
        lines=lines_strategy,
        discount=amounts,
        shipping=amounts,
        tax=amounts,
        included=st.booleans(),
    )
    def test_totals_reconcile(
        self,
        lines: list[CatalogLine],
        discount: Decimal,
        shipping: Decimal,
        tax: Decimal,
        included: bool,
    ) -> None:
        totals = compute_totals(
            lines,
            currency="USD",
            discount=discount,
            shipping=shipping,
            tax=tax,
            taxes_included=included,
        )

        assert sum(p.total for p in totals.lines) == totals.subtotal
        assert sum(p.discount for p in totals.lines) == totals.discount
        assert totals.discount == min(discount, totals.subtotal)
        assert all(Decimal(0) <= p.discount <= p.total for p in totals.lines)
        added_tax = Decimal(0) if included else totals.tax
        assert totals.total == totals.subtotal - totals.discount + totals.shipping + added_tax
        assert totals.total >= 0
        for value in (totals.subtotal, totals.discount, totals.shipping, totals.tax, totals.total):
            assert value == value.quantize(Decimal("0.01"))

    @settings(max_examples=300, deadline=None)
    @given(
        amount=amounts,
        weights=st.lists(cents, min_size=1, max_size=20),
    )
    def test_allocation_adds_up_and_follows_the_weights(
        self, amount: Decimal, weights: list[Decimal]
    ) -> None:
        shares = allocate(amount, weights, "USD")

        if sum(weights) == 0:
            assert all(s == 0 for s in shares)
            return
        assert sum(shares) == amount
        total = sum(weights)
        for share, weight in zip(shares, weights, strict=True):
            # Never more than one cent away from the exact proportion.
            assert abs(share - amount * weight / total) < Decimal("0.01")

    @given(amount=st.integers(min_value=0, max_value=10**9), units=st.sampled_from(["JPY", "USD"]))
    def test_rounding_is_to_the_currency_minor_units(self, amount: int, units: str) -> None:
        value = Decimal(amount).scaleb(-3)
        rounded = to_minor_units(value, units)
        assert rounded == rounded.quantize(quantum(units))
        assert abs(rounded - value) <= quantum(units) / 2


class TestExamples:
    def test_a_third_off_three_equal_lines_splits_the_odd_cent(self) -> None:
        totals = compute_totals(
            [line(Decimal("10.00"), 1, n=i) for i in range(3)],
            currency="USD",
            discount=Decimal("10.00"),
        )
        assert [p.discount for p in totals.lines] == [
            Decimal("3.34"),
            Decimal("3.33"),
            Decimal("3.33"),
        ]

    def test_half_a_cent_rounds_up(self) -> None:
        assert to_minor_units(Decimal("0.125"), "USD") == Decimal("0.13")
        assert to_minor_units(Decimal("2.5"), "JPY") == Decimal("3")

    def test_a_discount_above_the_subtotal_stops_at_zero_and_spares_shipping_and_tax(
        self,
    ) -> None:
        totals = compute_totals(
            [line(Decimal("5.00"), 2)],
            currency="USD",
            discount=Decimal("50.00"),
            shipping=Decimal("4.00"),
            tax=Decimal("0.40"),
        )
        assert (totals.discount, totals.total) == (Decimal("10.00"), Decimal("4.40"))

    def test_weights_in_grams(self) -> None:
        assert grams(Decimal("0.2"), "kg") == 200
        assert grams(Decimal("1"), "lb") == 454
        assert grams(Decimal("3"), "oz") == 85
        assert grams(None, "kg") == 0
