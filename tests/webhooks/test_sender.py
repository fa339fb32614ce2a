"""The sender against a real local receiver: signatures, headers, retries with backoff,
abandonment, deactivation, redelivery, per-subscription limits, leases and a graceful stop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.events.service import record_event
from shopdb.kit.types import utcnow
from shopdb.models import Event, WebhookDelivery
from shopdb.webhooks.sender import Outcome
from tests.fixtures.catalog import Headers, product_body
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.webhooks.conftest import WEBHOOKS, deliveries, make_sender, subscribe, webhook_row
from tests.webhooks.receiver import Receiver


async def order_event(database: Database, order_id: int, topic: str = "orders/create") -> None:
    async with database.session() as session:
        record_event(
            session,
            topic=topic,
            subject_type="Order",
            subject_id=order_id,
            body={"id": order_id, "name": f"#{order_id}", "total": "9.50"},
        )


async def drain(sender: Any, rounds: int = 50) -> None:
    """Run what is due until nothing is (the schedule runs in milliseconds here)."""
    for _ in range(rounds):
        if not await sender.run_due():
            await asyncio.sleep(0.01)
            if not await sender.run_due():
                return


class TestSending:
    async def test_posts_the_event_signed_with_the_subscriptions_headers(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/products")
        created = await client.post("/api/v1/products", json=product_body(), headers=headers)
        assert created.status_code == 201

        sent = await make_sender(backend, database).run_due()

        assert sent == 1
        assert receiver.bad_signatures == 0
        [request] = receiver.received
        event = await db_session.scalar(select(Event).where(Event.topic == "products/create"))
        assert event is not None
        [delivery] = await deliveries(db_session, hook["id"])
        assert request.status == 200
        assert request.json == event.body
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-shopdb-topic"] == "products/create"
        assert request.headers["x-shopdb-event-id"] == str(event.id)
        assert request.headers["x-shopdb-triggered-at"] == event.created_at.isoformat()
        listed = await client.get(f"{WEBHOOKS}/{hook['id']}/deliveries", headers=headers)
        [shown] = listed.json()["items"]
        assert request.headers["x-shopdb-webhook-id"] == shown["webhookUid"]
        assert (delivery.status, delivery.attempts, delivery.response_status) == (
            "succeeded",
            1,
            200,
        )
        assert delivery.delivered_at is not None
        assert delivery.locked_by is None
        assert shown["status"] == "succeeded"
        assert shown["nextAttemptAt"] is None
        assert [(a["attempt"], a["statusCode"], a["error"]) for a in shown["attemptLog"]] == [
            (1, 200, None)
        ]

    async def test_sends_only_the_subscribed_fields(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
    ) -> None:
        await subscribe(client, headers, receiver, "/o", "orders/create", fields=["id", "name"])
        await order_event(database, 5)

        await make_sender(backend, database).run_due()

        assert [r.json for r in receiver.accepted()] == [{"id": 5, "name": "#5"}]
        assert receiver.bad_signatures == 0

    async def test_each_subscription_gets_its_own_signature(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
    ) -> None:
        await subscribe(client, headers, receiver, "/a", "orders/create")
        await subscribe(client, headers, receiver, "/b", "orders/create")
        await order_event(database, 1)

        await make_sender(backend, database).run_due()

        assert sorted(r.path for r in receiver.accepted()) == ["/a", "/b"]
        signatures = {r.headers["x-shopdb-hmac-sha256"] for r in receiver.received}
        assert len(signatures) == 2
        assert receiver.bad_signatures == 0


class TestRetries:
    async def test_a_failing_receiver_gets_the_same_delivery_again_until_it_accepts(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/flaky", "orders/create")
        receiver.fail_first["/flaky"] = 2
        await order_event(database, 1)

        await drain(make_sender(backend, database))

        assert [r.status for r in receiver.received] == [500, 500, 200]
        assert len({r.headers["x-shopdb-webhook-id"] for r in receiver.received}) == 1
        assert len({r.body for r in receiver.received}) == 1
        [delivery] = await deliveries(db_session, hook["id"])
        assert (delivery.status, delivery.attempts) == ("succeeded", 3)
        assert [a["statusCode"] for a in delivery.attempt_log or []] == [500, 500, 200]
        assert (await webhook_row(db_session, hook["id"])).consecutive_failures == 0

    async def test_a_failed_attempt_waits_for_its_backoff(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/flaky", "orders/create")
        receiver.fail_first["/flaky"] = 1
        await order_event(database, 1)
        sender = make_sender(backend, database, retry_base_seconds=60, retry_max_seconds=600)

        first = await sender.run_due()
        second = await sender.run_due()

        assert (first, second) == (1, 0)
        [delivery] = await deliveries(db_session, hook["id"])
        assert delivery.status == "failed"
        assert delivery.last_error == "the receiver answered 500"
        assert delivery.next_attempt_at is not None
        # The first retry comes after 30 to 60 s (60 s base, half of it jitter).
        wait = (delivery.next_attempt_at - utcnow()).total_seconds()
        assert 25 < wait <= 60
        shown = (await client.get(f"{WEBHOOKS}/{hook['id']}/deliveries", headers=headers)).json()[
            "items"
        ][0]
        assert (shown["status"], shown["attempts"], shown["responseStatus"]) == ("failed", 1, 500)
        assert shown["nextAttemptAt"] is not None

    async def test_a_delivery_is_abandoned_after_the_last_retry(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/down", "orders/create")
        receiver.down = True
        await order_event(database, 1)

        await drain(make_sender(backend, database))

        # The default schedule's count: the first attempt and 8 retries.
        assert [r.status for r in receiver.received] == [503] * 9
        [delivery] = await deliveries(db_session, hook["id"])
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
            "abandoned",
            9,
            None,
        )
        webhook = await webhook_row(db_session, hook["id"])
        assert (webhook.active, webhook.consecutive_failures) == (True, 1)

    async def test_an_unreachable_receiver_is_a_failed_attempt(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        async with Receiver() as gone:
            hook = await subscribe(client, headers, gone, "/gone", "orders/create")
        await order_event(database, 1)

        await make_sender(backend, database, retries=0).run_due()

        [delivery] = await deliveries(db_session, hook["id"])
        assert delivery.status == "abandoned"
        assert delivery.response_status is None
        assert delivery.last_error is not None
        assert "could not be reached" in delivery.last_error

    async def test_a_slow_receiver_times_out(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/slow", "orders/create")
        receiver.delay["/slow"] = 1.0
        await order_event(database, 1)

        await make_sender(backend, database, timeout_seconds=0.2, retries=0).run_due()

        [delivery] = await deliveries(db_session, hook["id"])
        assert (delivery.status, delivery.last_error) == ("abandoned", "no answer within 0.2 s")
        assert delivery.duration_ms is not None
        assert 150 <= delivery.duration_ms < 1000


class TestDeactivation:
    async def test_a_run_of_abandoned_deliveries_deactivates_the_subscription(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/down", "orders/create")
        receiver.down = True
        sender = make_sender(backend, database, retries=1, failures_before_deactivation=2)
        await order_event(database, 1)
        await order_event(database, 2)

        await drain(sender)

        webhook = await webhook_row(db_session, hook["id"])
        assert (webhook.active, webhook.consecutive_failures) == (False, 2)
        assert webhook.deactivated_at is not None
        said = (
            await db_session.scalars(select(Event).where(Event.topic == "webhooks/deactivate"))
        ).all()
        assert [(e.subject, e.body["consecutiveFailures"]) for e in said] == [
            (f"Webhook {hook['id']}", 2)
        ]
        # Inactive: later events write no delivery for it.
        await order_event(database, 3)
        assert len(await deliveries(db_session, hook["id"])) == 2

    async def test_a_success_ends_the_run(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/down", "orders/create")
        sender = make_sender(backend, database, retries=0, failures_before_deactivation=2)
        receiver.down = True
        await order_event(database, 1)
        await drain(sender)
        receiver.down = False
        await order_event(database, 2)
        await drain(sender)
        receiver.down = True
        await order_event(database, 3)

        await drain(sender)

        webhook = await webhook_row(db_session, hook["id"])
        assert (webhook.active, webhook.consecutive_failures) == (True, 1)

    async def test_reactivating_clears_the_run(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/down", "orders/create")
        receiver.down = True
        await order_event(database, 1)
        await drain(make_sender(backend, database, retries=0, failures_before_deactivation=1))

        reactivated = await client.put(
            f"{WEBHOOKS}/{hook['id']}", json={"active": True}, headers=headers
        )

        assert reactivated.status_code == 200
        body = reactivated.json()
        assert (body["active"], body["consecutiveFailures"], body["deactivatedAt"]) == (
            True,
            0,
            None,
        )


class TestRedeliver:
    async def test_redelivers_an_abandoned_delivery_with_the_same_id(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/down", "orders/create")
        receiver.down = True
        await order_event(database, 1)
        sender = make_sender(backend, database, retries=0)
        await drain(sender)
        [delivery] = await deliveries(db_session, hook["id"])
        assert delivery.status == "abandoned"
        receiver.down = False

        response = await client.post(
            f"{WEBHOOKS}/{hook['id']}/deliveries/{delivery.id}/redeliver", headers=headers
        )

        assert response.status_code == 202, response.text
        assert (response.json()["status"], response.json()["attempts"]) == ("pending", 0)
        await drain(sender)
        [delivery] = await deliveries(db_session, hook["id"])
        assert (delivery.status, delivery.attempts) == ("succeeded", 1)
        assert [r.status for r in receiver.received] == [503, 200]
        assert len({r.headers["x-shopdb-webhook-id"] for r in receiver.received}) == 1
        assert receiver.bad_signatures == 0

    async def test_refuses_while_a_worker_sends_it_and_for_an_inactive_subscription(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/a", "orders/create")
        await order_event(database, 1)
        [delivery] = await deliveries(db_session, hook["id"])
        path = f"{WEBHOOKS}/{hook['id']}/deliveries/{delivery.id}/redeliver"
        await db_session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery.id)
            .values(locked_by="another", locked_until=utcnow() + timedelta(minutes=1), attempts=1)
        )
        await db_session.commit()

        in_flight = await client.post(path, headers=headers)
        await client.put(f"{WEBHOOKS}/{hook['id']}", json={"active": False}, headers=headers)
        inactive = await client.post(path, headers=headers)
        missing = await client.post(
            f"{WEBHOOKS}/{hook['id']}/deliveries/999999/redeliver", headers=headers
        )

        assert (in_flight.status_code, in_flight.json()["code"]) == (409, "DELIVERY_IN_FLIGHT")
        assert (inactive.status_code, inactive.json()["code"]) == (409, "WEBHOOK_INACTIVE")
        assert missing.status_code == 404
        [unchanged] = await deliveries(db_session, hook["id"])
        assert (unchanged.locked_by, unchanged.attempts) == ("another", 1)


class TestClaims:
    async def test_one_subscription_gets_at_most_its_share_of_a_claim(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
    ) -> None:
        busy = await subscribe(client, headers, receiver, "/busy", "orders/create")
        quiet = await subscribe(client, headers, receiver, "/quiet", "orders/paid")
        for n in range(6):
            await order_event(database, n)
        await order_event(database, 100, "orders/paid")
        sender = make_sender(backend, database, per_subscription=2, concurrency=10)

        first = await sender.claim(10)
        second = await sender.claim(10)

        assert sorted(c.webhook_id for c in first) == sorted([busy["id"], busy["id"], quiet["id"]])
        # Two of the busy subscription's are in flight here: it gets no more for now.
        assert second == []

    async def test_backlogged_while_a_claim_takes_all_it_may(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
    ) -> None:
        await subscribe(client, headers, receiver, "/busy", "orders/create")
        for n in range(3):
            await order_event(database, n)
        sender = make_sender(backend, database, per_subscription=10, poll_seconds=0.2)
        assert not sender.backlogged

        assert len(await sender.claim(2)) == 2  # one more is due: behind
        assert sender.backlogged
        await asyncio.sleep(0.25)
        assert not sender.backlogged  # for a poll interval only
        assert len(await sender.claim(5)) == 1  # all that was due: not behind
        assert not sender.backlogged

    async def test_a_claimed_delivery_is_nobody_elses_until_its_lease_lapses(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/a", "orders/create")
        await order_event(database, 1)
        first = make_sender(backend, database, name="first")
        second = make_sender(backend, database, name="second")

        [claimed] = await first.claim(5)
        assert await second.claim(5) == []
        # The first worker stalls past its lease: the second takes the delivery over.
        await db_session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == claimed.id)
            .values(locked_until=utcnow() - timedelta(seconds=1))
        )
        await db_session.commit()
        [taken] = await second.claim(5)

        assert (taken.id, taken.attempt) == (claimed.id, 2)
        async with first._session_client():
            assert await first.deliver(claimed) == "lease_lost"
        async with second._session_client():
            assert await second.deliver(taken) == "succeeded"
        [delivery] = await deliveries(db_session, hook["id"])
        assert (delivery.status, delivery.attempts) == ("succeeded", 2)
        assert receiver.bad_signatures == 0


class TestStopping:
    async def test_stop_finishes_the_request_in_flight(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hook = await subscribe(client, headers, receiver, "/slow", "orders/create")
        receiver.delay["/slow"] = 0.3
        await order_event(database, 1)
        sender = make_sender(backend, database)
        running = asyncio.create_task(sender.run())
        for _ in range(200):
            if sender._in_flight:
                break
            await asyncio.sleep(0.01)
        assert sender._in_flight, "the sender never claimed the delivery"

        sender.stop()
        await asyncio.wait_for(running, 5)

        [delivery] = await deliveries(db_session, hook["id"])
        assert (delivery.status, delivery.attempts) == ("succeeded", 1)
        assert [r.status for r in receiver.received] == [200]


class TestBatchedOutcomes:
    async def test_successes_finished_together_are_written_in_one_statement(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        hooks = [await subscribe(client, headers, receiver, f"/{n}", "orders/create") for n in "ab"]
        for n in range(6):
            await order_event(database, n)
        sender = make_sender(backend, database, per_subscription=10, concurrency=20)
        with statements_sent(database.primary) as claiming:
            claimed = await sender.claim(20)
        assert len(claimed) == 12
        # PostgreSQL leases them and reads their subscriptions in one statement.
        reads = [s for s in claiming if "webhook" in s.lower()]
        assert len(reads) == (1 if backend.name == "postgresql" else 3)
        assert {c.address for c in claimed} == {receiver.url("/a"), receiver.url("/b")}
        # Another worker took one over meanwhile (its lease lapsed): that outcome is dropped.
        stolen = claimed[0]
        await db_session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == stolen.id)
            .values(locked_by="another", attempts=WebhookDelivery.attempts + 1)
        )
        await db_session.commit()

        with statements_sent(database.primary) as sent:
            results = await asyncio.gather(
                *(
                    sender._record_success(c, Outcome(status_code=200, duration_ms=3))
                    for c in claimed
                )
            )

        assert results == ["lease_lost"] + ["succeeded"] * 11
        writes = [s for s in sent if "UPDATE WEBHOOK_DELIVERIES" in s.upper()]
        assert len(writes) == (1 if backend.name == "postgresql" else 12)
        # PostgreSQL resets the subscriptions' runs of failures in that same statement.
        resets = [s for s in sent if s.lstrip().upper().startswith("UPDATE WEBHOOKS ")]
        assert len(resets) == (0 if backend.name == "postgresql" else 1)
        rows = {d.id: d for h in hooks for d in await deliveries(db_session, h["id"])}
        assert rows[stolen.id].status == "pending"
        done = [rows[c.id] for c in claimed[1:]]
        assert {(d.status, d.response_status, d.locked_by) for d in done} == {
            ("succeeded", 200, None)
        }
        assert all(d.delivered_at is not None for d in done)
        assert all(d.attempt_log and d.attempt_log[-1]["statusCode"] == 200 for d in done)


class TestGuardAtSend:
    async def test_a_private_address_is_refused_at_send_time_and_nothing_is_sent(
        self,
        client: httpx.AsyncClient,
        headers: Headers,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
    ) -> None:
        # Created while private addresses were allowed (the tests' settings); the production
        # sender refuses them at each connection, by name or by number.
        by_number = await subscribe(client, headers, receiver, "/n", "orders/create")
        by_name = await client.post(
            WEBHOOKS,
            json={
                "topic": "orders/create",
                "address": receiver.url("/h").replace("127.0.0.1", "localhost"),
            },
            headers=headers,
        )
        assert by_name.status_code == 201, by_name.text
        await order_event(database, 1)

        sender = make_sender(backend, database, allow_private=False, concurrency=5)
        async with sender._session_client():
            claimed = await sender.claim(5)
            assert len(claimed) == 2
            assert [await sender.deliver(c) for c in claimed] == ["failed", "failed"]

        assert receiver.received == []
        for hook_id in (by_number["id"], by_name.json()["id"]):
            [delivery] = await deliveries(db_session, hook_id)
            assert delivery.status == "failed"
            assert delivery.last_error is not None
            assert "public addresses only" in delivery.last_error
