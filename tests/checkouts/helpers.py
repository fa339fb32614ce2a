"""Requests and read-backs shared by the checkouts tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.checkouts.repository import ENHANCED, MIRROR
from shopdb.kit.types import utcnow
from shopdb.models import Job
from shopdb.models.checkouts import Checkout
from tests.orders.helpers import APPROVE

CHECKOUTS = "/api/v1/checkouts"
ABANDONED = "/api/v1/abandoned-checkouts"
HOURS_11 = timedelta(hours=11)


def checkout_body(*lines: tuple[int, int], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": "Buyer@Example.com",
        "lineItems": [{"variantId": v, "quantity": q} for v, q in lines],
    }
    body.update(fields)
    return body


def approve(**fields: Any) -> dict[str, Any]:
    return {"payment": {"gateway": "test", "token": APPROVE, "capture": True, **fields}}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(CHECKOUTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def complete(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    token: str,
    body: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> httpx.Response:
    extra_headers = {} if key is None else {"Idempotency-Key": key}
    return await client.post(
        f"{CHECKOUTS}/{token}/complete",
        json=approve() if body is None else body,
        headers={**headers, **extra_headers},
    )


def reconciles(checkout: dict[str, Any]) -> None:
    """The totals identities: lines add up to the subtotal, and
    subtotal - discounts + shipping (+ tax unless included) = total."""
    lines = [Decimal(li["price"]) * li["quantity"] for li in checkout["lineItems"]]
    assert sum(lines) == Decimal(checkout["subtotalPrice"])
    assert [Decimal(li["linePrice"]) for li in checkout["lineItems"]] == lines
    shares = sum(Decimal(li["totalDiscount"]) for li in checkout["lineItems"])
    assert shares == Decimal(checkout["totalDiscounts"])
    tax = Decimal(0) if checkout["taxesIncluded"] else Decimal(checkout["totalTax"])
    assert Decimal(checkout["totalPrice"]) == (
        Decimal(checkout["subtotalPrice"])
        - Decimal(checkout["totalDiscounts"])
        + Decimal(checkout["totalShipping"])
        + tax
    )


async def age(session: AsyncSession, token: str, by: timedelta = HOURS_11) -> datetime:
    """Time travel: the checkout was last updated `by` ago."""
    when = utcnow() - by
    await session.execute(
        update(Checkout)
        .where(Checkout.token == token)
        .values(updated_at=when)
        .execution_options(synchronize_session=False)
    )
    return when


async def stored(session: AsyncSession, token: str) -> Checkout:
    found = await session.scalar(
        select(Checkout).where(Checkout.token == token).execution_options(populate_existing=True)
    )
    assert found is not None
    return found


async def enhanced_rows(session: AsyncSession, token: str) -> list[Any]:
    return list((await session.execute(select(ENHANCED).where(ENHANCED.c.token == token))).all())


async def mirror_rows(session: AsyncSession, token: str) -> list[Any]:
    return list((await session.execute(select(MIRROR).where(MIRROR.c.token == token))).all())


async def make_due(session: AsyncSession) -> None:
    """Every queued job is due now (the abandonment check is queued 10 hours ahead)."""
    await session.execute(
        update(Job).values(run_after=utcnow()).execution_options(synchronize_session=False)
    )
