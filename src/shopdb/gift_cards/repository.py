"""Every query on gift cards and their ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import GiftCard
from shopdb.models.discounts import GiftCardTransaction


def not_expired(now: datetime) -> ColumnElement[bool]:
    return or_(GiftCard.expires_at.is_(None), GiftCard.expires_at > now)


def status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    if status == "disabled":
        return GiftCard.status == "disabled"
    if status == "expired":
        return and_(GiftCard.status == "active", GiftCard.expires_at <= now)
    return and_(GiftCard.status == "active", not_expired(now))


@dataclass(frozen=True)
class GiftCardFilter:
    status: str | None = None
    customer_id: int | None = None
    last_characters: str | None = None


class GiftCardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, gift_card_id: int, *, lock: bool = False) -> GiftCard | None:
        statement = (
            select(GiftCard)
            .where(GiftCard.id == gift_card_id)
            .execution_options(populate_existing=True)
        )
        if lock:
            statement = statement.with_for_update()
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def find_by_digest(self, digest: str) -> GiftCard | None:
        return (
            await self.session.execute(
                select(GiftCard)
                .where(GiftCard.code == digest)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def digest_taken(self, digest: str) -> bool:
        found = await self.session.scalar(select(GiftCard.id).where(GiftCard.code == digest))
        return found is not None

    async def by_digests(self, digests: Sequence[str], *, lock: bool) -> list[GiftCard]:
        """The cards with these codes, in ascending id order; `lock` takes their row locks in
        that order, so two orders sharing cards queue instead of deadlocking."""
        statement = (
            select(GiftCard)
            .where(GiftCard.code.in_(list(digests)))
            .order_by(GiftCard.id)
            .execution_options(populate_existing=True)
        )
        if lock:
            statement = statement.with_for_update()
        return list((await self.session.scalars(statement)).all())

    async def page(
        self, where: GiftCardFilter, *, now: datetime, request: PageRequest
    ) -> RowsPage[GiftCard]:
        conditions: list[ColumnElement[bool]] = []
        if where.status is not None:
            conditions.append(status_condition(where.status, now))
        if where.customer_id is not None:
            conditions.append(GiftCard.customer_id == where.customer_id)
        if where.last_characters is not None:
            conditions.append(GiftCard.last_characters == where.last_characters.lower())
        return await read_requested_page(
            self.session,
            select(GiftCard).where(*conditions),
            request,
            sort_column=GiftCard.id,
            id_column=GiftCard.id,
        )

    async def add(self, card: GiftCard) -> GiftCard:
        self.session.add(card)
        await self.session.flush()
        return card

    def add_transaction(self, transaction: GiftCardTransaction) -> GiftCardTransaction:
        # Flushed with the card's new balance, in the caller's transaction.
        self.session.add(transaction)
        return transaction

    async def transactions(
        self, gift_card_id: int, request: PageRequest
    ) -> RowsPage[GiftCardTransaction]:
        """Oldest first, through the (gift_card_id, id) index."""
        return await read_requested_page(
            self.session,
            select(GiftCardTransaction).where(GiftCardTransaction.gift_card_id == gift_card_id),
            request,
            sort_column=GiftCardTransaction.id,
            id_column=GiftCardTransaction.id,
        )

    async def plaintext_codes(self, digest_length: int) -> list[tuple[int, str]]:
        rows = await self.session.execute(
            select(GiftCard.id, GiftCard.code).where(func.length(GiftCard.code) != digest_length)
        )
        return [(card_id, code) for card_id, code in rows]

    async def replace_code(self, gift_card_id: int, digest: str, last_characters: str) -> None:
        await self.session.execute(
            update(GiftCard)
            .where(GiftCard.id == gift_card_id)
            .values(code=digest, last_characters=last_characters)
            .execution_options(synchronize_session=False)
        )
