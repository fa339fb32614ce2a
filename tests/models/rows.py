"""Inserting rows straight into the database (Core, no ORM, no services) for constraint tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

import shopdb.models  # noqa: F401 - registers every table on the metadata
from shopdb.kit.models import Base


def table(name: str) -> sa.Table:
    return Base.metadata.tables[name]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def insert(connection: AsyncConnection, table_name: str, **values: Any) -> int:
    result = await connection.execute(sa.insert(table(table_name)).values(**values))
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def count(connection: AsyncConnection, table_name: str, **where: Any) -> int:
    t = table(table_name)
    statement = sa.select(sa.func.count()).select_from(t)
    for column, value in where.items():
        statement = statement.where(t.c[column] == value)
    return int((await connection.execute(statement)).scalar_one())


async def column_value(
    connection: AsyncConnection, table_name: str, row_id: int, column: str
) -> Any:
    t = table(table_name)
    return (await connection.execute(sa.select(t.c[column]).where(t.c.id == row_id))).scalar_one()


async def delete(connection: AsyncConnection, table_name: str, row_id: int) -> None:
    t = table(table_name)
    await connection.execute(sa.delete(t).where(t.c.id == row_id))


# --- minimal valid rows: every NOT NULL column without a default ---------------------------


async def product(connection: AsyncConnection, **values: Any) -> int:
    return await insert(
        connection, "products", **{"title": "Tee", "handle": unique("tee"), **values}
    )


async def variant(connection: AsyncConnection, product_id: int, **values: Any) -> int:
    defaults = {"product_id": product_id, "title": "Default", "price": Decimal("10.00")}
    return await insert(connection, "product_variants", **{**defaults, **values})


async def location(connection: AsyncConnection) -> int:
    return await insert(connection, "locations", name=unique("Warehouse"))


async def inventory_item(connection: AsyncConnection, variant_id: int) -> int:
    return await insert(connection, "inventory_items", product_variant_id=variant_id)


async def customer(connection: AsyncConnection) -> int:
    # The columns hold ciphertext and an HMAC in real use; any distinct strings do here.
    return await insert(
        connection, "customers", email=unique("ciphertext"), email_hash=uuid.uuid4().hex
    )


async def order(connection: AsyncConnection, customer_id: int | None = None) -> int:
    return await insert(
        connection,
        "orders",
        customer_id=customer_id,
        email="buyer@example.com",
        number=unique("#"),
        total_price=Decimal("20.00"),
        subtotal_price=Decimal("20.00"),
    )


async def company(connection: AsyncConnection) -> int:
    return await insert(connection, "companies", company_name=unique("Acme"))


def aware(year: int = 2026, month: int = 1, day: int = 2) -> datetime:
    return datetime(year, month, day, 3, 4, 5, tzinfo=UTC)
