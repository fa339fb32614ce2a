"""The payment terms' pure rules: the early-payment discount's window, the late fee after the
due date, what is due now and what settling releases (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from shopdb.companies import terms
from shopdb.models import Order, OrderTransaction

PLACED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
TERMS: dict[str, Any] = {
    "netDays": 30,
    "discountPercentage": "2.00",
    "earlyPaymentDiscountDays": 10,
    "latePaymentFeePercentage": "1.50",
}


def order(total: str = "333.33", **fields: Any) -> Order:
    values: dict[str, Any] = {
        "total_price": Decimal(total),
        "processed_at": PLACED,
        "payment_due_at": PLACED + timedelta(days=30),
        "payment_terms": dict(TERMS),
        "credit_held": Decimal(total),
        "financial_status": "pending",
        "early_payment_discount": Decimal(0),
        "late_fee": Decimal(0),
        "cancelled_at": None,
        **fields,
    }
    return Order(**values)


class TestEarlyPaymentDiscount:
    @pytest.mark.parametrize(
        ("after", "discount"),
        [
            (timedelta(0), "6.67"),  # 2% of 333.33 = 6.6666, half-even to cents
            (timedelta(days=10), "6.67"),  # the window's last instant
            (timedelta(days=10, microseconds=1), "0"),
            (timedelta(days=29), "0"),
        ],
    )
    def test_applies_within_the_window_only(self, after: timedelta, discount: str) -> None:
        assert terms.early_payment_discount(order(), PLACED + after) == Decimal(discount)

    def test_none_without_a_window_or_a_percentage(self) -> None:
        no_window = order(payment_terms={**TERMS, "earlyPaymentDiscountDays": None})
        no_percent = order(payment_terms={**TERMS, "discountPercentage": "0.00"})
        assert terms.early_payment_discount(no_window, PLACED) == 0
        assert terms.early_payment_discount(no_percent, PLACED) == 0
        assert terms.early_payment_discount(order(payment_terms=None), PLACED) == 0


class TestLateFee:
    @pytest.mark.parametrize(
        ("after", "fee"),
        [
            (timedelta(days=30), "0"),  # due that instant: not late yet
            (timedelta(days=30, microseconds=1), "5.00"),  # 1.5% of 333.33 = 4.99995
            (timedelta(days=90), "5.00"),
        ],
    )
    def test_applies_after_the_due_date(self, after: timedelta, fee: str) -> None:
        assert terms.late_fee(order(), PLACED + after) == Decimal(fee)

    def test_none_without_a_percentage(self) -> None:
        free = order(payment_terms={**TERMS, "latePaymentFeePercentage": None})
        assert terms.late_fee(free, PLACED + timedelta(days=60)) == 0


class TestAmountDue:
    def test_is_the_total_less_the_discount_or_plus_the_fee_less_what_was_paid(self) -> None:
        placed = order("100.00")
        assert terms.amount_due_now(placed, Decimal(0), PLACED) == Decimal("98.00")
        assert terms.amount_due_now(placed, Decimal(0), PLACED + timedelta(days=15)) == 100
        late = PLACED + timedelta(days=31)
        assert terms.amount_due_now(placed, Decimal("40.00"), late) == Decimal("61.50")

    def test_nothing_once_paid_or_cancelled(self) -> None:
        assert terms.amount_due_now(order(financial_status="paid"), Decimal(0), PLACED) == 0
        assert terms.amount_due_now(order(cancelled_at=PLACED), Decimal(0), PLACED) == 0

    def test_the_payment_decides_the_discount_and_the_fee_on_the_order(self) -> None:
        placed = order("100.00")
        terms.price_terms_payment(placed, PLACED + timedelta(days=1))
        assert (placed.early_payment_discount, placed.late_fee) == (Decimal("2.00"), Decimal(0))
        terms.price_terms_payment(placed, PLACED + timedelta(days=45))
        assert (placed.early_payment_discount, placed.late_fee) == (Decimal(0), Decimal("1.50"))
        paid = order("100.00", financial_status="paid", early_payment_discount=Decimal("2.00"))
        terms.price_terms_payment(paid, PLACED + timedelta(days=45))
        assert (paid.early_payment_discount, paid.late_fee) == (Decimal("2.00"), Decimal(0))


class TestCaptured:
    def test_counts_successful_captures_and_sales_only(self) -> None:
        placed = order("100.00")
        placed.transactions = [
            OrderTransaction(kind="sale", status="success", amount=Decimal("30.00")),
            OrderTransaction(kind="sale", status="failure", amount=Decimal("70.00")),
            OrderTransaction(kind="sale", status="pending", amount=Decimal("70.00")),
            OrderTransaction(kind="capture", status="success", amount=Decimal("20.00")),
        ]
        assert terms.captured_of(placed) == Decimal("50.00")
