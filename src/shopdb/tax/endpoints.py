"""/api/v1/tax-rates: tax rates per country and province."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from shopdb.dependencies import SessionDep
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.tax import service
from shopdb.tax.auth import SettingsRead, SettingsWrite
from shopdb.tax.schemas import TaxRateCreate, TaxRateRead, TaxRateUpdate

tax_rates_router = domain_router("/tax-rates", tags=["tax"])


@tax_rates_router.get("", response_model=Page[TaxRateRead])
async def list_tax_rates(
    _subject: SettingsRead,
    session: SessionDep,
    page: PageQuery,
    country: Annotated[str | None, Query(min_length=2, max_length=2)] = None,
) -> Page[TaxRateRead]:
    """By country, the country-wide rate before the provinces'; `page`/`pageSize`, or
    `cursor` (each page's nextCursor) for any depth; `withTotal=true` adds totalCount."""
    found = await service.list_tax_rates(
        session, country=None if country is None else country.upper(), request=page
    )
    return Page[TaxRateRead](
        items=[TaxRateRead.model_validate(r) for r in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@tax_rates_router.post("", status_code=201, response_model=TaxRateRead)
async def create_tax_rate(
    body: TaxRateCreate, subject: SettingsWrite, session: SessionDep
) -> TaxRateRead:
    tax_rate = await service.create_tax_rate(session, subject, body.model_dump(by_alias=False))
    return TaxRateRead.model_validate(tax_rate)


@tax_rates_router.get("/{tax_rate_id}", response_model=TaxRateRead)
async def get_tax_rate(
    tax_rate_id: int, _subject: SettingsRead, session: SessionDep
) -> TaxRateRead:
    return TaxRateRead.model_validate(await service.get_tax_rate(session, tax_rate_id))


@tax_rates_router.put("/{tax_rate_id}", response_model=TaxRateRead)
async def update_tax_rate(
    tax_rate_id: int, body: TaxRateUpdate, subject: SettingsWrite, session: SessionDep
) -> TaxRateRead:
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    tax_rate = await service.update_tax_rate(session, subject, tax_rate_id, changes)
    return TaxRateRead.model_validate(tax_rate)


@tax_rates_router.delete("/{tax_rate_id}", status_code=204)
async def delete_tax_rate(
    tax_rate_id: int, subject: SettingsWrite, session: SessionDep
) -> Response:
    await service.delete_tax_rate(session, subject, tax_rate_id)
    return Response(status_code=204)
