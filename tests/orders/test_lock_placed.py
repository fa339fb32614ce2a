"""OrderRepository.lock_placed, which every lifecycle operation runs first: on PostgreSQL its
objects are made from asyncpg's rows (kit.models.attach_loaded), and must be what the ORM's
own load gives, value for value and type for type; the session's object for the order is
the one returned, refreshed."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import inspect, select, update
from sqlalchemy.orm import selectinload

from shopdb.db import Database
from shopdb.kit.models import Base
from shopdb.models import Order
from shopdb.orders.repository import OrderRepository
from tests.fixtures.catalog import Headers
from tests.orders.helpers import make_locations, make_variant, order_body, place


def _columns(row: Base) -> dict[str, tuple[type, Any]]:
    return {
        column.key: (type(getattr(row, column.key)), getattr(row, column.key))
        for column in inspect(type(row)).column_attrs
    }


async def _placed(client: httpx.AsyncClient, admin: Headers, database: Database) -> int:
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "12.50", {loc: 9})
    mug = await make_variant(database, "7.25", {loc: 9})
    body = order_body(
        (tee.variant_id, 2),
        (mug.variant_id, 1),
        payment={"gateway": "test", "token": "4242424242424242", "capture": False},
        shippingAddress={"firstName": "Ada", "address1": "1 Main St", "city": "Portland"},
        tags=["vip", "gift"],
    )
    response = await place(client, admin, body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_the_locked_order_is_what_the_orm_loads(
    client: httpx.AsyncClient, admin: Headers, database: Database
) -> None:
    order_id = await _placed(client, admin, database)
    async with database.session() as session:
        loaded = (
            await session.scalars(
                select(Order)
                .where(Order.id == order_id)
                .options(selectinload(Order.line_items), selectinload(Order.transactions))
            )
        ).one()
        expected = (
            _columns(loaded),
            [_columns(line) for line in loaded.line_items],
            [_columns(t) for t in loaded.transactions],
        )

    async with database.session() as session:
        locked = await OrderRepository(session).lock_placed(order_id)
        assert locked is not None
        assert inspect(locked).persistent
        found = (
            _columns(locked),
            [_columns(line) for line in locked.line_items],
            [_columns(t) for t in locked.transactions],
        )

    assert found == expected
    assert (len(found[1]), len(found[2])) == (2, 1)


async def test_the_sessions_own_order_comes_back_refreshed(
    client: httpx.AsyncClient, admin: Headers, database: Database
) -> None:
    order_id = await _placed(client, admin, database)
    async with database.session() as session:
        before = await session.get(Order, order_id)
        assert before is not None
        await session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(note="changed underneath")
            .execution_options(synchronize_session=False)
        )

        locked = await OrderRepository(session).lock_placed(order_id)

        assert locked is before
        assert locked.note == "changed underneath"
        locked.note = "then by the caller"
        await session.flush()
    async with database.session() as session:
        assert await session.scalar(select(Order.note).where(Order.id == order_id)) == (
            "then by the caller"
        )


async def test_an_order_that_is_not_placed_is_none(database: Database) -> None:
    async with database.session() as session:
        assert await OrderRepository(session).lock_placed(10**9) is None
