"""/api/v1/discount-codes: list, lookup by code, read, create, update, soft delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Response

from shopdb.dependencies import SessionDep
from shopdb.discounts import service
from shopdb.discounts.auth import DiscountsRead, DiscountsReadWrite, DiscountsWrite
from shopdb.discounts.repository import DiscountFilter
from shopdb.discounts.schemas import (
    DiscountCodeCreate,
    DiscountCodeRead,
    DiscountCodeUpdate,
    DiscountStatus,
    DiscountType,
)
from shopdb.idempotency import idempotent
from shopdb.kit.etags import etag
from shopdb.kit.parameters import IfMatch, PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.kit.types import utcnow
from shopdb.models import DiscountCode

router = domain_router("/discount-codes", tags=["discounts"])


def _read(code: DiscountCode, now: datetime) -> DiscountCodeRead:
    return DiscountCodeRead.model_validate(
        {
            **{
                name: getattr(code, name)
                for name in DiscountCodeRead.model_fields
                if name != "status"
            },
            "status": service.status_of(code, now),
        }
    )


def _one(code: DiscountCode, *, status_code: int = 200, location: bool = False) -> Response:
    headers = {"ETag": etag(code.version)}
    if location:
        headers["Location"] = f"/api/v1/discount-codes/{code.id}"
    return model_response(_read(code, utcnow()), status_code=status_code, headers=headers)


@router.get("", response_model=Page[DiscountCodeRead])
async def list_discount_codes(
    session: SessionDep,
    _subject: DiscountsRead,
    page: PageQuery,
    code: Annotated[str | None, Query(max_length=255, description="code prefix, any case")] = None,
    type: DiscountType | None = None,
    status: DiscountStatus | None = None,
) -> Page[DiscountCodeRead]:
    """By id; `page`/`pageSize`, or `cursor` (each page's nextCursor) for any depth;
    `withTotal=true` adds totalCount."""
    now = utcnow()
    found = await service.list_discount_codes(
        session, DiscountFilter(code_prefix=code, type=type, status=status), request=page, now=now
    )
    return Page[DiscountCodeRead](
        items=[_read(c, now) for c in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.get("/lookup", response_model=DiscountCodeRead)
async def lookup_discount_code(
    session: SessionDep,
    _subject: DiscountsRead,
    code: Annotated[str, Query(min_length=1, max_length=255)],
) -> Response:
    """The code equal to `code` in any letter case (Shopify's discount_codes/lookup)."""
    return _one(await service.lookup_discount_code(session, code))


@router.get("/{discount_code_id}", response_model=DiscountCodeRead)
async def get_discount_code(
    session: SessionDep, _subject: DiscountsRead, discount_code_id: int
) -> Response:
    return _one(await service.load_discount_code(session, discount_code_id))


@router.post("", status_code=201, response_model=DiscountCodeRead)
@idempotent
async def create_discount_code(
    session: SessionDep, subject: DiscountsReadWrite, data: DiscountCodeCreate
) -> Response:
    code = await service.create_discount_code(session, subject, data)
    return _one(code, status_code=201, location=True)


@router.put("/{discount_code_id}", response_model=DiscountCodeRead)
async def update_discount_code(
    session: SessionDep,
    subject: DiscountsReadWrite,
    discount_code_id: int,
    data: DiscountCodeUpdate,
    if_match: IfMatch = None,
) -> Response:
    """Only the fields sent change. If-Match (the ETag) avoids lost updates: 412 when stale."""
    code = await service.update_discount_code(
        session,
        subject,
        discount_code_id,
        data.model_dump(exclude_unset=True, by_alias=False),
        if_match=if_match,
    )
    return _one(code)


@router.delete("/{discount_code_id}", status_code=204, response_class=Response)
async def delete_discount_code(
    session: SessionDep, subject: DiscountsWrite, discount_code_id: int, if_match: IfMatch = None
) -> Response:
    await service.delete_discount_code(session, subject, discount_code_id, if_match=if_match)
    return Response(status_code=204)
