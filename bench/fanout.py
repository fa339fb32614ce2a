"""The webhook_fanout scenario: orders placed at full speed while `shopdb worker` fans every
`orders/create` event out to SUBSCRIPTIONS webhook subscriptions on a local receiver.

The runner starts `Receiver` (an asyncio HTTP server on 127.0.0.1, in the runner's process),
subscribes SUBSCRIPTIONS times to `orders/create` through the API (one path each, whose
secret the creation answer shows), starts the worker process(es) and lets them work off the
queue earlier scenarios left (order_place's confirmation emails), notes the newest event and
order ids, then runs wrk over order_place's request file (warm-up, then the measured window).
Once wrk stops and the server has finished the placements it had in hand (`settle`: no new
event for a second), what should arrive is read from the database (each `orders/create` event
after the mark, times the subscriptions of its topic), and the runner waits up to
--fanout-drain seconds for the outbox to drain.

The receiver checks each X-Shopdb-Hmac-Sha256 itself (base64 HMAC-SHA256 of the raw body with
the path's secret, as the README tells receivers to; not with shopdb's own code, which is what
is being checked) and answers 401 to a bad one. It keeps the first accepted arrival per
X-Shopdb-Webhook-Id with its wall-clock time; a delivery's latency is that time minus its
event's `created_at` (same machine, same clock), over every expected delivery that arrived.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.lifecycle import latency_summary
from shopdb.kit.types import UTCDateTime, utcnow

WEBHOOKS = "/api/v1/webhooks"
TOPIC = "orders/create"
SUBSCRIPTIONS = 10
MAX_HEAD = 64 * 1024  # a request head larger than this is not a webhook: the connection closes
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}

Pair = tuple[int, str]  # (event id, the receiver path of the subscription)


class FanoutUnavailable(RuntimeError):
    """The API cannot subscribe (no webhooks endpoints, no permission): the scenario is skipped."""


def expected_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Arrival:
    """The first accepted request of one X-Shopdb-Webhook-Id."""

    at: float  # time.time() when its body was read
    event_id: int | None
    path: str
    count: int = 1  # accepted requests with this id (more than one: a duplicate delivery)


@dataclass
class Receiver:
    """Counts what arrives; `secrets` maps a path to the secret of the subscription posting
    there. HTTP/1.1 with Content-Length bodies and keep-alive, as httpx sends."""

    secrets: dict[str, str] = field(default_factory=dict)
    arrivals: dict[str, Arrival] = field(default_factory=dict)
    requests: int = 0
    bad_signatures: int = 0
    duplicates: int = 0
    malformed: int = 0
    last_arrival: float = 0.0
    port: int = 0
    _server: asyncio.Server | None = None
    _open: set[_Connection] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            # Keep-alive connections would hold wait_closed() open until the sender drops them.
            for connection in list(self._open):
                if connection.transport is not None:
                    connection.transport.close()
            await self._server.wait_closed()
            self._server = None

    def accept(self, path: str, headers: Mapping[str, str], body: bytes) -> int:
        """The status to answer one request, having counted it."""
        now = time.time()
        self.requests += 1
        secret = self.secrets.get(path)
        signature = headers.get("x-shopdb-hmac-sha256", "")
        if secret is None or not hmac.compare_digest(
            expected_signature(secret, body).encode(), signature.encode()
        ):
            self.bad_signatures += 1
            return 401
        webhook_id = headers.get("x-shopdb-webhook-id", "")
        event = headers.get("x-shopdb-event-id", "")
        if not webhook_id:
            self.malformed += 1
            return 400
        self.last_arrival = now
        seen = self.arrivals.get(webhook_id)
        if seen is not None:
            seen.count += 1
            self.duplicates += 1
            return 200
        self.arrivals[webhook_id] = Arrival(now, int(event) if event.isdigit() else None, path)
        return 200

    def first_arrivals(self) -> dict[Pair, float]:
        """(event, path) -> the first arrival time; a pair sent under two Webhook-Ids (which
        should not happen) keeps its earliest."""
        found: dict[Pair, float] = {}
        for arrival in self.arrivals.values():
            if arrival.event_id is None:
                continue
            key = (arrival.event_id, arrival.path)
            found[key] = min(arrival.at, found.get(key, arrival.at))
        return found


class _Connection(asyncio.Protocol):
    """One keep-alive connection: requests are read from the buffer as they complete."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.receiver._open.add(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._refuse()
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = headers.get("content-length", "0")
            if len(parts) != 3 or not length.isdigit():
                self._refuse()
                return
            total = end + 4 + int(length)
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            status = self.receiver.accept(parts[1], headers, body)
            self.transport.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Length: 0\r\n\r\n".encode()
            )

    def _refuse(self) -> None:
        self.receiver.malformed += 1
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        self.transport.close()
        self.transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.receiver._open.discard(self)


# --- subscriptions, through the API ---------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    id: int
    topic: str
    path: str


async def probe(client: httpx.AsyncClient) -> str:
    """`ok` when the API lists TOPIC among the webhook topics, else why not."""
    try:
        response = await client.get(f"{WEBHOOKS}/topics")
    except httpx.HTTPError as exc:
        return f"GET {WEBHOOKS}/topics failed: {type(exc).__name__}"
    if response.status_code != 200:
        return f"GET {WEBHOOKS}/topics answered {response.status_code}"
    topics = {entry.get("topic") for entry in response.json()}
    return "ok" if TOPIC in topics else f"{TOPIC} is not a webhook topic"


