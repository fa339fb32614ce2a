"""Every query on companies, their payment terms, and the orders placed on those terms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.kit import journal
from shopdb.kit.pagination import Direction, PageRequest, RowsPage, read_requested_page
from shopdb.models import B2BPaymentTerm, Company, Order

# sortBy: (column, the type of its cursor key).
SORT_COLUMNS: dict[str, tuple[Any, type | tuple[type, ...]]] = {
    "id": (Company.id, int),
    "companyName": (Company.company_name, str),
    "createdAt": (Company.created_at, datetime),
    "updatedAt": (Company.updated_at, datetime),
    "creditLimit": (Company.credit_limit, (Decimal, int)),
}


async def _note_orders_linked(session: AsyncSession, link: ColumnElement[bool]) -> None:
    """The orders whose link a DELETE is about to set null (ON DELETE SET NULL): their
    documents show it (companyId, paymentTermsId), so their cached and stored documents must
    go once it commits. Read before the DELETE, in its transaction."""
    linked = list(await session.scalars(select(Order.id).where(link)))
    if linked:
        journal.note(session, journal.ORDER, linked, listing=False)


@dataclass(frozen=True)
class CompanyFilter:
    name_prefix: str | None = None
    status: str | None = None
    tax_id: str | None = None


def _escaped_prefix(prefix: str) -> str:
    escaped = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


def _conditions(where: CompanyFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.name_prefix:
        conditions.append(
            func.lower(Company.company_name).like(_escaped_prefix(where.name_prefix), escape="\\")
        )
    if where.status is not None:
        conditions.append(Company.status == where.status)
    if where.tax_id is not None:
        conditions.append(Company.tax_id == where.tax_id)
    return conditions


class CompanyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, company_id: int) -> Company | None:
        """Read afresh: a guarded UPDATE may have moved its balance since it was loaded."""
        return (
            await self.session.execute(
                select(Company)
                .where(Company.id == company_id)
                .execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()

    async def page(
        self, where: CompanyFilter, *, sort_by: str, direction: Direction, request: PageRequest
    ) -> RowsPage[Company]:
        column, key_type = SORT_COLUMNS[sort_by]
        return await read_requested_page(
            self.session,
            select(Company).where(*_conditions(where)),
            request,
            sort_column=column,
            id_column=Company.id,
            direction=direction,
            sort_name=sort_by,
            key_type=key_type,
        )

    async def add(self, company: Company) -> Company:
        self.session.add(company)
        await self.session.flush()
        return company

    async def delete_settled(self, company_id: int) -> bool:
        """Delete the company if nothing is outstanding on its terms, in one guarded DELETE
        (a placement holding its row commits or rolls back first); False if refused."""
        await _note_orders_linked(self.session, Order.company_id == company_id)
        result = await self.session.execute(
            delete(Company)
            .where(Company.id == company_id, Company.outstanding_balance == 0)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def hold_credit(self, company_id: int, amount: Decimal) -> bool:
        """Add `amount` to the active company's outstanding balance if it stays within its
        credit limit, in one guarded UPDATE; False: refused (or no such active company).

        The row lock the UPDATE takes serialises concurrent terms orders of one company, and
        PostgreSQL re-checks the WHERE clause against the row each waiter finally gets, so
        the orders admitted never together exceed the limit, whatever the concurrency.
        `updated_at` and `version` stay: a balance move is not an edit of the company.
        """
        result = await self.session.execute(
            update(Company)
            .where(
                Company.id == company_id,
                Company.status == "active",
                Company.outstanding_balance + amount <= Company.credit_limit,
            )
            .values(
                outstanding_balance=Company.outstanding_balance + amount,
                updated_at=Company.updated_at,
            )
            .execution_options(synchronize_session=False)
            .returning(Company.id)
        )
        return result.one_or_none() is not None

    async def release_credit(self, company_id: int, amount: Decimal) -> None:
        """Take `amount` (what an order held and no longer does) off the balance."""
        await self.session.execute(
            update(Company)
            .where(Company.id == company_id)
            .values(
                outstanding_balance=Company.outstanding_balance - amount,
                updated_at=Company.updated_at,
            )
            .execution_options(synchronize_session=False)
        )


class PaymentTermRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, term_id: int) -> B2BPaymentTerm | None:
        return await self.session.get(B2BPaymentTerm, term_id)

    async def first_of(self, company_id: int) -> B2BPaymentTerm | None:
        """The company's first term (by id): the one a terms order uses unless it names one."""
        return (
            await self.session.execute(
                select(B2BPaymentTerm)
                .where(B2BPaymentTerm.company_id == company_id)
                .order_by(B2BPaymentTerm.id)
                .limit(1)
            )
        ).scalar_one_or_none()

    async def page_of(self, company_id: int, request: PageRequest) -> RowsPage[B2BPaymentTerm]:
        return await read_requested_page(
            self.session,
            select(B2BPaymentTerm).where(B2BPaymentTerm.company_id == company_id),
            request,
            sort_column=B2BPaymentTerm.id,
            id_column=B2BPaymentTerm.id,
        )

    async def add(self, term: B2BPaymentTerm) -> B2BPaymentTerm:
        self.session.add(term)
        await self.session.flush()
        return term

    async def delete(self, term_id: int) -> None:
        # Orders placed on it keep what it said (orders.payment_terms); their link goes null.
        await _note_orders_linked(self.session, Order.payment_terms_id == term_id)
        await self.session.execute(delete(B2BPaymentTerm).where(B2BPaymentTerm.id == term_id))


# --- orders on payment terms, as the companies' accounts see them -----------------------------

_OPEN = (Order.credit_held > 0, Order.cancelled_at.is_(None), Order.deleted_at.is_(None))


class TermsOrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def open_orders(self, company_id: int) -> list[Order]:
        """The company's orders that still hold credit (unpaid, not cancelled), by due date."""
        result = await self.session.execute(
            select(Order)
            .where(Order.company_id == company_id, *_OPEN)
            .order_by(Order.payment_due_at, Order.id)
        )
        return list(result.scalars())

    async def page_of(
        self,
        company_id: int,
        request: PageRequest,
        *,
        state: str,
        now: datetime,
    ) -> RowsPage[Order]:
        """The company's orders on terms by id: `outstanding` (still holding credit),
        `overdue` (that and past due), `settled` (holding none), or `any`."""
        conditions: list[ColumnElement[bool]] = [
            Order.company_id == company_id,
            Order.reserved_until.is_(None),
            Order.deleted_at.is_(None),
        ]
        if state in ("outstanding", "overdue"):
            conditions += [Order.credit_held > 0, Order.cancelled_at.is_(None)]
        if state == "overdue":
            conditions.append(Order.payment_due_at < now)
        if state == "settled":
            conditions.append(Order.credit_held == 0)
        return await read_requested_page(
            self.session,
            select(Order).where(*conditions).options(selectinload(Order.transactions)),
            request,
            sort_column=Order.id,
            id_column=Order.id,
        )
