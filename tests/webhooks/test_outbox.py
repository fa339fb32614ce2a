"""The outbox: a delivery per active subscription of an event's topic, written with the event
in its transaction (a trigger on `events`), and none when that transaction rolls back."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.events.service import record_event
from shopdb.models import Event
from tests.fixtures.catalog import Headers, product_body
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.webhooks.conftest import deliveries, subscribe
from tests.webhooks.receiver import Receiver


class Boom(Exception):
    pass


class TestOutbox:
    async def test_a_change_writes_one_delivery_per_active_subscription_of_its_topic(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        db_session: AsyncSession,
    ) -> None:
        first = await subscribe(client, headers, receiver, "/a")
        second = await subscribe(client, headers, receiver, "/b")
        await subscribe(client, headers, receiver, "/c", active=False)
        await subscribe(client, headers, receiver, "/d", topic="products/delete")

        created = await client.post("/api/v1/products", json=product_body(), headers=headers)

        assert created.status_code == 201, created.text
        event = await db_session.scalar(select(Event).where(Event.topic == "products/create"))
        assert event is not None
        rows = await deliveries(db_session)
        assert [(d.webhook_id, d.event_id, d.topic) for d in rows] == [
            (first["id"], event.id, "products/create"),
            (second["id"], event.id, "products/create"),
        ]
        for row in rows:
            assert (row.status, row.attempts, row.payload) == ("pending", 0, event.body)
            assert row.created_at == event.created_at
            assert row.next_attempt_at == event.created_at

    async def test_events_written_by_core_statements_are_fanned_out_too(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        db_session: AsyncSession,
    ) -> None:
        """Stock moves insert their events with Core statements, not through record_event."""
        hook = await subscribe(client, headers, receiver, "/levels", "inventory_levels/update")

        await db_session.execute(
            insert(Event).values(
                topic="inventory_levels/update",
                verb="update",
                subject="InventoryLevel 7",
                subject_type="InventoryLevel",
                subject_id=7,
                body={"available": 3},
            )
        )

        rows = await deliveries(db_session, hook["id"])
        assert [(d.topic, d.payload) for d in rows] == [
            ("inventory_levels/update", {"available": 3})
        ]

    async def test_an_event_without_a_body_sends_its_subject_id(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/a", "orders/paid")

        record_event(db_session, topic="orders/paid", subject_type="Order", subject_id=41)
        await db_session.flush()

        assert [d.payload for d in await deliveries(db_session, hook["id"])] == [{"id": 41}]

    async def test_a_rolled_back_change_leaves_no_delivery(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/a", "orders/create")

        async def fail_after_the_event() -> None:
            async with database.session() as session:
                record_event(session, topic="orders/create", subject_type="Order", subject_id=1)
                await session.flush()
                assert len(await deliveries(session, hook["id"])) == 1  # written with it
                raise Boom

        with pytest.raises(Boom):
            await fail_after_the_event()
        async with db_session.begin_nested() as savepoint:
            record_event(db_session, topic="orders/create", subject_type="Order", subject_id=2)
            await db_session.flush()
            await savepoint.rollback()

        assert await deliveries(db_session, hook["id"]) == []
        assert await db_session.scalar(select(Event).where(Event.topic == "orders/create")) is None

    async def test_a_committed_change_keeps_its_delivery(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/a", "orders/create")

        async with database.session() as session:
            record_event(session, topic="orders/create", subject_type="Order", subject_id=1)

        rows = await deliveries(db_session, hook["id"])
        assert [(d.status, d.payload) for d in rows] == [("pending", {"id": 1})]

    async def test_a_deleted_subscription_takes_its_deliveries_with_it(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/a", "orders/create")
        record_event(db_session, topic="orders/create", subject_type="Order", subject_id=1)
        await db_session.flush()

        deleted = await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=headers)

        assert deleted.status_code == 204
        assert await deliveries(db_session) == []


class TestCost:
    async def test_the_outbox_adds_no_statement_to_the_change(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        db_session: AsyncSession,
    ) -> None:
        """The fan-out runs inside the event's INSERT (a trigger): order placement sends the
        same statements with subscriptions as without."""

        async def statements_of_an_event(order_id: int) -> list[str]:
            with statements_sent(backend.engine, first_word=True) as sent:
                record_event(
                    db_session,
                    topic="orders/create",
                    subject_type="Order",
                    subject_id=order_id,
                    body={"id": order_id},
                )
                await db_session.flush()
            return sent

        without = await statements_of_an_event(1)
        await subscribe(client, headers, receiver, "/a", "orders/create")
        await subscribe(client, headers, receiver, "/b", "orders/create")
        with_two = await statements_of_an_event(2)

        assert without == with_two == ["INSERT"]
        assert len(await deliveries(db_session)) == 2

    async def test_listing_deliveries_costs_the_same_for_any_page_size(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/a", "orders/create")
        for order_id in range(12):
            record_event(
                db_session, topic="orders/create", subject_type="Order", subject_id=order_id
            )
        await db_session.commit()
        path = f"/api/v1/webhooks/{hook['id']}/deliveries"

        with statements_sent(backend.engine) as small:
            response = await client.get(path, params={"pageSize": 2}, headers=headers)
            assert len(response.json()["items"]) == 2
        with statements_sent(backend.engine) as large:
            response = await client.get(path, params={"pageSize": 12}, headers=headers)
            assert len(response.json()["items"]) == 12

        assert len(large) == len(small)
        ids = [d["id"] for d in response.json()["items"]]
        assert ids == sorted(ids, reverse=True)
