from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.kit.types import utcnow
from shopdb.models import (
    Checkout,
    Customer,
    CustomerAddress,
    DataRetentionPolicy,
    Event,
    Order,
    OrderLineItem,
    OrderTransaction,
    User,
)
from shopdb.storage.local import LocalStorage
from tests.auth.helpers import bearer, make_user, shared_app
from tests.fixtures.database import Backend

RECORDS = "/api/v1/compliance-data"
POLICIES = "/api/v1/data-retention-policies"
NOW = utcnow()


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    return shared_app(backend.name, backend.settings, database)


@pytest.fixture
async def officer(db_session: AsyncSession) -> User:
    """Staff who may read and change compliance records and retention policies."""
    return await make_user(db_session, permissions=["compliance:read", "compliance:write"])


@pytest.fixture
def headers(app: FastAPI, officer: User) -> dict[str, str]:
    return bearer(app, officer)


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "storage")


async def create_policy(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"entityType": "events", "retentionPeriodDays": 30, "deletionPolicy": "hard_delete"}
    response = await client.post(POLICIES, json={**body, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# --- generated history: rows with a backdated created_at ---------------------------------------


async def add_policy(
    session: AsyncSession,
    entity_type: str,
    deletion_policy: str,
    days: int = 30,
    *,
    enabled: bool = True,
    folder: str | None = None,
) -> DataRetentionPolicy:
    policy = DataRetentionPolicy(
        entity_type=entity_type,
        retention_period_days=days,
        deletion_policy=deletion_policy,
        auto_delete_enabled=enabled,
        archive_policy=folder,
    )
    session.add(policy)
    await session.flush()
    return policy


async def add_events(session: AsyncSession, ages: list[float]) -> list[int]:
    events = [
        Event(
            topic="products/update",
            verb="update",
            subject=f"Product {n}",
            subject_type="Product",
            subject_id=n,
            body={"n": n},
            created_at=days_ago(age),
        )
        for n, age in enumerate(ages, start=1)
    ]
    session.add_all(events)
    await session.flush()
    return [e.id for e in events]


async def add_checkout(
    session: AsyncSession, age: float, *, completed: bool = False, customer_id: int | None = None
) -> Checkout:
    checkout = Checkout(
        token=uuid.uuid4().hex,
        email="sealed-email",
        email_hash=uuid.uuid4().hex,
        customer_id=customer_id,
        currency="USD",
        requested_lines=[{"variantId": 1, "quantity": 1}],
        line_items=[],
        subtotal_price=Decimal("10.00"),
        total_discounts=Decimal("0.00"),
        total_shipping=Decimal("0.00"),
        total_tax=Decimal("0.00"),
        total_price=Decimal("10.00"),
        created_at=days_ago(age),
        updated_at=days_ago(age),
        completed_at=days_ago(age) if completed else None,
    )
    session.add(checkout)
    await session.flush()
    return checkout


async def add_order(
    session: AsyncSession,
    age: float,
    *,
    state: str = "closed",
    customer_id: int | None = None,
    lines: int = 2,
) -> Order:
    """`state`: closed, cancelled or open."""
    created = days_ago(age)
    order = Order(
        email="sealed-email",
        number=f"#{uuid.uuid4().hex[:8]}",
        total_price=Decimal("20.00"),
        subtotal_price=Decimal("20.00"),
        customer_id=customer_id,
        financial_status="paid",
        created_at=created,
        updated_at=created,
        closed_at=created if state == "closed" else None,
        cancelled_at=created if state == "cancelled" else None,
    )
    session.add(order)
    await session.flush()
    session.add_all(
        [
            OrderLineItem(order_id=order.id, title=f"Mug {n}", quantity=1, price=Decimal("10.00"))
            for n in range(lines)
        ]
    )
    session.add(
        OrderTransaction(
            order_id=order.id,
            kind="sale",
            gateway="manual",
            status="success",
            amount=Decimal("20.00"),
            currency="USD",
        )
    )
    await session.flush()
    return order


async def add_customer(session: AsyncSession, age: float, *, address: bool = True) -> Customer:
    customer = Customer(
        email=f"sealed-{uuid.uuid4().hex}",
        email_hash=uuid.uuid4().hex,
        first_name="Ada",
        created_at=days_ago(age),
        updated_at=days_ago(age),
    )
    session.add(customer)
    await session.flush()
    if address:
        session.add(
            CustomerAddress(
                customer_id=customer.id, address1="1 Main St", city="Paris", country="FR"
            )
        )
        await session.flush()
    return customer
