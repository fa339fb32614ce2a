"""What checkout calls: price, preview, redeem and release a code (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.discounts.errors import (
    DiscountCodeNotActive,
    DiscountCodeUnknown,
    DiscountCurrencyMismatch,
    DiscountMinimumNotMet,
    DiscountUsageLimitReached,
)
from shopdb.discounts.service import (
    DiscountApplication,
    preview_discount_code,
    price_discount,
    redeem_discount_code,
    release_discount_code,
)
from shopdb.errors import ShopdbError
from shopdb.kit.types import utcnow
from shopdb.models import DiscountCode

NOW = utcnow()


async def a_code(session: AsyncSession, **fields: Any) -> DiscountCode:
    values: dict[str, Any] = {"code": "Save10", "type": "percentage", "value": Decimal("10.00")}
    code = DiscountCode(**{**values, **fields})
    session.add(code)
    await session.flush()
    return code


async def used_count(session: AsyncSession, code_id: int) -> int:
    found = await session.scalar(select(DiscountCode.used_count).where(DiscountCode.id == code_id))
    assert found is not None
    return found


def _details(error: ShopdbError) -> tuple[int, str, list[str]]:
    return error.status_code, error.code, [d["field"] for d in error.details]


class TestPrice:
    @pytest.mark.parametrize(
        ("type_", "value", "currency", "subtotal", "expected"),
        [
            ("percentage", "12.50", None, "0.20", "0.03"),  # 0.025 rounds half up
            ("percentage", "33.33", None, "100.00", "33.33"),
            ("percentage", "100", None, "19.99", "19.99"),
            ("fixed_amount", "15.00", "USD", "40.00", "15.00"),
            ("fixed_amount", "15.00", "USD", "9.99", "9.99"),  # never above the subtotal
            ("free_shipping", "0", None, "50.00", "0.00"),
            ("percentage", "10", None, "0", "0.00"),
        ],
    )
    def test_takes_off_what_the_type_says(
        self, type_: str, value: str, currency: str | None, subtotal: str, expected: str
    ) -> None:
        code = DiscountCode(code="X", type=type_, value=Decimal(value), currency=currency)

        amount = price_discount(code, subtotal=Decimal(subtotal), currency="USD")

        assert amount == Decimal(expected)
        assert str(amount) == expected

    def test_a_code_for_another_currency_is_refused(self) -> None:
        code = DiscountCode(code="X", type="fixed_amount", value=Decimal(5), currency="EUR")

        with pytest.raises(DiscountCurrencyMismatch):
            price_discount(code, subtotal=Decimal(10), currency="USD")


class TestRedeem:
    async def test_counts_one_use_and_says_what_it_takes_off(
        self, db_session: AsyncSession
    ) -> None:
        code = await a_code(db_session, usage_limit=2, minimum_amount=Decimal("20.00"))

        applied = await redeem_discount_code(
            db_session, "  SAVE10 ", subtotal=Decimal("25.55"), currency="USD", now=NOW
        )

        assert applied == DiscountApplication(
            discount_code_id=code.id,
            code="Save10",
            type="percentage",
            value=Decimal("10.00"),
            amount=Decimal("2.56"),
            free_shipping=False,
        )
        assert await used_count(db_session, code.id) == 1

    async def test_free_shipping_takes_nothing_off_the_subtotal(
        self, db_session: AsyncSession
    ) -> None:
        code = await a_code(db_session, code="SHIP", type="free_shipping", value=Decimal(0))

        applied = await redeem_discount_code(
            db_session, "ship", subtotal=Decimal(10), currency="USD", now=NOW
        )

        assert (applied.amount, applied.free_shipping) == (Decimal("0.00"), True)
        assert await used_count(db_session, code.id) == 1

    @pytest.mark.parametrize(
        ("fields", "subtotal", "currency", "error", "status"),
        [
            ({"starts_at": NOW + timedelta(minutes=1)}, "50", "USD", DiscountCodeNotActive, 422),
            ({"ends_at": NOW}, "50", "USD", DiscountCodeNotActive, 422),
            ({"minimum_amount": Decimal("50.01")}, "50", "USD", DiscountMinimumNotMet, 422),
            ({"currency": "EUR"}, "50", "USD", DiscountCurrencyMismatch, 422),
            ({"usage_limit": 1, "used_count": 1}, "50", "USD", DiscountUsageLimitReached, 409),
            ({"deleted_at": NOW}, "50", "USD", DiscountCodeUnknown, 422),
        ],
    )
    async def test_refuses_with_the_rule_it_breaks_and_counts_nothing(
        self,
        db_session: AsyncSession,
        fields: dict[str, Any],
        subtotal: str,
        currency: str,
        error: type[ShopdbError],
        status: int,
    ) -> None:
        code = await a_code(db_session, **fields)
        before = await used_count(db_session, code.id)

        with pytest.raises(error) as refused:
            await redeem_discount_code(
                db_session,
                "save10",
                subtotal=Decimal(subtotal),
                currency=currency,
                now=NOW,
                field="checkout.discountCode",
            )

        assert _details(refused.value) == (status, error.code, ["checkout.discountCode"])
        assert await used_count(db_session, code.id) == before

    async def test_an_unknown_code_is_422_naming_the_field(self, db_session: AsyncSession) -> None:
        with pytest.raises(DiscountCodeUnknown) as refused:
            await redeem_discount_code(
                db_session, "NOPE", subtotal=Decimal(1), currency="USD", now=NOW
            )
        assert _details(refused.value) == (422, "DISCOUNT_CODE_NOT_FOUND", ["discountCode"])

    async def test_the_limit_admits_exactly_that_many_uses(self, db_session: AsyncSession) -> None:
        code = await a_code(db_session, usage_limit=3)

        outcomes = []
        for _ in range(5):
            try:
                await redeem_discount_code(
                    db_session, "SAVE10", subtotal=Decimal(10), currency="USD", now=NOW
                )
                outcomes.append("used")
            except DiscountUsageLimitReached:
                outcomes.append("refused")

        assert outcomes == ["used"] * 3 + ["refused"] * 2
        assert await used_count(db_session, code.id) == 3

    async def test_the_window_is_start_inclusive_and_end_exclusive(
        self, db_session: AsyncSession
    ) -> None:
        start: datetime = NOW - timedelta(days=1)
        await a_code(db_session, starts_at=start, ends_at=NOW + timedelta(days=1))

        at_start = await redeem_discount_code(
            db_session, "save10", subtotal=Decimal(10), currency="USD", now=start
        )
        with pytest.raises(DiscountCodeNotActive):
            await redeem_discount_code(
                db_session,
                "save10",
                subtotal=Decimal(10),
                currency="USD",
                now=NOW + timedelta(days=1),
            )

        assert at_start.amount == Decimal("1.00")


class TestReleaseAndPreview:
    async def test_release_gives_a_use_back_and_never_goes_below_zero(
        self, db_session: AsyncSession
    ) -> None:
        code = await a_code(db_session, usage_limit=1, used_count=1)

        await release_discount_code(db_session, code.id)
        await release_discount_code(db_session, code.id)

        assert await used_count(db_session, code.id) == 0
        again = await redeem_discount_code(
            db_session, "SAVE10", subtotal=Decimal(10), currency="USD", now=NOW
        )
        assert again.discount_code_id == code.id

    async def test_preview_applies_every_rule_and_counts_nothing(
        self, db_session: AsyncSession
    ) -> None:
        code = await a_code(db_session, usage_limit=1)

        previewed = await preview_discount_code(
            db_session, "save10", subtotal=Decimal("30.00"), currency="USD", now=NOW
        )
        assert previewed.amount == Decimal("3.00")
        assert await used_count(db_session, code.id) == 0

        await redeem_discount_code(
            db_session, "save10", subtotal=Decimal("30.00"), currency="USD", now=NOW
        )
        with pytest.raises(DiscountUsageLimitReached):
            await preview_discount_code(
                db_session, "save10", subtotal=Decimal("30.00"), currency="USD", now=NOW
            )
        code.minimum_amount = Decimal(100)
        await db_session.flush()
        with pytest.raises(DiscountMinimumNotMet):
            await preview_discount_code(
                db_session, "save10", subtotal=Decimal("30.00"), currency="USD", now=NOW
            )
