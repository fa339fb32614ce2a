"""Gift cards: issue, read, change, disable, adjust; and what checkout calls.

The code is shown once, in the creation's response; the database keeps its keyed hash
(shopdb.gift_cards.codes) and its last four characters. Every change of a balance writes a
`gift_card_transactions` row in the same transaction (signed amounts: the sum of a card's
rows is its balance). A balance never goes below zero (CHECK and the rules here); it may be
adjusted above the initial value, as Shopify's credits may, up to what the column holds.

Checkout's functions (`debit_gift_cards`, `preview_gift_cards`, `credit_gift_card`) run in the
caller's transaction and never commit. A debit locks the cards it names in ascending id order
(SELECT ... FOR UPDATE) and reads their balances under the lock, so concurrent orders paying
with one card each take what is left and never more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers.errors import CustomerNotFound
from shopdb.customers.service import load_customer
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.gift_cards import codes as code_rules
from shopdb.gift_cards.errors import (
    GiftCardCodeTaken,
    GiftCardCurrencyMismatch,
    GiftCardCustomerLocked,
    GiftCardDisabled,
    GiftCardDisabledForAdjustment,
    GiftCardEmpty,
    GiftCardExpired,
    GiftCardInsufficientFunds,
    GiftCardLimitExceeded,
    GiftCardListedTwice,
    GiftCardLookupMissed,
    GiftCardNotFound,
    GiftCardUnknown,
)
from shopdb.gift_cards.repository import GiftCardFilter, GiftCardRepository
from shopdb.gift_cards.schemas import GiftCardCreate
from shopdb.kit.etags import check_if_match
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import MONEY_QUANTUM, utcnow
from shopdb.models import GiftCard
from shopdb.models.discounts import GiftCardTransaction
from shopdb.notifications.outbox import queue_gift_card_issued

FIELD = "giftCardCodes"
# What NUMERIC(10, 2) holds.
MAX_BALANCE = Decimal("99999999.99")
ZERO = Decimal("0.00")
# A generated code that is taken (one chance in about 10^23) is replaced; a few tries suffice.
_GENERATION_TRIES = 5
_WIRE_NAMES = {"expires_at": "expiresOn", "note": "note", "customer_id": "customerId"}


@dataclass(frozen=True)
class GiftCardDebit:
    gift_card_id: int
    last_characters: str
    amount: Decimal


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def expiry_moment(expires_on: date | None) -> datetime | None:
    """A card that expires on a day can no longer be used from that day's start (UTC)."""
    return None if expires_on is None else datetime.combine(expires_on, time(0), tzinfo=UTC)


def expires_on(card: GiftCard) -> date | None:
    return None if card.expires_at is None else card.expires_at.astimezone(UTC).date()


def is_expired(card: GiftCard, now: datetime) -> bool:
    return card.expires_at is not None and card.expires_at <= now


def status_of(card: GiftCard, now: datetime) -> str:
    if card.status == "disabled":
        return "disabled"
    return "expired" if is_expired(card, now) else "active"


def _check_expiry(value: date | None, now: datetime) -> None:
    if value is not None and value <= now.astimezone(UTC).date():
        raise ValidationFailed.on("expiresOn", "must be a day after today (UTC)")


async def _check_customer(session: AsyncSession, customer_id: int | None) -> None:
    if customer_id is None:
        return
    try:
        await load_customer(session, customer_id)
    except CustomerNotFound:
        raise ValidationFailed.on("customerId", "is not a customer") from None


def _record(
    session: AsyncSession, topic: str, card: GiftCard, actor: str | None, **extra: Any
) -> None:
    # Never the code: the last characters are all any later reader may see of it.
    record_event(
        session,
        topic=topic,
        subject_type="GiftCard",
        subject_id=card.id,
        body={
            "id": card.id,
            "lastCharacters": card.last_characters,
            "balance": str(card.balance),
            "currency": card.currency,
            **extra,
        },
        actor=actor,
    )


def _ledger(
    repository: GiftCardRepository,
    card: GiftCard,
    amount: Decimal,
    kind: str,
    *,
    reason: str | None = None,
    note: str | None = None,
    order_id: int | None = None,
) -> GiftCardTransaction:
    return repository.add_transaction(
        GiftCardTransaction(
            gift_card_id=card.id,
            amount=amount,
            kind=kind,
            reason=reason,
            note=note,
            order_id=order_id,
        )
    )


# --- administration ---------------------------------------------------------------------------


