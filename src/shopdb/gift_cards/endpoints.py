"""/api/v1/gift-cards: issue, list, read, look up by code, change, disable, adjust, ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Response

from shopdb.dependencies import SessionDep
from shopdb.discounts.auth import DiscountsRead, DiscountsReadWrite
from shopdb.gift_cards import codes, service
from shopdb.gift_cards.repository import GiftCardFilter
from shopdb.gift_cards.schemas import (
    AdjustmentCreate,
    AdjustmentRead,
    GiftCardCreate,
    GiftCardCreated,
    GiftCardLookup,
    GiftCardRead,
    GiftCardStatus,
    GiftCardUpdate,
    TransactionRead,
)
from shopdb.idempotency import idempotent
from shopdb.kit.etags import etag
from shopdb.kit.parameters import IfMatch, PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.kit.types import utcnow
from shopdb.models import GiftCard

router = domain_router("/gift-cards", tags=["gift cards"])


def _read(card: GiftCard, now: datetime) -> GiftCardRead:
    return GiftCardRead(
        id=card.id,
        last_characters=card.last_characters,
        masked_code=codes.masked(card.last_characters),
        initial_value=card.initial_value,
        balance=card.balance,
        currency=card.currency,
        status=service.status_of(card, now),
        customer_id=card.customer_id,
        expires_on=service.expires_on(card),
        note=card.note,
        disabled_at=card.disabled_at,
        version=card.version,
        created_at=card.created_at,
        updated_at=card.updated_at,
    )


def _one(card: GiftCard) -> Response:
    return model_response(_read(card, utcnow()), headers={"ETag": etag(card.version)})


@router.get("", response_model=Page[GiftCardRead])
async def list_gift_cards(
    session: SessionDep,
    _subject: DiscountsRead,
    page: PageQuery,
    status: GiftCardStatus | None = None,
    customer_id: Annotated[int | None, Query(alias="customerId", ge=1)] = None,
    last_characters: Annotated[
        str | None, Query(alias="lastCharacters", min_length=4, max_length=4)
    ] = None,
) -> Page[GiftCardRead]:
    """By id; `page`/`pageSize`, or `cursor` (each page's nextCursor) for any depth;
    `withTotal=true` adds totalCount."""
    now = utcnow()
    found = await service.list_gift_cards(
        session,
        GiftCardFilter(status=status, customer_id=customer_id, last_characters=last_characters),
        request=page,
        now=now,
    )
    return Page[GiftCardRead](
        items=[_read(c, now) for c in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


# Not @idempotent: a replay would need the response stored, and it holds the full code,
# which the database must never hold.
@router.post("", status_code=201, response_model=GiftCardCreated)
async def create_gift_card(
    session: SessionDep, subject: DiscountsReadWrite, data: GiftCardCreate
) -> Response:
    """Issue a card; the response carries its full `code`, which is never shown again."""
    card, code = await service.create_gift_card(session, subject, data)
    created = GiftCardCreated(**_read(card, utcnow()).model_dump(by_alias=False), code=code)
    return model_response(
        created,
        status_code=201,
        headers={
            "ETag": etag(card.version),
            "Location": f"/api/v1/gift-cards/{card.id}",
            # The one response with the code in it: no cache may keep it.
            "Cache-Control": "no-store",
        },
    )


@router.post("/lookup", response_model=GiftCardRead)
async def lookup_gift_card(
    session: SessionDep, _subject: DiscountsRead, data: GiftCardLookup
) -> Response:
    """The card with this full code (any letter case; spaces and dashes ignored)."""
    return _one(await service.lookup_gift_card(session, data.code))


@router.get("/{gift_card_id}", response_model=GiftCardRead)
async def get_gift_card(
    session: SessionDep, _subject: DiscountsRead, gift_card_id: int
) -> Response:
    return _one(await service.load_gift_card(session, gift_card_id))


@router.put("/{gift_card_id}", response_model=GiftCardRead)
async def update_gift_card(
    session: SessionDep,
    subject: DiscountsReadWrite,
    gift_card_id: int,
    data: GiftCardUpdate,
    if_match: IfMatch = None,
) -> Response:
    """`expiresOn`, `note`, and `customerId` while the card has none. If-Match: 412 if stale."""
    card = await service.update_gift_card(
        session,
        subject,
        gift_card_id,
        data.model_dump(exclude_unset=True, by_alias=False),
        if_match=if_match,
    )
    return _one(card)


@router.post("/{gift_card_id}/disable", response_model=GiftCardRead)
async def disable_gift_card(
    session: SessionDep, subject: DiscountsReadWrite, gift_card_id: int, if_match: IfMatch = None
) -> Response:
    """For good: a disabled card is never enabled again."""
    return _one(await service.disable_gift_card(session, subject, gift_card_id, if_match=if_match))


@router.post("/{gift_card_id}/adjustments", status_code=201, response_model=AdjustmentRead)
@idempotent
async def adjust_gift_card(
    session: SessionDep, subject: DiscountsReadWrite, gift_card_id: int, data: AdjustmentCreate
) -> Response:
    """Add to (positive `amount`) or take from (negative) the balance, with a reason."""
    card, transaction = await service.adjust_balance(
        session, subject, gift_card_id, amount=data.amount, reason=data.reason, note=data.note
    )
    body = AdjustmentRead(
        gift_card=_read(card, utcnow()), transaction=TransactionRead.model_validate(transaction)
    )
    return model_response(body, status_code=201, headers={"ETag": etag(card.version)})


@router.get("/{gift_card_id}/transactions", response_model=Page[TransactionRead])
async def list_gift_card_transactions(
    session: SessionDep, _subject: DiscountsRead, gift_card_id: int, page: PageQuery
) -> Page[TransactionRead]:
    """The card's ledger, oldest first; the signed amounts add up to its balance."""
    found = await service.list_transactions(session, gift_card_id, page)
    return Page[TransactionRead](
        items=[TransactionRead.model_validate(t) for t in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )
