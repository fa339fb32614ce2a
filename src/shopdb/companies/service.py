"""B2B companies, their payment terms, balances and the orders placed on their terms.

Services never commit. Every change records one event: `companies/create`, `companies/update`
(a change of the company or of one of its payment terms) or `companies/delete`. A company's
outstanding balance moves only through terms.py (orders placed, paid, cancelled), never
through an edit here; a company with a balance outstanding is not deleted (409).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.companies import terms as terms_rules
from shopdb.companies.errors import (
    CompanyHasOutstandingBalance,
    CompanyNotFound,
    PaymentTermNotFound,
)
from shopdb.companies.repository import (
    CompanyFilter,
    CompanyRepository,
    PaymentTermRepository,
    TermsOrderRepository,
)
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.etags import check_if_match
from shopdb.kit.pagination import Direction, PageRequest, RowsPage
from shopdb.kit.types import round_money
from shopdb.models import B2BPaymentTerm, Company, Order

ZERO = Decimal(0)
COMPANY_REQUIRED = ("company_name", "credit_limit", "status")
TERM_REQUIRED = ("net_days", "discount_percentage", "credit_limit")
_AMOUNTS = ("credit_limit", "discount_percentage", "late_payment_fee_percentage")
_CENT = Decimal("0.01")


def _event(session: AsyncSession, actor: Subject, company_id: int, topic: str, **body: Any) -> None:
    record_event(
        session,
        topic=topic,
        subject_type="Company",
        subject_id=company_id,
        body={"id": company_id, **body},
        actor=actor.principal,
    )


def _exact(fields: dict[str, Any]) -> dict[str, Any]:
    """Amounts as the columns hold them (two places), so an answer reads as a later GET does;
    the schemas allow no more than two places, so nothing is rounded here."""
    return {
        k: v.quantize(_CENT) if k in _AMOUNTS and isinstance(v, Decimal) else v
        for k, v in fields.items()
    }


def _not_null(changes: dict[str, Any], required: tuple[str, ...]) -> None:
    for field in required:
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(_camel(field), "must not be null")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


# --- companies -------------------------------------------------------------------------------


async def get_company(session: AsyncSession, company_id: int) -> Company:
    company = await CompanyRepository(session).get(company_id)
    if company is None:
        raise CompanyNotFound(company_id)
    return company


async def list_companies(
    session: AsyncSession,
    where: CompanyFilter,
    *,
    sort_by: str,
    direction: Direction,
    request: PageRequest,
) -> RowsPage[Company]:
    return await CompanyRepository(session).page(
        where, sort_by=sort_by, direction=direction, request=request
    )


async def create_company(session: AsyncSession, actor: Subject, fields: dict[str, Any]) -> Company:
    company = await CompanyRepository(session).add(
        Company(**_exact(fields), outstanding_balance=Decimal("0.00"))
    )
    _event(session, actor, company.id, "companies/create", companyName=company.company_name)
    return company


async def update_company(
    session: AsyncSession,
    actor: Subject,
    company_id: int,
    changes: dict[str, Any],
    *,
    if_match: str | None,
) -> Company:
    """Only the given fields change. A credit limit may go below the balance outstanding:
    the orders already placed stay, and no new terms order fits until it is paid down."""
    company = await get_company(session, company_id)
    check_if_match(if_match, company.version)
    _not_null(changes, COMPANY_REQUIRED)
    for field, value in _exact(changes).items():
        setattr(company, field, value)
    await session.flush()
    _event(
        session, actor, company.id, "companies/update", changed=sorted(_camel(f) for f in changes)
    )
    return await get_company(session, company_id)


async def delete_company(
    session: AsyncSession, actor: Subject, company_id: int, *, if_match: str | None
) -> None:
    """Its payment terms go with it; its orders keep their amounts, their company link goes
    null. Refused (409) while anything is outstanding on its terms."""
    company = await get_company(session, company_id)
    check_if_match(if_match, company.version)
    if not await CompanyRepository(session).delete_settled(company.id):
        fresh = await get_company(session, company_id)
        raise CompanyHasOutstandingBalance(company_id, fresh.outstanding_balance)
    _event(session, actor, company_id, "companies/delete", companyName=company.company_name)


# --- payment terms ---------------------------------------------------------------------------


def _check_term(term: B2BPaymentTerm) -> None:
    days = term.early_payment_discount_days
    if days is not None and days > term.net_days:
        raise ValidationFailed.on(
            "earlyPaymentDiscountDays", f"must not exceed netDays ({term.net_days})"
        )


async def get_term(session: AsyncSession, company_id: int, term_id: int) -> B2BPaymentTerm:
    term = await PaymentTermRepository(session).get(term_id)
    if term is None or term.company_id != company_id:
        raise PaymentTermNotFound(company_id, term_id)
    return term


async def list_terms(
    session: AsyncSession, company_id: int, *, request: PageRequest
) -> RowsPage[B2BPaymentTerm]:
    await get_company(session, company_id)
    return await PaymentTermRepository(session).page_of(company_id, request)


async def create_term(
    session: AsyncSession, actor: Subject, company_id: int, fields: dict[str, Any]
) -> B2BPaymentTerm:
    await get_company(session, company_id)
    term = B2BPaymentTerm(company_id=company_id, **_exact(fields))
    _check_term(term)
    await PaymentTermRepository(session).add(term)
    _event(
        session,
        actor,
        company_id,
        "companies/update",
        changed=["paymentTerms"],
        paymentTermsId=term.id,
    )
    return term


async def update_term(
    session: AsyncSession, actor: Subject, company_id: int, term_id: int, changes: dict[str, Any]
) -> B2BPaymentTerm:
    """Only the given fields change; orders already placed keep the term as it was."""
    term = await get_term(session, company_id, term_id)
    _not_null(changes, TERM_REQUIRED)
    for field, value in _exact(changes).items():
        setattr(term, field, value)
    _check_term(term)
    await session.flush()
    _event(
        session,
        actor,
        company_id,
        "companies/update",
        changed=["paymentTerms"],
        paymentTermsId=term_id,
    )
    return term


async def delete_term(session: AsyncSession, actor: Subject, company_id: int, term_id: int) -> None:
    term = await get_term(session, company_id, term_id)
    await PaymentTermRepository(session).delete(term.id)
    _event(
        session,
        actor,
        company_id,
        "companies/update",
        changed=["paymentTerms"],
        paymentTermsId=term_id,
    )


# --- balances and orders on terms --------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    company_id: int
    currency: str
    credit_limit: Decimal
    outstanding: Decimal
    overdue: Decimal
    late_fees: Decimal
    available_credit: Decimal
    outstanding_orders: int
    overdue_orders: int
    as_of: datetime


@dataclass(frozen=True)
class TermsOrder:
    order: Order
    overdue: bool
    early_payment_discount: Decimal
    late_fee: Decimal
    amount_due: Decimal


async def balance_of(
    session: AsyncSession, company_id: int, *, currency: str, now: datetime
) -> Balance:
    """The company's account at `now`: what its open terms orders hold (`outstanding`, the
    same as its running outstanding_balance), the part past due (`overdue`) and the late fees
    paying those now would add."""
    company = await get_company(session, company_id)
    orders = await TermsOrderRepository(session).open_orders(company_id)
    overdue = [o for o in orders if terms_rules.is_overdue(o, now)]
    outstanding = round_money(company.outstanding_balance)
    return Balance(
        company_id=company.id,
        currency=currency,
        credit_limit=round_money(company.credit_limit),
        outstanding=outstanding,
        overdue=round_money(sum((o.credit_held for o in overdue), ZERO)),
        late_fees=round_money(sum((terms_rules.late_fee(o, now) for o in overdue), ZERO)),
        available_credit=round_money(max(company.credit_limit - outstanding, ZERO)),
        outstanding_orders=len(orders),
        overdue_orders=len(overdue),
        as_of=now,
    )


async def list_terms_orders(
    session: AsyncSession,
    company_id: int,
    *,
    state: str,
    now: datetime,
    request: PageRequest,
) -> RowsPage[TermsOrder]:
    await get_company(session, company_id)
    found = await TermsOrderRepository(session).page_of(company_id, request, state=state, now=now)
    return RowsPage([_terms_order(o, now) for o in found.rows], found.next_cursor, found.total)


def _terms_order(order: Order, now: datetime) -> TermsOrder:
    """Unpaid: the discount or fee that applies now and what paying now would take. Paid or
    cancelled: what was recorded, and nothing due."""
    if order.credit_held > 0 and order.cancelled_at is None:
        discount = terms_rules.early_payment_discount(order, now)
        fee = terms_rules.late_fee(order, now)
        due = terms_rules.amount_due_now(order, terms_rules.captured_of(order), now)
    else:
        discount, fee, due = order.early_payment_discount, order.late_fee, ZERO
    return TermsOrder(
        order=order,
        overdue=terms_rules.is_overdue(order, now),
        early_payment_discount=discount,
        late_fee=fee,
        amount_due=round_money(due),
    )