async def create_gift_card(
    session: AsyncSession, actor: Subject, data: GiftCardCreate
) -> tuple[GiftCard, str]:
    """The new card and its full code (for the creation's response, and nowhere else)."""
    now = utcnow()
    _check_expiry(data.expires_on, now)
    await _check_customer(session, data.customer_id)
    repository = GiftCardRepository(session)
    if data.code is not None:
        code = data.code
        if await repository.digest_taken(code_rules.digest(code)):
            raise GiftCardCodeTaken
    else:
        for _ in range(_GENERATION_TRIES):
            code = code_rules.generate()
            if not await repository.digest_taken(code_rules.digest(code)):
                break
        else:  # pragma: no cover - needs five collisions in a space of 10^23
            raise GiftCardCodeTaken
    value = cents(data.initial_value)
    card = await repository.add(
        GiftCard(
            code=code_rules.digest(code),
            last_characters=code_rules.last_characters(code),
            initial_value=value,
            balance=value,
            currency=data.currency,
            status="active",
            customer_id=data.customer_id,
            expires_at=expiry_moment(data.expires_on),
            note=data.note,
        )
    )
    _ledger(repository, card, value, "issue", reason="issued")
    await session.flush()
    _record(session, "gift_cards/create", card, actor.principal, customerId=card.customer_id)
    if card.customer_id is not None:
        # The one moment the code is known: the email's job carries it, sealed.
        await queue_gift_card_issued(session, card.id, code, actor=actor.principal)
    return card, code


async def load_gift_card(
    session: AsyncSession, gift_card_id: int, *, lock: bool = False
) -> GiftCard:
    card = await GiftCardRepository(session).get(gift_card_id, lock=lock)
    if card is None:
        raise GiftCardNotFound(gift_card_id)
    return card


async def lookup_gift_card(session: AsyncSession, code: str) -> GiftCard:
    digest = code_rules.digest_of_input(code)
    card = None if digest is None else await GiftCardRepository(session).find_by_digest(digest)
    if card is None:
        raise GiftCardLookupMissed
    return card


async def list_gift_cards(
    session: AsyncSession, where: GiftCardFilter, *, request: PageRequest, now: datetime
) -> RowsPage[GiftCard]:
    return await GiftCardRepository(session).page(where, now=now, request=request)


async def update_gift_card(
    session: AsyncSession,
    actor: Subject,
    gift_card_id: int,
    changes: dict[str, Any],
    *,
    if_match: str | None,
) -> GiftCard:
    """`expires_on` and `note` (null clears them); `customer_id` only while the card has none."""
    card = await load_gift_card(session, gift_card_id, lock=True)
    check_if_match(if_match, card.version)
    wanted: dict[str, Any] = {}
    if "expires_on" in changes:
        _check_expiry(changes["expires_on"], utcnow())
        wanted["expires_at"] = expiry_moment(changes["expires_on"])
    if "note" in changes:
        wanted["note"] = changes["note"]
    if "customer_id" in changes and changes["customer_id"] != card.customer_id:
        if card.customer_id is not None or changes["customer_id"] is None:
            raise GiftCardCustomerLocked
        # Checked before any attribute changes: its query would flush them (a second version).
        await _check_customer(session, changes["customer_id"])
        wanted["customer_id"] = changes["customer_id"]
    moved = [name for name, value in wanted.items() if getattr(card, name) != value]
    if not moved:
        return card
    for name in moved:
        setattr(card, name, wanted[name])
    await session.flush()
    changed = [_WIRE_NAMES[name] for name in moved]
    _record(session, "gift_cards/update", card, actor.principal, changed=changed)
    return card


async def disable_gift_card(
    session: AsyncSession, actor: Subject, gift_card_id: int, *, if_match: str | None
) -> GiftCard:
    """Final, as Shopify's: a disabled card is never enabled again. Disabling one twice
    changes nothing the second time."""
    card = await load_gift_card(session, gift_card_id, lock=True)
    check_if_match(if_match, card.version)
    if card.status == "disabled":
        return card
    card.status = "disabled"
    card.disabled_at = utcnow()
    await session.flush()
    _record(session, "gift_cards/disable", card, actor.principal)
    return card


async def adjust_balance(
    session: AsyncSession,
    actor: Subject,
    gift_card_id: int,
    *,
    amount: Decimal,
    reason: str,
    note: str | None,
) -> tuple[GiftCard, GiftCardTransaction]:
    """Add `amount` (negative: take it off) to the balance, with its reason in the ledger."""
    card = await load_gift_card(session, gift_card_id, lock=True)
    if card.status == "disabled":
        raise GiftCardDisabledForAdjustment(card.id)
    amount = cents(amount)
    balance = Decimal(card.balance) + amount
    if balance < 0:
        raise GiftCardInsufficientFunds(Decimal(card.balance))
    if balance > MAX_BALANCE:
        raise GiftCardLimitExceeded(MAX_BALANCE)
    card.balance = balance
    repository = GiftCardRepository(session)
    transaction = _ledger(repository, card, amount, "adjustment", reason=reason, note=note)
    await session.flush()
    _record(
        session,
        "gift_cards/update",
        card,
        actor.principal,
        changed=["balance"],
        transaction={"id": transaction.id, "kind": "adjustment", "amount": str(amount)},
    )
    return card, transaction


async def list_transactions(
    session: AsyncSession, gift_card_id: int, request: PageRequest
) -> RowsPage[GiftCardTransaction]:
    await load_gift_card(session, gift_card_id)
    return await GiftCardRepository(session).transactions(gift_card_id, request)


