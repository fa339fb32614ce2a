"""The database itself refuses what the API never writes (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.types import utcnow
from shopdb.models import DiscountCode, GiftCard
from shopdb.models.discounts import GiftCardTransaction

NOW = utcnow()
CODE: dict[str, Any] = {"code": "C", "type": "percentage", "value": Decimal(10)}
CARD: dict[str, Any] = {
    "code": "h" * 64,
    "last_characters": "hhhh",
    "initial_value": Decimal(10),
    "balance": Decimal(10),
    "currency": "USD",
}


async def refused(session: AsyncSession, row: Any) -> bool:
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return True
    return False


@pytest.mark.parametrize(
    "fields",
    [
        {"type": "bogo"},
        {"value": Decimal("100.01")},
        {"value": Decimal(0)},
        {"type": "fixed_amount", "value": Decimal(5)},  # no currency
        {"type": "free_shipping", "value": Decimal(5)},
        {"usage_limit": 0},
        {"usage_limit": 2, "used_count": 3},
        {"used_count": -1},
        {"minimum_amount": Decimal(-1)},
        {"starts_at": NOW, "ends_at": NOW},
    ],
)
async def test_discount_code_rules(db_session: AsyncSession, fields: dict[str, Any]) -> None:
    assert await refused(db_session, DiscountCode(**{**CODE, **fields}))


async def test_codes_are_unique_in_any_letter_case(db_session: AsyncSession) -> None:
    assert not await refused(db_session, DiscountCode(**{**CODE, "code": "Same"}))
    assert await refused(db_session, DiscountCode(**{**CODE, "code": "SAME"}))


@pytest.mark.parametrize(
    "fields", [{"balance": Decimal("-0.01")}, {"initial_value": Decimal(0)}, {"status": "gone"}]
)
async def test_gift_card_rules(db_session: AsyncSession, fields: dict[str, Any]) -> None:
    assert await refused(db_session, GiftCard(**{**CARD, **fields}))


async def test_a_balance_may_exceed_the_initial_value(db_session: AsyncSession) -> None:
    assert not await refused(db_session, GiftCard(**{**CARD, "balance": Decimal(20)}))


async def test_ledger_rows_have_a_kind_and_an_amount(db_session: AsyncSession) -> None:
    card = GiftCard(**CARD)
    assert not await refused(db_session, card)
    row: dict[str, Any] = {"gift_card_id": card.id, "amount": Decimal(1), "kind": "issue"}
    assert await refused(db_session, GiftCardTransaction(**{**row, "kind": "gift"}))
    assert await refused(db_session, GiftCardTransaction(**{**row, "amount": Decimal(0)}))
    assert not await refused(db_session, GiftCardTransaction(**row))