async def subscribe(
    client: httpx.AsyncClient, receiver: Receiver, count: int, topic: str = TOPIC
) -> list[Subscription]:
    """`count` subscriptions to `topic`, each posting to its own path of the receiver, which
    learns each secret. The paths carry a run token: a reused database keeps its old ones."""
    run = secrets.token_hex(4)
    made: list[Subscription] = []
    for number in range(count):
        path = f"/hooks/{run}/{number}"
        response = await client.post(
            WEBHOOKS, json={"topic": topic, "address": receiver.url(path), "format": "json"}
        )
        if response.status_code != 201:
            await unsubscribe(client, made)
            raise FanoutUnavailable(
                f"POST {WEBHOOKS} answered {response.status_code}: {response.text[:200]}"
            )
        created = response.json()
        receiver.secrets[path] = created["secret"]
        made.append(Subscription(int(created["id"]), topic, path))
    return made


async def unsubscribe(client: httpx.AsyncClient, subscriptions: Sequence[Subscription]) -> None:
    """Delete them (and their deliveries): the scenarios after this one run as before."""
    for subscription in subscriptions:
        await client.delete(f"{WEBHOOKS}/{subscription.id}")


# --- the database ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """The newest event and order before the scenario's first order."""

    event_id: int
    order_id: int


async def mark(connection: AsyncConnection) -> Mark:
    events = await connection.scalar(text("SELECT coalesce(max(id), 0) FROM events"))
    orders = await connection.scalar(text("SELECT coalesce(max(id), 0) FROM orders"))
    return Mark(int(events or 0), int(orders or 0))


async def settle(
    read: Callable[[], Awaitable[Mark]], quiet_s: float = 1.0, limit_s: float = 30.0
) -> float:
    """Wait until no event has been written for `quiet_s` (at most `limit_s`); the seconds
    waited. wrk stops by closing its connections, but the server finishes the placements it
    had in hand: the last orders commit after wrk has returned."""
    started = time.monotonic()
    last = await read()
    while time.monotonic() - started < limit_s:
        await asyncio.sleep(quiet_s)
        now = await read()
        if now == last:
            break
        last = now
    return round(time.monotonic() - started, 2)


@dataclass
class Expected:
    """What should arrive: one delivery per (event, subscription of its topic)."""

    orders: int  # orders created after the mark
    events: dict[int, datetime]  # the subscribed topics' events after the mark: created_at
    pairs: set[Pair]


async def expected_deliveries(
    connection: AsyncConnection, since: Mark, subscriptions: Sequence[Subscription]
) -> Expected:
    orders = await connection.scalar(
        text("SELECT count(*) FROM orders WHERE id > :id"), {"id": since.order_id}
    )
    paths: dict[str, list[str]] = {}
    for subscription in subscriptions:
        paths.setdefault(subscription.topic, []).append(subscription.path)
    events: dict[int, datetime] = {}
    pairs: set[Pair] = set()
    if paths:
        statement = (
            text("SELECT id, topic, created_at FROM events WHERE id > :id AND topic IN :topics")
            .bindparams(bindparam("topics", expanding=True))
            .columns(created_at=UTCDateTime())
        )
        rows = await connection.execute(statement, {"id": since.event_id, "topics": list(paths)})
        for row in rows:
            events[int(row.id)] = row.created_at
            pairs.update((int(row.id), path) for path in paths[row.topic])
    return Expected(int(orders or 0), events, pairs)


async def delivery_statuses(
    connection: AsyncConnection, subscriptions: Sequence[Subscription]
) -> dict[str, int]:
    """The outbox rows of the scenario's subscriptions, by status (what the worker recorded)."""
    if not subscriptions:
        return {}
    statement = text(
        "SELECT status, count(*) AS n FROM webhook_deliveries WHERE webhook_id IN :ids "
        "GROUP BY status ORDER BY status"
    ).bindparams(bindparam("ids", expanding=True))
    rows = await connection.execute(statement, {"ids": [s.id for s in subscriptions]})
    return {str(row.status): int(row.n) for row in rows}


async def jobs_due(connection: AsyncConnection) -> int:
    """Queued or running jobs due now: the backlog a worker started now would first work off."""
    statement = text(
        "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running') AND run_after <= :now"
    ).bindparams(bindparam("now", type_=UTCDateTime()))
    return int(await connection.scalar(statement, {"now": utcnow()}) or 0)


# --- the tally ------------------------------------------------------------------------------


@dataclass
class Tally:
    expected: int
    delivered: int
    missing: int
    unexpected: int  # accepted arrivals of no expected pair
    latencies_ms: list[float]
    missing_examples: list[Pair]

    def summary(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "delivered": self.delivered,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "latency_ms": latency_summary(self.latencies_ms),
            "missing_examples": [list(pair) for pair in self.missing_examples],
        }


def tally(expected: Expected, arrivals: Mapping[Pair, float], examples: int = 5) -> Tally:
    """Which expected deliveries arrived, and each one's event-to-arrival latency in ms."""
    latencies = [
        (arrivals[pair] - expected.events[pair[0]].timestamp()) * 1000
        for pair in expected.pairs
        if pair in arrivals
    ]
    missing = sorted(expected.pairs - arrivals.keys())
    return Tally(
        expected=len(expected.pairs),
        delivered=len(latencies),
        missing=len(missing),
        unexpected=len(arrivals.keys() - expected.pairs),
        latencies_ms=latencies,
        missing_examples=missing[:examples],
    )


async def wait_for(receiver: Receiver, expected: Expected, seconds: float) -> float:
    """Wait until every expected pair has arrived or `seconds` pass; the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if not expected.pairs - receiver.first_arrivals().keys():
            break
        await asyncio.sleep(0.25)
    return round(time.monotonic() - started, 2)