async def hash_plaintext_codes(session: AsyncSession) -> int:
    """Replace codes stored in plaintext (rows written before revision 0013) by their keyed
    hash; for `shopdb migrate`'s data steps. Returns how many rows changed; idempotent."""
    repository = GiftCardRepository(session)
    rows = await repository.plaintext_codes(code_rules.HASH_LENGTH)
    for card_id, code in rows:
        normal = code_rules.normalise(code)
        await repository.replace_code(
            card_id, code_rules.digest(normal), code_rules.last_characters(normal)
        )
    return len(rows)


# --- checkout ---------------------------------------------------------------------------------


async def _usable_cards(
    session: AsyncSession,
    codes_given: Sequence[str],
    *,
    currency: str,
    now: datetime,
    field: str,
    lock: bool,
) -> list[GiftCard]:
    """The cards in the order given, each checked; refused at the first that cannot pay."""
    digests: list[str] = []
    for index, code in enumerate(codes_given):
        digest = code_rules.digest_of_input(code)
        if digest is None:
            raise GiftCardUnknown(f"{field}[{index}]")
        if digest in digests:
            raise GiftCardListedTwice(f"{field}[{index}]")
        digests.append(digest)
    if not digests:
        return []
    found = await GiftCardRepository(session).by_digests(digests, lock=lock)
    by_digest = {card.code: card for card in found}
    cards = []
    for index, digest in enumerate(digests):
        where = f"{field}[{index}]"
        card = by_digest.get(digest)
        if card is None:
            raise GiftCardUnknown(where)
        if card.status == "disabled":
            raise GiftCardDisabled(where, card.last_characters)
        if is_expired(card, now):
            raise GiftCardExpired(where, card.last_characters)
        if card.currency != currency:
            raise GiftCardCurrencyMismatch(where, card.last_characters, card.currency)
        if card.balance <= 0:
            raise GiftCardEmpty(where, card.last_characters)
        cards.append(card)
    return cards


def _split(cards: list[GiftCard], amount_due: Decimal) -> list[tuple[GiftCard, Decimal]]:
    """Each card in turn pays what it can of what is still due; cards not needed pay nothing."""
    remaining = cents(amount_due)
    shares = []
    for card in cards:
        if remaining <= 0:
            break
        share = min(Decimal(card.balance), remaining)
        shares.append((card, share))
        remaining -= share
    return shares


async def preview_gift_cards(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    amount_due: Decimal,
    currency: str,
    now: datetime,
    field: str = FIELD,
) -> list[GiftCardDebit]:
    """What `debit_gift_cards` would take from each card now, without taking it."""
    cards = await _usable_cards(session, codes, currency=currency, now=now, field=field, lock=False)
    return [
        GiftCardDebit(card.id, card.last_characters, share)
        for card, share in _split(cards, amount_due)
    ]


async def debit_gift_cards(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    amount_due: Decimal,
    currency: str,
    order_id: int | None,
    now: datetime,
    field: str = FIELD,
) -> list[GiftCardDebit]:
    """Take up to `amount_due` from the cards, in the order given; one `debit` ledger row per
    card that paid. Cards listed after the amount is covered pay nothing (and are left out of
    the result). Refusals name the card's index in `field`; nothing is taken then."""
    cards = await _usable_cards(session, codes, currency=currency, now=now, field=field, lock=True)
    repository = GiftCardRepository(session)
    debits = []
    for card, share in _split(cards, amount_due):
        card.balance = Decimal(card.balance) - share
        _ledger(repository, card, -share, "debit", reason="order", order_id=order_id)
        debits.append(GiftCardDebit(card.id, card.last_characters, share))
    if debits:
        await session.flush()
        for card, debit in zip(cards[: len(debits)], debits, strict=True):
            _record(
                session,
                "gift_cards/update",
                card,
                None,
                changed=["balance"],
                transaction={"kind": "debit", "amount": str(-debit.amount), "orderId": order_id},
            )
    return debits


async def credit_gift_card(
    session: AsyncSession,
    gift_card_id: int,
    amount: Decimal,
    *,
    order_id: int | None,
    reason: str,
) -> None:
    """Give `amount` back to a card (a refund, or an order that failed after its debit); a
    disabled or expired card is credited too, so the ledger stays whole."""
    amount = cents(amount)
    if amount <= 0:
        raise ValidationFailed.on("amount", "a credit must be above zero")
    card = await load_gift_card(session, gift_card_id, lock=True)
    balance = Decimal(card.balance) + amount
    if balance > MAX_BALANCE:
        raise GiftCardLimitExceeded(MAX_BALANCE)
    card.balance = balance
    _ledger(GiftCardRepository(session), card, amount, "credit", reason=reason, order_id=order_id)
    await session.flush()
    _record(
        session,
        "gift_cards/update",
        card,
        None,
        changed=["balance"],
        transaction={"kind": "credit", "amount": str(amount), "orderId": order_id},
    )
