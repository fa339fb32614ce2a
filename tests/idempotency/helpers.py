"""Requests, read-backs and committing apps shared by the idempotency tests."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.models import Event, IdempotencyKey, InventoryAdjustment, InventoryLevel
from shopdb.services import services_of
from tests.auth.helpers import bearer, make_user
from tests.fixtures.catalog import Headers

ADJUST = "/api/v1/inventory-levels/adjust"
SET = "/api/v1/inventory-levels/set"
PRODUCTS = "/api/v1/products"


def keyed(headers: Headers, key: str) -> Headers:
    return {**headers, "Idempotency-Key": key}


async def log_rows(session: AsyncSession, item_id: int) -> list[tuple[int, str | None]]:
    rows = await session.execute(
        select(InventoryAdjustment.quantity_adjustment, InventoryAdjustment.reason)
        .where(InventoryAdjustment.inventory_item_id == item_id)
        .order_by(InventoryAdjustment.id)
    )
    return [(r[0], r[1]) for r in rows]


async def level_events(session: AsyncSession, item_id: int) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Event)
        .where(
            Event.topic == "inventory_levels/update",
            Event.body["inventoryItemId"].as_integer() == item_id,
        )
    )
    return int(count or 0)


async def available(session: AsyncSession, item_id: int, location_id: int) -> int:
    value = await session.scalar(
        select(InventoryLevel.available).where(
            InventoryLevel.inventory_item_id == item_id, InventoryLevel.location_id == location_id
        )
    )
    assert value is not None
    return value


async def stored_keys(session: AsyncSession, key: str) -> list[tuple[str, int | None]]:
    rows = await session.execute(
        select(IdempotencyKey.principal, IdempotencyKey.response_status)
        .where(IdempotencyKey.key == key)
        .order_by(IdempotencyKey.principal)
    )
    return [(r[0], r[1]) for r in rows]


def adjustment(variant: dict[str, Any], location: dict[str, Any], delta: int) -> dict[str, Any]:
    return {
        "inventoryItemId": variant["inventoryItemId"],
        "locationId": location["id"],
        "availableAdjustment": delta,
        "reason": "damaged",
    }


async def committed_admin(app: FastAPI) -> tuple[Headers, str]:
    """An administrator committed in the app's database: (bearer headers, principal)."""
    database: Database = services_of(app).database
    async with database.session() as session:
        user = await make_user(session, role="admin")
    return bearer(app, user), f"user:{user.id}"


def live_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")
