"""Companies, payment terms and orders on terms: requests and read-backs shared by the tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.models import Company, Order
from tests.fixtures.catalog import Headers
from tests.orders.helpers import ORDERS, make_locations, make_variant

COMPANIES = "/api/v1/companies"


async def create_company(
    client: httpx.AsyncClient, headers: Headers, **fields: Any
) -> dict[str, Any]:
    body = {"companyName": "Acme Wholesale", "creditLimit": "1000.00", **fields}
    response = await client.post(COMPANIES, json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def create_term(
    client: httpx.AsyncClient, headers: Headers, company_id: int, **fields: Any
) -> dict[str, Any]:
    body = {"netDays": 30, **fields}
    response = await client.post(
        f"{COMPANIES}/{company_id}/payment-terms", json=body, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def stocked_variant(database: Database, price: str, units: int = 100) -> int:
    (location,) = await make_locations(database, "Warehouse")
    return (await make_variant(database, price, {location: units}, taxable=False)).variant_id


def terms_body(variant_id: int, quantity: int, company_id: int, **fields: Any) -> dict[str, Any]:
    return {
        "email": "buyer@acme.example",
        "lineItems": [{"variantId": variant_id, "quantity": quantity}],
        "companyId": company_id,
        **fields,
    }


async def place_on_terms(
    client: httpx.AsyncClient,
    headers: Headers,
    variant_id: int,
    quantity: int,
    company_id: int,
    **fields: Any,
) -> dict[str, Any]:
    response = await client.post(
        ORDERS, json=terms_body(variant_id, quantity, company_id, **fields), headers=headers
    )
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


async def balance(client: httpx.AsyncClient, headers: Headers, company_id: int) -> dict[str, Any]:
    response = await client.get(f"{COMPANIES}/{company_id}/balance", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def stored_balance(session: AsyncSession, company_id: int) -> tuple[Decimal, Decimal]:
    """(companies.outstanding_balance, the sum of its orders' credit_held), read afresh."""
    outstanding = await session.scalar(
        select(Company.outstanding_balance)
        .where(Company.id == company_id)
        .execution_options(populate_existing=True)
    )
    held = await session.scalar(
        select(func.coalesce(func.sum(Order.credit_held), 0)).where(Order.company_id == company_id)
    )
    assert outstanding is not None
    return Decimal(outstanding), Decimal(held or 0)
