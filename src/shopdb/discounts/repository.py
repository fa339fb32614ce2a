"""Every query on discount codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import DiscountCode

_LOWER_CODE = func.lower(DiscountCode.code)


def _escaped_prefix(prefix: str) -> str:
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def started(now: datetime) -> ColumnElement[bool]:
    return or_(DiscountCode.starts_at.is_(None), DiscountCode.starts_at <= now)


def not_ended(now: datetime) -> ColumnElement[bool]:
    return or_(DiscountCode.ends_at.is_(None), DiscountCode.ends_at > now)


def status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    if status == "scheduled":
        return DiscountCode.starts_at > now
    if status == "expired":
        return DiscountCode.ends_at <= now
    return and_(started(now), not_ended(now))


@dataclass(frozen=True)
class DiscountFilter:
    code_prefix: str | None = None
    type: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Redeemed:
    id: int
    code: str
    type: str
    value: Decimal


class DiscountCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, discount_code_id: int) -> DiscountCode | None:
        """A live (not deleted) code, read afresh (a guarded UPDATE may have moved its count)."""
        return (
            await self.session.execute(
                select(DiscountCode)
                .where(DiscountCode.id == discount_code_id, DiscountCode.deleted_at.is_(None))
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def find_by_code(self, code: str) -> DiscountCode | None:
        """The live code equal to `code` in any letter case (lower(code) is uniquely indexed)."""
        return (
            await self.session.execute(
                select(DiscountCode)
                .where(_LOWER_CODE == code.lower(), DiscountCode.deleted_at.is_(None))
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def code_taken(self, code: str, *, except_id: int | None = None) -> bool:
        """Deleted codes count: the unique index keeps their code (orders still name it)."""
        statement = select(DiscountCode.id).where(_LOWER_CODE == code.lower())
        if except_id is not None:
            statement = statement.where(DiscountCode.id != except_id)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def page(
        self, where: DiscountFilter, *, now: datetime, request: PageRequest
    ) -> RowsPage[DiscountCode]:
        """By id; a cursor page costs what the first page costs."""
        conditions: list[ColumnElement[bool]] = [DiscountCode.deleted_at.is_(None)]
        if where.code_prefix:
            conditions.append(_LOWER_CODE.like(_escaped_prefix(where.code_prefix), escape="\\"))
        if where.type is not None:
            conditions.append(DiscountCode.type == where.type)
        if where.status is not None:
            conditions.append(status_condition(where.status, now))
        return await read_requested_page(
            self.session,
            select(DiscountCode).where(*conditions),
            request,
            sort_column=DiscountCode.id,
            id_column=DiscountCode.id,
        )

    async def add(self, discount_code: DiscountCode) -> DiscountCode:
        self.session.add(discount_code)
        await self.session.flush()
        return discount_code

    async def redeem(
        self, code: str, *, subtotal: Decimal, currency: str, now: datetime
    ) -> Redeemed | None:
        """Count one use of `code` if every rule holds, in one guarded UPDATE; None: refused.

        The row lock the UPDATE takes serialises concurrent redemptions, and PostgreSQL
        re-checks the WHERE clause against the row each waiter finally gets, so a limit of N
        admits exactly N uses whatever the concurrency. `updated_at` and `version` stay: a use
        is not an edit, and must not make an administrator's If-Match fail.
        """
        result = await self.session.execute(
            update(DiscountCode)
            .where(
                _LOWER_CODE == code.lower(),
                DiscountCode.deleted_at.is_(None),
                started(now),
                not_ended(now),
                or_(DiscountCode.currency.is_(None), DiscountCode.currency == currency),
                or_(DiscountCode.minimum_amount.is_(None), DiscountCode.minimum_amount <= subtotal),
                or_(
                    DiscountCode.usage_limit.is_(None),
                    DiscountCode.used_count < DiscountCode.usage_limit,
                ),
            )
            .values(used_count=DiscountCode.used_count + 1, updated_at=DiscountCode.updated_at)
            .execution_options(synchronize_session=False)
            .returning(DiscountCode.id, DiscountCode.code, DiscountCode.type, DiscountCode.value)
        )
        row = result.one_or_none()
        if row is None:
            return None
        return Redeemed(id=row.id, code=row.code, type=row.type, value=Decimal(row.value))

    async def release(self, discount_code_id: int) -> bool:
        """One use fewer (an order that used it failed or was cancelled), never below zero."""
        result = await self.session.execute(
            update(DiscountCode)
            .where(DiscountCode.id == discount_code_id, DiscountCode.used_count > 0)
            .values(used_count=DiscountCode.used_count - 1, updated_at=DiscountCode.updated_at)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
