"""50 orders pay 10.00 each with one 100.00 gift card (PostgreSQL, committed sessions)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from shopdb.db import Database
from shopdb.gift_cards import codes
from shopdb.gift_cards.errors import GiftCardEmpty
from shopdb.gift_cards.service import debit_gift_cards
from shopdb.kit.types import utcnow
from shopdb.models import GiftCard
from shopdb.models.discounts import GiftCardTransaction

pytestmark = pytest.mark.postgres_only


async def test_the_card_pays_exactly_its_balance_and_never_more(live_postgres: Database) -> None:
    code = uuid.uuid4().hex[:16]
    async with live_postgres.session() as session:
        card = GiftCard(
            code=codes.digest(code),
            last_characters=codes.last_characters(code),
            initial_value=Decimal("100.00"),
            balance=Decimal("100.00"),
            currency="USD",
            status="active",
        )
        session.add(card)
        await session.flush()
        session.add(GiftCardTransaction(gift_card_id=card.id, amount=card.balance, kind="issue"))
        card_id = card.id
    start = asyncio.Event()

    async def order(number: int) -> Decimal:
        async with live_postgres.session() as session:
            await start.wait()
            [debit] = await debit_gift_cards(
                session,
                [code.upper()],
                amount_due=Decimal("10.00"),
                currency="USD",
                order_id=number,
                now=utcnow(),
            )
            return debit.amount

    racing = [asyncio.create_task(order(n)) for n in range(50)]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*racing, return_exceptions=True)

    unexpected = [
        o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, GiftCardEmpty)
    ]
    assert unexpected == []
    paid = [o for o in outcomes if isinstance(o, Decimal)]
    assert paid == [Decimal("10.00")] * 10
    async with live_postgres.session() as session:
        balance = await session.scalar(select(GiftCard.balance).where(GiftCard.id == card_id))
        debits = await session.execute(
            select(func.count(), func.sum(GiftCardTransaction.amount)).where(
                GiftCardTransaction.gift_card_id == card_id, GiftCardTransaction.kind == "debit"
            )
        )
        ledger = await session.scalar(
            select(func.sum(GiftCardTransaction.amount)).where(
                GiftCardTransaction.gift_card_id == card_id
            )
        )
    assert balance == Decimal("0.00")
    assert tuple(debits.one()) == (10, Decimal("-100.00"))
    assert ledger == balance
