"""What checkout calls: preview, debit and credit gift cards (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ShopdbError
from shopdb.gift_cards import codes
from shopdb.gift_cards.errors import (
    GiftCardCurrencyMismatch,
    GiftCardDisabled,
    GiftCardEmpty,
    GiftCardExpired,
    GiftCardListedTwice,
    GiftCardNotFound,
    GiftCardUnknown,
)
from shopdb.gift_cards.service import (
    GiftCardDebit,
    credit_gift_card,
    debit_gift_cards,
    hash_plaintext_codes,
    lookup_gift_card,
    preview_gift_cards,
)
from shopdb.kit.types import utcnow
from shopdb.models import Event, GiftCard
from shopdb.models.discounts import GiftCardTransaction

NOW = utcnow()


async def a_card(session: AsyncSession, code: str, balance: str, **fields: Any) -> GiftCard:
    values: dict[str, Any] = {
        "code": codes.digest(code),
        "last_characters": codes.last_characters(code),
        "initial_value": Decimal(balance) if Decimal(balance) > 0 else Decimal(1),
        "balance": Decimal(balance),
        "currency": "USD",
        "status": "active",
    }
    card = GiftCard(**{**values, **fields})
    session.add(card)
    await session.flush()
    return card


async def balance(session: AsyncSession, card_id: int) -> Decimal:
    found = await session.scalar(select(GiftCard.balance).where(GiftCard.id == card_id))
    assert found is not None
    return Decimal(found)


async def ledger(session: AsyncSession, card_id: int) -> list[tuple[str, Decimal, int | None]]:
    rows = await session.execute(
        select(GiftCardTransaction.kind, GiftCardTransaction.amount, GiftCardTransaction.order_id)
        .where(GiftCardTransaction.gift_card_id == card_id)
        .order_by(GiftCardTransaction.id)
    )
    return [(kind, Decimal(amount), order_id) for kind, amount, order_id in rows]


def _details(error: ShopdbError) -> tuple[int, str, list[str]]:
    return error.status_code, error.code, [d["field"] for d in error.details]


class TestDebit:
    async def test_each_card_in_turn_pays_what_is_still_due(self, db_session: AsyncSession) -> None:
        first = await a_card(db_session, "firstcard01", "30.00")
        second = await a_card(db_session, "secondcard2", "50.00")
        third = await a_card(db_session, "thirdcard03", "10.00")

        debits = await debit_gift_cards(
            db_session,
            ["SECONDCARD2", "first-card-01", "thirdcard03"],
            amount_due=Decimal("65.00"),
            currency="USD",
            order_id=4242,
            now=NOW,
        )

        assert debits == [
            GiftCardDebit(second.id, "ard2", Decimal("50.00")),
            GiftCardDebit(first.id, "rd01", Decimal("15.00")),
        ]
        assert await balance(db_session, first.id) == Decimal("15.00")
        assert await balance(db_session, second.id) == Decimal("0.00")
        assert await balance(db_session, third.id) == Decimal("10.00")
        assert await ledger(db_session, first.id) == [("debit", Decimal("-15.00"), 4242)]
        assert await ledger(db_session, third.id) == []
        events = await db_session.scalar(
            select(func.count(Event.id)).where(
                Event.topic == "gift_cards/update", Event.subject_type == "GiftCard"
            )
        )
        assert events == 2

    async def test_pays_part_when_the_cards_hold_less_than_is_due(
        self, db_session: AsyncSession
    ) -> None:
        card = await a_card(db_session, "partialpay1", "12.34")

        debits = await debit_gift_cards(
            db_session,
            ["partialpay1"],
            amount_due=Decimal("100"),
            currency="USD",
            order_id=None,
            now=NOW,
        )

        assert debits == [GiftCardDebit(card.id, "pay1", Decimal("12.34"))]
        assert await balance(db_session, card.id) == Decimal("0.00")

    @pytest.mark.parametrize(
        ("fields", "balance_", "error"),
        [
            ({"status": "disabled"}, "10", GiftCardDisabled),
            ({"expires_at": NOW}, "10", GiftCardExpired),
            ({"currency": "EUR"}, "10", GiftCardCurrencyMismatch),
            ({}, "0", GiftCardEmpty),
        ],
    )
    async def test_a_card_that_cannot_pay_refuses_the_whole_debit(
        self,
        db_session: AsyncSession,
        fields: dict[str, Any],
        balance_: str,
        error: type[ShopdbError],
    ) -> None:
        good = await a_card(db_session, "goodcard001", "50.00")
        await a_card(db_session, "badcard0001", balance_, **fields)

        with pytest.raises(error) as refused:
            await debit_gift_cards(
                db_session,
                ["goodcard001", "badcard0001"],
                amount_due=Decimal("20"),
                currency="USD",
                order_id=1,
                now=NOW,
                field="payment.giftCardCodes",
            )

        assert _details(refused.value) == (422, error.code, ["payment.giftCardCodes[1]"])
        assert await balance(db_session, good.id) == Decimal("50.00")
        assert await ledger(db_session, good.id) == []

    async def test_unknown_malformed_and_repeated_codes_are_refused(
        self, db_session: AsyncSession
    ) -> None:
        await a_card(db_session, "knowncard01", "50.00")

        def attempt(codes_: list[str]) -> Any:
            return debit_gift_cards(
                db_session, codes_, amount_due=Decimal(1), currency="USD", order_id=None, now=NOW
            )

        with pytest.raises(GiftCardUnknown) as unknown:
            await attempt(["knowncard01", "unknowncard"])
        with pytest.raises(GiftCardUnknown) as malformed:
            await attempt(["??"])
        with pytest.raises(GiftCardListedTwice) as twice:
            await attempt(["knowncard01", "KNOWNCARD01"])

        assert _details(unknown.value) == (422, "GIFT_CARD_NOT_FOUND", ["giftCardCodes[1]"])
        assert _details(malformed.value) == (422, "GIFT_CARD_NOT_FOUND", ["giftCardCodes[0]"])
        assert _details(twice.value) == (422, "GIFT_CARD_DUPLICATE", ["giftCardCodes[1]"])

    async def test_preview_says_the_same_and_takes_nothing(self, db_session: AsyncSession) -> None:
        card = await a_card(db_session, "previewcard", "30.00")

        previewed = await preview_gift_cards(
            db_session, ["previewcard"], amount_due=Decimal("12.5"), currency="USD", now=NOW
        )

        assert previewed == [GiftCardDebit(card.id, "card", Decimal("12.50"))]
        assert await balance(db_session, card.id) == Decimal("30.00")
        assert await ledger(db_session, card.id) == []
        with pytest.raises(GiftCardCurrencyMismatch):
            await preview_gift_cards(
                db_session, ["previewcard"], amount_due=Decimal(1), currency="EUR", now=NOW
            )

    async def test_nothing_due_takes_nothing(self, db_session: AsyncSession) -> None:
        card = await a_card(db_session, "nothingdue1", "30.00")

        debits = await debit_gift_cards(
            db_session, ["nothingdue1"], amount_due=Decimal(0), currency="USD", order_id=1, now=NOW
        )

        assert debits == []
        assert await balance(db_session, card.id) == Decimal("30.00")


class TestCredit:
    async def test_credits_back_even_a_disabled_card_and_the_ledger_adds_up(
        self, db_session: AsyncSession
    ) -> None:
        card = await a_card(db_session, "creditcard1", "40.00")
        db_session.add(
            GiftCardTransaction(gift_card_id=card.id, amount=Decimal("40.00"), kind="issue")
        )
        await debit_gift_cards(
            db_session, ["creditcard1"], amount_due=Decimal(25), currency="USD", order_id=7, now=NOW
        )
        card.status = "disabled"
        await db_session.flush()

        await credit_gift_card(db_session, card.id, Decimal("25.00"), order_id=7, reason="refund")

        assert await balance(db_session, card.id) == Decimal("40.00")
        rows = await ledger(db_session, card.id)
        assert rows == [
            ("issue", Decimal("40.00"), None),
            ("debit", Decimal("-25.00"), 7),
            ("credit", Decimal("25.00"), 7),
        ]
        assert sum(amount for _kind, amount, _order in rows) == await balance(db_session, card.id)

    async def test_an_unknown_card_or_a_non_positive_amount_is_refused(
        self, db_session: AsyncSession
    ) -> None:
        card = await a_card(db_session, "creditcard2", "1.00")
        with pytest.raises(GiftCardNotFound):
            await credit_gift_card(db_session, 987654, Decimal(1), order_id=None, reason="x")
        with pytest.raises(ShopdbError) as refused:
            await credit_gift_card(db_session, card.id, Decimal(0), order_id=None, reason="x")
        assert refused.value.status_code == 400
        assert await balance(db_session, card.id) == Decimal("1.00")


class TestPlaintextCodes:
    async def test_codes_stored_before_hashing_are_hashed_once(
        self, db_session: AsyncSession
    ) -> None:
        await db_session.execute(
            text(
                "INSERT INTO gift_cards (code, initial_value, balance, currency, status,"
                " last_characters, version, created_at, updated_at) VALUES ('OldCard-1234',"
                " 10, 10, 'USD', 'active', '1234', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )

        assert await hash_plaintext_codes(db_session) == 1
        assert await hash_plaintext_codes(db_session) == 0
        found = await lookup_gift_card(db_session, "oldcard1234")
        assert found.code == codes.digest("oldcard1234")
        assert found.last_characters == "1234"
