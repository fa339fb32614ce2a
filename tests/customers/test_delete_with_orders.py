"""A customer with orders cannot be deleted (409 CUSTOMER_HAS_ORDERS), also under a race."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers import service
from shopdb.customers.errors import CustomerHasOrders
from shopdb.db import Database
from shopdb.models import Customer, Event, Order
from tests.customers.conftest import CUSTOMERS, create_customer

ACTOR = Subject("user", 1, frozenset({"customers:write"}))


def _order(customer_id: int | None) -> Order:
    return Order(
        customer_id=customer_id,
        email="sealed-order-email",  # never decrypted here
        number=f"#{uuid.uuid4().hex[:10]}",
        total_price=Decimal("20.00"),
        subtotal_price=Decimal("20.00"),
    )


class TestRefused:
    async def test_a_customer_with_an_order_is_kept(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers)
        db_session.add(_order(created["id"]))
        await db_session.flush()

        response = await client.delete(f"{CUSTOMERS}/{created['id']}", headers=headers)

        assert response.status_code == 409
        assert response.json()["code"] == "CUSTOMER_HAS_ORDERS"
        assert response.json()["details"] == [{"field": "id", "message": "has orders"}]
        current = await client.get(f"{CUSTOMERS}/{created['id']}", headers=headers)
        assert (current.status_code, current.json()["version"]) == (200, 1)
        deletions = await db_session.scalars(
            select(Event).where(
                Event.topic == "customers/delete", Event.subject_id == created["id"]
            )
        )
        assert list(deletions) == []

    async def test_only_the_customers_own_live_orders_count(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        other = await create_customer(client, headers)
        created = await create_customer(client, headers)
        deleted_order = _order(created["id"])
        db_session.add_all([_order(other["id"]), _order(None), deleted_order])
        await db_session.flush()
        deleted_order.deleted_at = deleted_order.created_at
        await db_session.flush()

        response = await client.delete(f"{CUSTOMERS}/{created['id']}", headers=headers)

        assert response.status_code == 204

    async def test_the_orders_keep_their_customer(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers)
        order = _order(created["id"])
        db_session.add(order)
        await db_session.flush()

        await client.delete(f"{CUSTOMERS}/{created['id']}", headers=headers)

        await db_session.refresh(order)
        assert order.customer_id == created["id"]


async def _live_customer(database: Database) -> int:
    run = uuid.uuid4().hex[:8]
    async with database.session() as session:
        customer = Customer(
            email=f"sealed-{run}",
            email_hash=f"hash-{run}",
            tag_rows=[],
            addresses=[],
            group_memberships=[],
        )
        session.add(customer)
        await session.flush()
        return customer.id


@pytest.mark.postgres_only
class TestRaceWithAnOrder:
    async def test_a_deletion_waits_for_an_uncommitted_order_and_then_refuses(
        self, live_postgres: Database
    ) -> None:
        customer_id = await _live_customer(live_postgres)

        async def delete() -> None:
            async with live_postgres.session() as session:
                await service.delete_customer(session, ACTOR, customer_id, if_match=None)

        async with live_postgres.sessionmaker() as ordering, ordering.begin():
            ordering.add(_order(customer_id))
            await ordering.flush()  # inserted, holding the foreign key's lock, not committed
            deleting = asyncio.create_task(delete())
            await asyncio.sleep(0.3)
            assert not deleting.done()  # waiting for the order's transaction
        # The order's transaction has committed here.

        with pytest.raises(CustomerHasOrders):
            await deleting
        async with live_postgres.session() as session:
            deleted_at = await session.scalar(
                select(Customer.deleted_at).where(Customer.id == customer_id)
            )
        assert deleted_at is None

    async def test_an_order_started_during_a_deletion_waits_for_it(
        self, live_postgres: Database
    ) -> None:
        customer_id = await _live_customer(live_postgres)
        order_inserted = asyncio.Event()

        async def place_order() -> None:
            async with live_postgres.session() as session:
                session.add(_order(customer_id))
                await session.flush()
                order_inserted.set()

        async with live_postgres.sessionmaker() as deleting, deleting.begin():
            await service.delete_customer(deleting, ACTOR, customer_id, if_match=None)
            ordering = asyncio.create_task(place_order())
            await asyncio.sleep(0.3)
            # The order's foreign key check waits for the deletion's row lock.
            assert not order_inserted.is_set()
        await ordering

        async with live_postgres.session() as session:
            deleted_at = await session.scalar(
                select(Customer.deleted_at).where(Customer.id == customer_id)
            )
        assert deleted_at is not None  # the orders service must refuse a deleted customer
