"""/api/v1/companies (B2B), their payment terms, balance and orders on terms."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from shopdb.companies import service
from shopdb.companies.auth import CompaniesRead, CompaniesReadWrite, CompaniesWrite
from shopdb.companies.repository import CompanyFilter
from shopdb.companies.schemas import (
    BalanceRead,
    CompanyCreate,
    CompanyRead,
    CompanySort,
    CompanyStatus,
    CompanyUpdate,
    PaymentTermCreate,
    PaymentTermRead,
    PaymentTermUpdate,
    SortDirection,
    TermsOrderRead,
    TermsOrderState,
)
from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.kit.etags import etag
from shopdb.kit.parameters import IfMatch, PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.kit.types import utcnow
from shopdb.models import B2BPaymentTerm, Company

router = domain_router("/companies", tags=["companies"])


def _company(company: Company, *, status_code: int = 200, location: bool = False) -> Response:
    headers = {"ETag": etag(company.version)}
    if location:
        headers["Location"] = f"/api/v1/companies/{company.id}"
    return model_response(
        CompanyRead.model_validate(company), status_code=status_code, headers=headers
    )


def _term(term: B2BPaymentTerm) -> PaymentTermRead:
    return PaymentTermRead.model_validate(term)


@router.get("", response_model=Page[CompanyRead])
async def list_companies(
    session: SessionDep,
    _subject: CompaniesRead,
    page: PageQuery,
    company_name: Annotated[
        str | None,
        Query(alias="companyName", max_length=255, description="name prefix, any case"),
    ] = None,
    status: CompanyStatus | None = None,
    tax_id: Annotated[str | None, Query(alias="taxId", max_length=100)] = None,
    sort_by: Annotated[CompanySort, Query(alias="sortBy")] = "id",
    sort_direction: Annotated[SortDirection, Query(alias="sortDirection")] = "asc",
) -> Page[CompanyRead]:
    """Filter by `companyName` (prefix, any case), `status`, `taxId`; sort by `sortBy` (id,
    companyName, createdAt, updatedAt, creditLimit) and `sortDirection`; page by
    `page`/`pageSize` or `cursor` (each page's nextCursor); `withTotal=true` adds
    totalCount."""
    found = await service.list_companies(
        session,
        CompanyFilter(name_prefix=company_name, status=status, tax_id=tax_id),
        sort_by=sort_by,
        direction=sort_direction,
        request=page,
    )
    return Page[CompanyRead](
        items=[CompanyRead.model_validate(c) for c in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.post("", status_code=201, response_model=CompanyRead)
@idempotent
async def create_company(
    session: SessionDep, subject: CompaniesReadWrite, data: CompanyCreate
) -> Response:
    company = await service.create_company(session, subject, data.model_dump(by_alias=False))
    return _company(company, status_code=201, location=True)


@router.get("/{company_id}", response_model=CompanyRead)
async def get_company(session: SessionDep, _subject: CompaniesRead, company_id: int) -> Response:
    return _company(await service.get_company(session, company_id))


@router.put("/{company_id}", response_model=CompanyRead)
async def update_company(
    session: SessionDep,
    subject: CompaniesReadWrite,
    company_id: int,
    data: CompanyUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Only the fields sent change. If-Match (the ETag) avoids lost updates: 412 when stale."""
    company = await service.update_company(
        session,
        subject,
        company_id,
        data.model_dump(exclude_unset=True, by_alias=False),
        if_match=if_match,
    )
    return _company(company)


@router.delete("/{company_id}", status_code=204, response_class=Response)
async def delete_company(
    session: SessionDep, subject: CompaniesWrite, company_id: int, if_match: IfMatch = None
) -> Response:
    """With its payment terms; 409 COMPANY_HAS_OUTSTANDING_BALANCE while terms orders owe."""
    await service.delete_company(session, subject, company_id, if_match=if_match)
    return Response(status_code=204)


# --- payment terms ---------------------------------------------------------------------------


@router.get("/{company_id}/payment-terms", response_model=Page[PaymentTermRead])
async def list_payment_terms(
    session: SessionDep, _subject: CompaniesRead, company_id: int, page: PageQuery
) -> Page[PaymentTermRead]:
    """The company's terms by id (the first is a terms order's default); `page`/`pageSize`
    or `cursor`; `withTotal=true` adds totalCount."""
    found = await service.list_terms(session, company_id, request=page)
    return Page[PaymentTermRead](
        items=[_term(t) for t in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.post("/{company_id}/payment-terms", status_code=201, response_model=PaymentTermRead)
@idempotent
async def create_payment_term(
    session: SessionDep, subject: CompaniesReadWrite, company_id: int, data: PaymentTermCreate
) -> Response:
    term = await service.create_term(session, subject, company_id, data.model_dump(by_alias=False))
    return model_response(
        _term(term),
        status_code=201,
        headers={"Location": f"/api/v1/companies/{company_id}/payment-terms/{term.id}"},
    )


@router.get("/{company_id}/payment-terms/{term_id}", response_model=PaymentTermRead)
async def get_payment_term(
    session: SessionDep, _subject: CompaniesRead, company_id: int, term_id: int
) -> PaymentTermRead:
    return _term(await service.get_term(session, company_id, term_id))


@router.put("/{company_id}/payment-terms/{term_id}", response_model=PaymentTermRead)
async def update_payment_term(
    session: SessionDep,
    subject: CompaniesReadWrite,
    company_id: int,
    term_id: int,
    data: PaymentTermUpdate,
) -> PaymentTermRead:
    """Only the fields sent change; orders already placed keep the term as it was."""
    changes = data.model_dump(exclude_unset=True, by_alias=False)
    return _term(await service.update_term(session, subject, company_id, term_id, changes))


@router.delete("/{company_id}/payment-terms/{term_id}", status_code=204, response_class=Response)
async def delete_payment_term(
    session: SessionDep, subject: CompaniesWrite, company_id: int, term_id: int
) -> Response:
    await service.delete_term(session, subject, company_id, term_id)
    return Response(status_code=204)


# --- the account -----------------------------------------------------------------------------


@router.get("/{company_id}/balance", response_model=BalanceRead)
async def get_company_balance(
    session: SessionDep, _subject: CompaniesRead, services: ServicesDep, company_id: int
) -> BalanceRead:
    """Outstanding (unpaid terms orders), overdue (past their due date), the late fees paying
    those now would add, and the credit still available."""
    found = await service.balance_of(
        session, company_id, currency=services.settings.order_currency, now=utcnow()
    )
    return BalanceRead.model_validate(found, from_attributes=True)


@router.get("/{company_id}/orders", response_model=Page[TermsOrderRead])
async def list_company_orders(
    session: SessionDep,
    _subject: CompaniesRead,
    company_id: int,
    page: PageQuery,
    state: TermsOrderState = "any",
) -> Page[TermsOrderRead]:
    """The company's orders on payment terms by id: `state` outstanding (unpaid), overdue
    (unpaid, past due), settled (paid or cancelled) or any; each with its due date and what
    paying it now would take."""
    now = utcnow()
    found = await service.list_terms_orders(session, company_id, state=state, now=now, request=page)
    return Page[TermsOrderRead](
        items=[
            TermsOrderRead(
                id=t.order.id,
                number=t.order.number,
                financial_status=t.order.financial_status,
                cancelled_at=t.order.cancelled_at,
                total_price=t.order.total_price,
                currency=t.order.currency,
                payment_terms_id=t.order.payment_terms_id,
                payment_terms=t.order.payment_terms,
                processed_at=t.order.processed_at,
                payment_due_at=t.order.payment_due_at,
                credit_held=t.order.credit_held,
                overdue=t.overdue,
                early_payment_discount=t.early_payment_discount,
                late_fee=t.late_fee,
                amount_due=t.amount_due,
            )
            for t in found.rows
        ],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )
