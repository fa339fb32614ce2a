"""The webhook_fanout scenario's plumbing (bench/fanout.py): the receiver's signature check and
bookkeeping, the tally and its latencies, what the database says should arrive (with the real
sender posting to the receiver, on SQLite and PostgreSQL), and the targets in bench/report.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bench.fanout import Expected, Receiver, Subscription, tally
from sqlalchemy.ext.asyncio import AsyncConnection

from bench import fanout, report
from shopdb.bench.seed import SeedSpec, seed_bench
from shopdb.db import Database
from shopdb.events.service import record_event
from shopdb.keys import field_cipher
from shopdb.kit.types import utcnow
from shopdb.models import Job
from shopdb.webhooks import signing
from shopdb.webhooks.sender import SenderOptions, WebhookSender
from tests.fixtures.catalog import TokenFactory
from tests.fixtures.database import Backend

SECRET = "s3cret-of-the-subscription"
PATH = "/hooks/run/0"


def signed(body: bytes, webhook_id: str, event_id: int, secret: str = SECRET) -> dict[str, str]:
    """The headers the sender puts on a delivery, signed as the README documents."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopdb-Topic": "orders/create",
        "X-Shopdb-Webhook-Id": webhook_id,
        "X-Shopdb-Event-Id": str(event_id),
        "X-Shopdb-Hmac-Sha256": base64.b64encode(digest).decode(),
    }


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    running = Receiver()
    await running.start()
    running.secrets[PATH] = SECRET
    try:
        yield running
    finally:
        await running.close()


class TestReceiver:
    async def test_accepts_a_signed_delivery_and_counts_its_repeat_as_a_duplicate(
        self, receiver: Receiver
    ) -> None:
        body = b'{"id":7,"number":1007}'
        async with httpx.AsyncClient() as client:
            first = await client.post(
                receiver.url(PATH), content=body, headers=signed(body, "uid-7", 41)
            )
            again = await client.post(
                receiver.url(PATH), content=body, headers=signed(body, "uid-7", 41)
            )

        assert (first.status_code, again.status_code) == (200, 200)
        assert list(receiver.arrivals) == ["uid-7"]
        arrival = receiver.arrivals["uid-7"]
        assert (arrival.event_id, arrival.path, arrival.count) == (41, PATH, 2)
        assert (receiver.requests, receiver.duplicates, receiver.bad_signatures) == (2, 1, 0)
        assert receiver.first_arrivals() == {(41, PATH): arrival.at}

    async def test_the_senders_own_signature_verifies(self, receiver: Receiver) -> None:
        body = b'{"id":8}'
        headers = {**signed(body, "uid-8", 42), "X-Shopdb-Hmac-Sha256": signing.sign(SECRET, body)}
        async with httpx.AsyncClient() as client:
            answer = await client.post(receiver.url(PATH), content=body, headers=headers)

        assert answer.status_code == 200
        assert receiver.bad_signatures == 0

    async def test_a_wrong_signature_an_altered_body_or_an_unknown_path_is_refused(
        self, receiver: Receiver
    ) -> None:
        body = b'{"id":9}'
        async with httpx.AsyncClient() as client:
            wrong_key = await client.post(
                receiver.url(PATH), content=body, headers=signed(body, "a", 1, secret="other")
            )
            altered = await client.post(
                receiver.url(PATH), content=b'{"id":10}', headers=signed(body, "b", 2)
            )
            unknown = await client.post(
                receiver.url("/hooks/run/9"), content=body, headers=signed(body, "c", 3)
            )
            unsigned = await client.post(receiver.url(PATH), content=body)

        assert [r.status_code for r in (wrong_key, altered, unknown, unsigned)] == [401] * 4
        assert receiver.bad_signatures == 4
        assert receiver.arrivals == {}
        assert receiver.last_arrival == 0.0

    async def test_reads_pipelined_requests_split_across_packets(self, receiver: Receiver) -> None:
        requests = b""
        for number in (1, 2):
            body = f'{{"id":{number}}}'.encode()
            headers = signed(body, f"uid-{number}", number)
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            requests += (
                f"POST {PATH} HTTP/1.1\r\nHost: x\r\n{head}Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
        reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        try:
            for start in range(0, len(requests), 37):
                writer.write(requests[start : start + 37])
                await writer.drain()
                await asyncio.sleep(0.001)
            answers = [await reader.readuntil(b"\r\n\r\n") for _ in range(2)]
        finally:
            writer.close()

        assert [a.split(b"\r\n")[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 2
        assert sorted(receiver.arrivals) == ["uid-1", "uid-2"]
        assert receiver.malformed == 0

    async def test_a_request_that_is_not_http_closes_its_connection(
        self, receiver: Receiver
    ) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", receiver.port)
        writer.write(b"NOT HTTP\r\nContent-Length: x\r\n\r\n")
        await writer.drain()
        answer = await reader.read()
        writer.close()

        assert answer.startswith(b"HTTP/1.1 400")
        assert receiver.malformed == 1


AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class TestTally:
    def test_latency_is_arrival_minus_event_time_over_what_arrived(self) -> None:
        expected = Expected(
            orders=2,
            events={1: AT, 2: AT + timedelta(seconds=1)},
            pairs={(1, "/a"), (1, "/b"), (2, "/a"), (2, "/b")},
        )
        arrivals = {
            (1, "/a"): AT.timestamp() + 0.25,
            (1, "/b"): AT.timestamp() + 0.5,
            (2, "/a"): AT.timestamp() + 1 + 2.0,
            (99, "/a"): AT.timestamp(),  # an event before the mark: not expected
        }

        result = tally(expected, arrivals)

        assert (result.expected, result.delivered) == (4, 3)
        assert (result.missing, result.unexpected) == (1, 1)
        assert sorted(round(ms) for ms in result.latencies_ms) == [250, 500, 2000]
        assert result.missing_examples == [(2, "/b")]
        summary = result.summary()
        assert summary["latency_ms"]["p50"] == 500.0
        assert summary["latency_ms"]["max"] == 2000.0
        assert summary["missing_examples"] == [[2, "/b"]]

    def test_nothing_expected_nothing_missing(self) -> None:
        result = tally(Expected(0, {}, set()), {})

        assert (result.expected, result.delivered, result.missing) == (0, 0, 0)
        assert result.summary()["latency_ms"]["p50"] == 0.0

    async def test_wait_for_returns_once_everything_arrived(self) -> None:
        receiver = Receiver(secrets={"/a": SECRET})
        expected = Expected(1, {5: AT}, {(5, "/a")})
        receiver.arrivals["uid"] = fanout.Arrival(AT.timestamp(), 5, "/a")

        assert await fanout.wait_for(receiver, expected, 10) < 1
        assert await fanout.wait_for(receiver, Expected(1, {6: AT}, {(6, "/a")}), 0.3) >= 0.3

    async def test_settle_waits_until_no_event_is_written_for_a_while(self) -> None:
        # The server's last placements land after wrk returned: three reads see new events.
        marks = [fanout.Mark(10, 5), fanout.Mark(12, 6), fanout.Mark(14, 7)]
        reads: list[fanout.Mark] = []

        async def read() -> fanout.Mark:
            reads.append(marks[min(len(reads), len(marks) - 1)])
            return reads[-1]

        waited = await fanout.settle(read, quiet_s=0.05, limit_s=5)

        assert reads == [*marks, marks[-1]]
        assert 0.15 <= waited < 1

    async def test_settle_gives_up_at_its_limit(self) -> None:
        count = 0

        async def read() -> fanout.Mark:
            nonlocal count
            count += 1
            return fanout.Mark(count, count)

        assert 0.2 <= await fanout.settle(read, quiet_s=0.05, limit_s=0.2) < 0.5


# --- against the database and the real sender ----------------------------------------------

FAST = SenderOptions(
    timeout_seconds=2.0,
    retry_base_seconds=3600.0,  # a failed delivery stays failed within the test
    poll_seconds=0.02,
    lease_seconds=30.0,
    # One at a time: the test's sessions share one connection.
    concurrency=1,
    per_subscription=1,
    allow_private=True,
)


async def order_event(database: Database, order_id: int, topic: str = "orders/create") -> None:
    async with database.session() as session:
        record_event(
            session,
            topic=topic,
            subject_type="Order",
            subject_id=order_id,
            body={"id": order_id, "number": 1000 + order_id},
        )


@pytest.fixture
def api(client: httpx.AsyncClient, token_for: TokenFactory) -> httpx.AsyncClient:
    client.headers.update(token_for("webhooks:read", "webhooks:write"))
    return client


def sender(backend: Backend, database: Database) -> WebhookSender:
    return WebhookSender(database, field_cipher(backend.settings), FAST)


class TestAgainstTheDatabase:
    async def test_counts_what_the_sender_delivered_and_its_latency(
        self,
        api: httpx.AsyncClient,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_connection: AsyncConnection,
    ) -> None:
        assert await fanout.probe(api) == "ok"
        subscriptions = await fanout.subscribe(api, receiver, 3)
        await order_event(database, 1)  # before the mark: sent, but not this run's
        since = await fanout.mark(db_connection)
        for order_id in (2, 3, 4, 5):
            await order_event(database, order_id)
        await order_event(database, 6, topic="products/create")  # no subscription

        sent = await sender(backend, database).run_due()
        expected = await fanout.expected_deliveries(db_connection, since, subscriptions)
        result = tally(expected, receiver.first_arrivals())

        assert sent == 15
        assert len(expected.events) == 4
        assert len(expected.pairs) == 4 * 3
        assert {path for _, path in expected.pairs} == {s.path for s in subscriptions}
        assert (result.delivered, result.missing, result.unexpected) == (12, 0, 3)
        assert (receiver.bad_signatures, receiver.duplicates) == (0, 0)
        assert len(result.latencies_ms) == 12
        assert all(0 <= ms < 60_000 for ms in result.latencies_ms)
        assert await fanout.delivery_statuses(db_connection, subscriptions) == {"succeeded": 15}

    async def test_a_secret_the_receiver_does_not_hold_is_a_bad_signature_and_missing(
        self,
        api: httpx.AsyncClient,
        receiver: Receiver,
        backend: Backend,
        database: Database,
        db_connection: AsyncConnection,
    ) -> None:
        subscriptions = await fanout.subscribe(api, receiver, 2)
        receiver.secrets[subscriptions[1].path] = "not-the-secret"
        since = await fanout.mark(db_connection)
        for order_id in (1, 2, 3):
            await order_event(database, order_id)

        await sender(backend, database).run_due()
        expected = await fanout.expected_deliveries(db_connection, since, subscriptions)
        result = tally(expected, receiver.first_arrivals())

        assert receiver.bad_signatures == 3
        assert (result.expected, result.delivered, result.missing) == (6, 3, 3)
        assert {path for _, path in result.missing_examples} == {subscriptions[1].path}
        assert await fanout.delivery_statuses(db_connection, subscriptions) == {
            "failed": 3,
            "succeeded": 3,
        }

    async def test_unsubscribing_removes_the_subscriptions_and_their_deliveries(
        self,
        api: httpx.AsyncClient,
        receiver: Receiver,
        database: Database,
        db_connection: AsyncConnection,
    ) -> None:
        subscriptions = await fanout.subscribe(api, receiver, 2)
        await order_event(database, 1)
        assert await fanout.delivery_statuses(db_connection, subscriptions) == {"pending": 2}

        await fanout.unsubscribe(api, subscriptions)

        assert await fanout.delivery_statuses(db_connection, subscriptions) == {}
        listed = await api.get(fanout.WEBHOOKS)
        assert listed.json()["items"] == []

    async def test_a_refused_subscription_is_reported_and_undone(
        self, client: httpx.AsyncClient, token_for: TokenFactory, receiver: Receiver
    ) -> None:
        client.headers.update(token_for("webhooks:read"))

        with pytest.raises(fanout.FanoutUnavailable, match="answered 403"):
            await fanout.subscribe(client, receiver, 2)

    async def test_counts_orders_after_the_mark(
        self, backend: Backend, db_connection: AsyncConnection
    ) -> None:
        since = await fanout.mark(db_connection)
        spec = SeedSpec(products=6, customers=3, seed=5, orders=7, lifecycle_orders=2)
        await seed_bench(
            db_connection, field_cipher(backend.settings), spec, orders_until=AT - timedelta(1)
        )

        expected = await fanout.expected_deliveries(
            db_connection, since, [Subscription(1, "orders/create", "/a")]
        )

        assert expected.orders == 9
        assert (await fanout.mark(db_connection)).order_id > since.order_id

    async def test_jobs_due_counts_the_backlog_a_worker_would_start_with(
        self, database: Database, db_connection: AsyncConnection
    ) -> None:
        before = await fanout.jobs_due(db_connection)
        now = utcnow()
        async with database.session() as session:
            session.add_all(
                [
                    Job(kind="x", status="queued", run_after=now - timedelta(seconds=1)),
                    Job(kind="x", status="running", run_after=now - timedelta(seconds=1)),
                    Job(kind="x", status="queued", run_after=now + timedelta(hours=1)),
                    Job(kind="x", status="completed", run_after=now - timedelta(seconds=1)),
                ]
            )

        assert await fanout.jobs_due(db_connection) == before + 2


# --- the targets ----------------------------------------------------------------------------


def fanout_results(**details: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "rps": 85.0,
        "requests": 2550,
        "duration_s": 30.0,
        "latency_ms": {"p50": 150.0, "p95": 180.0, "p99": 190.0},
        "errors": {"status_5xx": 0, "total": 0},
        "statuses": {"201": 2550},
        "cpu": {"webhook_worker_cpu_cores": 0.6, "server_cpu_cores": 1.2},
        "load_generator": {"cpu_cores": 0.1},
        "server": {"rss_mib_max_worker": 150.0},
        "fanout": {
            "subscriptions": 10,
            "topic": "orders/create",
            "workers": 1,
            "orders": 2600,
            "events": 2600,
            "expected": 26_000,
            "delivered": 26_000,
            "missing": 0,
            "duplicates": 3,
            "bad_signatures": 0,
            "waited_s": 1.5,
            "drain_limit_s": 60,
            "latency_ms": {"p50": 420.0, "p90": 800.0, "p99": 1400.0, "max": 2100.0},
            "deliveries_by_status": {"succeeded": 26_000},
            **details,
        },
    }
    return {
        "scenarios": {
            "order_place": {**run, "rps": 100.0, "fanout": None},
            "webhook_fanout": run,
        }
    }


def fanout_verdicts(results: dict[str, Any]) -> dict[str, str]:
    return {
        t["key"]: t["result"]
        for t in report.evaluate(results)
        if t["key"].startswith("webhook_fanout")
    }


class TestTargets:
    def test_all_pass(self) -> None:
        assert set(fanout_verdicts(fanout_results()).values()) == {"pass"}

    def test_each_target_fails_on_its_own(self) -> None:
        results = fanout_results(missing=1, delivered=25_999, bad_signatures=2)
        results["scenarios"]["webhook_fanout"]["fanout"]["latency_ms"]["p50"] = 1001.0
        results["scenarios"]["webhook_fanout"]["rps"] = 79.9
        results["scenarios"]["webhook_fanout"]["errors"]["total"] = 1

        assert fanout_verdicts(results) == {
            "webhook_fanout_delivered": "fail",
            "webhook_fanout_latency_p50": "fail",
            "webhook_fanout_bad_signatures": "fail",
            "webhook_fanout_vs_order_place": "fail",
            "webhook_fanout_errors": "fail",
        }

    def test_orders_without_their_event_count_as_missing(self) -> None:
        results = fanout_results(events=2599, expected=25_990, delivered=25_990)

        (target,) = [t for t in report.evaluate(results) if t["key"] == "webhook_fanout_delivered"]
        assert (target["value"], target["result"]) == (10, "fail")

    def test_nothing_expected_or_no_order_place_is_not_run(self) -> None:
        results = fanout_results(orders=0, events=0, expected=0, delivered=0)
        del results["scenarios"]["order_place"]

        verdicts = fanout_verdicts(results)

        # Order placement errors are measured whatever arrived.
        assert verdicts.pop("webhook_fanout_errors") == "pass"
        assert set(verdicts.values()) == {"not run"}

    def test_nothing_delivered_has_no_latency_to_be_proud_of(self) -> None:
        results = fanout_results(delivered=0, missing=26_000)

        assert fanout_verdicts(results)["webhook_fanout_latency_p50"] == "fail"

    def test_the_table_reports_the_fanout(self) -> None:
        results = fanout_results()
        results.update(
            started_at="2026-11-27T23:00:00+00:00",
            total_s=400,
            command="make bench",
            config={"workers": 2, "connections": 32, "duration_s": 15, "mixed_s": 60},
        )
        results["targets"] = report.evaluate(results)

        table = report.markdown(results, "bench/results/x.json")

        assert (
            "Webhook fanout: 10 subscriptions to orders/create, 1 `shopdb worker` (0.6 cores); "
            "85.0 orders/s (85% of order_place's 100.0)" in table
        )
        assert "26,000 of 26,000 deliveries arrived (0 missing, 3 duplicates" in table
        assert "event to delivery p50 420 / p90 800 / p99 1,400 / max 2,100 ms" in table
        assert "webhook fanout: median event-to-delivery latency <= 1 s | 420 |" in table


def test_scenario_runs_right_after_order_place() -> None:
    from bench.scenarios import SCENARIOS

    names = [s.name for s in SCENARIOS]
    assert names[names.index("order_place") + 1] == "webhook_fanout"
    (scenario,) = [s for s in SCENARIOS if s.name == "webhook_fanout"]
    assert (scenario.driver, scenario.requests, scenario.connections) == (
        "webhook_fanout",
        "orders",
        16,
    )
