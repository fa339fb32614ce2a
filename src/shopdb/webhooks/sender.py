"""The sender of the webhook outbox, run by `shopdb worker` beside the job queue.

    sender = WebhookSender(database, field_cipher(settings), SenderOptions.from_settings(settings))
    await sender.run()          # until sender.stop() (SIGTERM/SIGINT in `shopdb worker`)

It claims due deliveries (shopdb.webhooks.repository: a lease, SKIP LOCKED on PostgreSQL) and
POSTs each one's JSON body to its subscription's address with the headers

    X-Shopdb-Topic            the event's topic
    X-Shopdb-Webhook-Id       one per (event, subscription), the same on every attempt
    X-Shopdb-Event-Id         the event's id
    X-Shopdb-Triggered-At     when the event was recorded (ISO 8601, UTC)
    X-Shopdb-Hmac-Sha256      base64 HMAC-SHA256 of the exact body, keyed by the secret

A 2xx answer within `timeout_seconds` (1 s at most to connect) is a success; anything else
(another status, a redirect, a timeout, a refused or unreachable address) is a failure, retried
after about base * 2^(attempt-1) seconds with jitter (shopdb.jobs.runner.backoff_seconds)
until `retries` retries have failed; then the delivery is `abandoned`. A subscription whose
`failures_before_deactivation` deliveries in a row were abandoned is deactivated and an event
(`webhooks/deactivate`) says so: a run of failed deliveries, not of attempts, so a receiver
away for minutes loses nothing, one away for the whole schedule stops costing retries.

Sends go through one aiohttp session per sender (keep-alive connections per receiver; about
a twentieth of httpx's CPU per request, which is what a fan-out of ten subscriptions per order
spends most). Its resolver is the guard: a host is resolved once per connection and every
address it gives must be allowed, so the connection goes to a checked address and a second DNS
answer cannot send it elsewhere. Successful outcomes are written in batches (one UPDATE for
all those finished within a few milliseconds of each other, `RecordingBatch`); a failure is
written on its own, with its retry schedule.

At most `concurrency` sends are in flight per worker, at most `per_subscription` of them to
one subscription: a slow or dead receiver holds only its own share. `stop()` stops claiming;
the requests in flight finish (each within the timeout) and their outcomes are written. A
worker killed outright loses nothing: its leases lapse and another worker sends again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import aiohttp
import orjson
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult

from shopdb.config import Settings
from shopdb.db import Database
from shopdb.events.service import record_event
from shopdb.jobs.runner import backoff_seconds, worker_name
from shopdb.kit.crypto import FieldCipher
from shopdb.kit.types import utcnow
from shopdb.metrics import count_webhook_delivery
from shopdb.webhooks import signing
from shopdb.webhooks.errors import AddressRefused
from shopdb.webhooks.guard import allowed_host_addresses, check_literal, parse
from shopdb.webhooks.repository import (
    DeliveryRepository,
    SentOutcome,
    claim_at_once,
    record_successes_at_once,
)

log = structlog.get_logger("shopdb.webhooks")

USER_AGENT = "shopdb-webhooks/1"
CONNECT_SECONDS = 1.0
ATTEMPTS_KEPT = 10  # the attempt log of a delivery keeps the latest ones
# Unsealed signing secrets and checked addresses a sender keeps (then it starts over).
SECRETS_KEPT = 10_000
DEACTIVATED_TOPIC = "webhooks/deactivate"


@dataclass(frozen=True)
class SenderOptions:
    timeout_seconds: float = 5.0
    retries: int = 8
    retry_base_seconds: float = 75.0
    retry_max_seconds: float = 7200.0
    failures_before_deactivation: int = 8
    lease_seconds: float = 60.0
    poll_seconds: float = 0.5
    concurrency: int = 32
    per_subscription: int = 4
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> SenderOptions:
        options = cls(
            timeout_seconds=settings.webhook_timeout_seconds,
            retries=settings.webhook_retries,
            retry_base_seconds=settings.webhook_retry_base_seconds,
            retry_max_seconds=settings.webhook_retry_max_seconds,
            failures_before_deactivation=settings.webhook_failures_before_deactivation,
            lease_seconds=settings.webhook_lease_seconds,
            poll_seconds=settings.webhook_poll_seconds,
            concurrency=settings.webhook_concurrency,
            per_subscription=settings.webhook_concurrency_per_subscription,
            allow_private=settings.webhooks_allow_private,
        )
        return replace(options, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def lease(self) -> float:
        # A lease shorter than a send would let another worker send it meanwhile, each time.
        return max(self.lease_seconds, self.timeout_seconds + 1.0)


@dataclass
class Claimed:
    """A leased delivery with what sending it needs, as plain values."""

    id: int
    webhook_id: int
    event_id: int | None
    topic: str
    payload: Any
    attempt: int
    triggered_at: datetime
    attempt_log: list[dict[str, Any]]
    address: str
    sealed_secret: str | None
    fields: list[str] | None


@dataclass
class Outcome:
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def body_of(payload: Any, fields: list[str] | None) -> bytes:
    """The bytes sent and signed: the payload, cut to the subscription's `fields`."""
    if fields and isinstance(payload, dict):
        payload = {k: v for k, v in payload.items() if k in fields}
    return orjson.dumps(payload)


def headers_of(delivery: Claimed, body: bytes, secret: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Shopdb-Topic": delivery.topic,
        "X-Shopdb-Webhook-Id": signing.webhook_id(
            delivery.id, delivery.webhook_id, delivery.event_id
        ),
        "X-Shopdb-Event-Id": "" if delivery.event_id is None else str(delivery.event_id),
        "X-Shopdb-Triggered-At": delivery.triggered_at.isoformat(),
        "X-Shopdb-Hmac-Sha256": signing.sign(secret, body),
    }


def _with_entry(delivery: Claimed, outcome: Outcome) -> list[dict[str, Any]]:
    """The delivery's attempt log with this attempt added (the latest ATTEMPTS_KEPT)."""
    entry = {
        "attempt": delivery.attempt,
        "at": utcnow().isoformat(),
        "durationMs": outcome.duration_ms,
        "statusCode": outcome.status_code,
        "error": outcome.error,
    }
    return [*delivery.attempt_log, entry][-ATTEMPTS_KEPT:]


class RefusedHost(OSError):
    """The guard refused every address of a delivery's host (an OSError, as aiohttp expects
    of a resolver that cannot give an address)."""


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for deliveries: the host's addresses, each allowed by the guard."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        try:
            addresses = await allowed_host_addresses(host, port, allow_private=self.allow_private)
        except AddressRefused as exc:
            raise RefusedHost(exc.message) from exc
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


# A receiver's answer is read (so its connection can be kept) up to this size; a larger or
# unsized one is not read, and its connection is closed instead.
ANSWER_READ_BYTES = 64 * 1024
# After a send finishes, how long the sender waits for the others in flight before it claims.
CLAIM_GATHER_SECONDS = 0.005
# Successful outcomes finished within this long of the first are written together.
RECORD_WINDOW_SECONDS = 0.005
RECORD_BATCH = 200


@dataclass
class RecordingBatch:
    """Successful sends waiting to be written, and the futures their deliver() awaits."""

    items: list[tuple[Claimed, Outcome, asyncio.Future[str]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class WebhookSender:
    def __init__(
        self,
        database: Database,
        cipher: FieldCipher,
        options: SenderOptions | None = None,
        *,
        name: str | None = None,
    ) -> None:
        self.database = database
        self.cipher = cipher
        self.options = options or SenderOptions()
        self.name = name or worker_name()
        self._stopping = asyncio.Event()
        self._in_flight: dict[int, int] = {}
        self._backlogged_until = 0.0  # `backlogged` until this monotonic time
        self._client: aiohttp.ClientSession | None = None
        self._batch = RecordingBatch()
        # Unsealed signing secrets by sealed value: unsealing is an AES-GCM open per send.
        self._secrets: dict[str, str] = {}
        self._writes: set[asyncio.Task[None]] = set()
        self._addresses: set[str] = set()  # addresses parse() accepted

    def stop(self) -> None:
        """Claim nothing more; `run()` returns once the requests in flight are answered."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @contextlib.asynccontextmanager
    async def _session_client(self) -> AsyncIterator[aiohttp.ClientSession]:
        timeout = aiohttp.ClientTimeout(
            total=self.options.timeout_seconds,
            connect=min(CONNECT_SECONDS, self.options.timeout_seconds),
        )
        connector = aiohttp.TCPConnector(
            limit=self.options.concurrency * 2,
            resolver=GuardedResolver(allow_private=self.options.allow_private),
        )
        # trust_env stays off: a proxy from the environment would connect to whatever it
        # resolves. No cookies: a receiver must not be able to set state for the next send.
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            trust_env=False,
        ) as client:
            self._client = client
            try:
                yield client
            finally:
                await self._flush_now()
                self._client = None

    # --- claiming -------------------------------------------------------------------------

    @property
    def backlogged(self) -> bool:
        """Whether due deliveries were left waiting at the last claims (a claim took all it
        was allowed, or every slot was busy) within the last poll interval: the worker's jobs
        of deferrable kinds wait meanwhile (shopdb.worker)."""
        return time.monotonic() < self._backlogged_until

    def _note_claim(self, limit: int, claimed: int) -> None:
        if limit <= 0 or claimed >= limit:
            self._backlogged_until = time.monotonic() + self.options.poll_seconds

    async def claim(self, limit: int) -> list[Claimed]:
        if self.database.primary.dialect.name == "sqlite" and not await self._any_due():
            return []
        per = self.options.per_subscription
        room = {wid: max(0, per - n) for wid, n in self._in_flight.items() if n}
        if self.database.primary.dialect.name == "postgresql":
            async with self.database.autocommit_connection() as connection:
                rows = await claim_at_once(
                    connection,
                    self.name,
                    limit=limit,
                    per_subscription=per,
                    room=room,
                    lease_seconds=self.options.lease,
                )
        else:
            async with self.database.session() as session:
                rows = await DeliveryRepository(session).claim(
                    self.name,
                    limit=limit,
                    per_subscription=per,
                    room=room,
                    lease_seconds=self.options.lease,
                )
        claimed = []
        for row in sorted(rows, key=lambda r: r.id):
            claimed.append(
                Claimed(
                    id=row.id,
                    webhook_id=row.webhook_id,
                    event_id=row.event_id,
                    topic=row.topic,
                    payload=row.payload,
                    attempt=row.attempts,
                    triggered_at=row.created_at,
                    attempt_log=list(row.attempt_log or []),
                    address=row.address,
                    sealed_secret=row.secret,
                    fields=row.fields,
                )
            )
            self._in_flight[row.webhook_id] = self._in_flight.get(row.webhook_id, 0) + 1
        self._note_claim(limit, len(claimed))
        return claimed

    async def _any_due(self) -> bool:
        # A read first on SQLite: the claim's IMMEDIATE transaction would take the one write
        # lock from the API at every poll of an idle worker.
        async with self.database.sessionmaker() as session:
            await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            return await DeliveryRepository(session).any_due()

    # --- running --------------------------------------------------------------------------

    async def run(self) -> None:
        """Claim and send, up to `concurrency` at once, until stop()."""
        running: set[asyncio.Task[str]] = set()
        stopped = asyncio.create_task(self._stopping.wait())
        log.info("webhook_sender_started", worker=self.name)
        try:
            async with self._session_client():
                while not self.stopping:
                    claimed: list[Claimed] = []
                    free = self.options.concurrency - len(running)
                    if free <= 0:
                        self._note_claim(free, 0)  # every slot busy
                    if free > 0:
                        try:
                            claimed = await self.claim(free)
                        except Exception:
                            # The database is away: keep polling, it usually comes back.
                            log.exception("webhook_claim_failed", worker=self.name)
                    for delivery in claimed:
                        task = asyncio.create_task(self.deliver(delivery))
                        running.add(task)
                        task.add_done_callback(running.discard)
                    if claimed and len(running) < self.options.concurrency:
                        continue  # more may be due right away
                    await asyncio.wait(
                        {stopped, *running},
                        timeout=self.options.poll_seconds,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if running and not self.stopping:
                        # A send finished: let the others in flight finish too, for a few
                        # milliseconds, so that the next claim takes their slots at once. A
                        # claim per finished send costs more than the send itself.
                        await asyncio.wait(running, timeout=CLAIM_GATHER_SECONDS)
                if running:
                    # Not cancelled: each request in flight gets its answer, or its timeout.
                    await asyncio.gather(*running, return_exceptions=True)
        finally:
            stopped.cancel()
        log.info("webhook_sender_stopped", worker=self.name)

    async def run_due(self, limit: int = 10_000) -> int:
        """Send whatever is due now, then return how many were sent (tests, draining)."""
        count = 0
        async with self._session_client():
            while count < limit:
                claimed = await self.claim(min(self.options.concurrency, limit - count))
                if not claimed:
                    break
                await asyncio.gather(*(self.deliver(d) for d in claimed))
                count += len(claimed)
        return count

    async def deliver(self, delivery: Claimed) -> str:
        """Send one claimed delivery and record the outcome: succeeded, failed, abandoned,
        lease_lost or unrecorded (the database was away: the lease lapses, it is sent again).
        """
        try:
            outcome = await self._send(delivery)
            try:
                if outcome.succeeded:
                    result = await self._record_success(delivery, outcome)
                else:
                    result = await self._record(delivery, outcome)
            except Exception:
                log.exception("webhook_outcome_unrecorded", delivery_id=delivery.id)
                result = "unrecorded"
        finally:
            left = self._in_flight.get(delivery.webhook_id, 1) - 1
            if left > 0:
                self._in_flight[delivery.webhook_id] = left
            else:
                self._in_flight.pop(delivery.webhook_id, None)
        # A success at DEBUG: its outcome is in the delivery's attempt log (GET .../deliveries);
        # a log line per delivery costs a fan-out more than its database writes.
        log.log(
            logging.DEBUG if result == "succeeded" else logging.INFO,
            "webhook_delivery",
            delivery_id=delivery.id,
            webhook_id=delivery.webhook_id,
            topic=delivery.topic,
            attempt=delivery.attempt,
            outcome=result,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            worker=self.name,
        )
        return result

    async def _send(self, delivery: Claimed) -> Outcome:
        started = time.monotonic()
        outcome = Outcome()
        try:
            if delivery.sealed_secret is None:
                raise AddressRefused("the subscription has no secret to sign with")
            secret = self._secret(delivery.sealed_secret)
            body = body_of(delivery.payload, delivery.fields)
            headers = headers_of(delivery, body, secret)
            async with asyncio.timeout(self.options.timeout_seconds):
                outcome.status_code = await self._post(delivery.address, body, headers)
            if not outcome.succeeded:
                outcome.error = f"the receiver answered {outcome.status_code}"
        except TimeoutError:
            outcome.error = f"no answer within {self.options.timeout_seconds:g} s"
        except AddressRefused as exc:
            outcome.error = exc.message
        except aiohttp.ClientConnectorError as exc:
            refused = exc.os_error if isinstance(exc.os_error, RefusedHost) else None
            outcome.error = (
                str(refused)
                if refused is not None
                else f"the receiver could not be reached ({type(exc).__name__})"
            )
        except aiohttp.ClientError as exc:
            outcome.error = f"the receiver could not be reached ({type(exc).__name__})"
        except Exception as exc:  # a bug: recorded as a failed attempt, logged in full
            log.exception("webhook_send_failed", delivery_id=delivery.id)
            outcome.error = f"internal error ({type(exc).__name__})"
        outcome.duration_ms = round((time.monotonic() - started) * 1000)
        return outcome

    def _secret(self, sealed: str) -> str:
        found = self._secrets.get(sealed)
        if found is None:
            if len(self._secrets) >= SECRETS_KEPT:
                self._secrets.clear()
            found = self._secrets[sealed] = signing.unseal(self.cipher, sealed)
        return found

    def _url(self, address: str) -> str:
        """`address` once checked as a URL deliveries may go to (the resolver checks where
        it goes at each connection); checked once per address."""
        if address not in self._addresses:
            if len(self._addresses) >= SECRETS_KEPT:
                self._addresses.clear()
            check_literal(parse(address), allow_private=self.options.allow_private)
            self._addresses.add(address)
        return address

    async def _post(self, address: str, body: bytes, headers: dict[str, str]) -> int:
        client = self._client
        assert client is not None, "send within run() or run_due()"
        async with client.post(
            self._url(address), data=body, headers=headers, allow_redirects=False
        ) as response:
            size = response.content_length
            if size is not None and size <= ANSWER_READ_BYTES:
                await response.read()  # read whole, the connection is kept for the next send
            return response.status

    # --- recording outcomes ---------------------------------------------------------------

    async def _record_success(self, delivery: Claimed, outcome: Outcome) -> str:
        """Queue a successful outcome for the next batch write; its result once written."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        batch = self._batch
        batch.items.append((delivery, outcome, future))
        if len(batch.items) >= RECORD_BATCH:
            self._batch = RecordingBatch()
            self._spawn(self._write_batch(batch))
        elif batch.task is None:
            batch.task = self._spawn(self._write_batch(batch, RECORD_WINDOW_SECONDS))
        return await future

    def _spawn(self, work: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        return task

    async def _flush_now(self) -> None:
        batch, self._batch = self._batch, RecordingBatch()
        await self._write_batch(batch)
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def _write_batch(self, batch: RecordingBatch, delay: float = 0.0) -> None:
        if delay:
            await asyncio.sleep(delay)
        if self._batch is batch:
            self._batch = RecordingBatch()
        items, batch.items = batch.items, []
        if not items:
            return
        sent = [
            SentOutcome(
                id=delivery.id,
                webhook_id=delivery.webhook_id,
                attempt=delivery.attempt,
                status_code=outcome.status_code or 0,
                duration_ms=outcome.duration_ms,
                attempt_log=_with_entry(delivery, outcome),
            )
            for delivery, outcome, _ in items
        ]
        try:
            if self.database.primary.dialect.name == "postgresql":
                async with self.database.autocommit_connection() as connection:
                    kept = await record_successes_at_once(connection, self.name, sent)
            else:
                async with self.database.session() as session:
                    kept = await DeliveryRepository(session).record_successes(self.name, sent)
        except Exception as exc:
            for _, _, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        for delivery, _, future in items:
            result = "succeeded" if delivery.id in kept else "lease_lost"
            # Counted once the outcome has committed (webhook_deliveries_total in /metrics).
            count_webhook_delivery("delivered" if result == "succeeded" else result)
            if not future.done():
                future.set_result(result)

    async def _record(self, delivery: Claimed, outcome: Outcome) -> str:
        """Write one outcome (a failure, in run(); any outcome when called directly)."""
        values: dict[str, Any] = {
            "response_status": outcome.status_code,
            "duration_ms": outcome.duration_ms,
            "last_error": outcome.error,
            "attempt_log": _with_entry(delivery, outcome),
        }
        options = self.options
        async with self.database.session() as session:
            repository = DeliveryRepository(session)
            if outcome.succeeded:
                values.update(status="succeeded", delivered_at=utcnow(), next_attempt_at=None)
                result = "succeeded"
                retry_in = None
            elif delivery.attempt <= options.retries:
                values["status"] = "failed"
                result = "failed"
                retry_in = backoff_seconds(
                    delivery.attempt, options.retry_base_seconds, options.retry_max_seconds
                )
            else:
                values.update(status="abandoned", next_attempt_at=None)
                result = "abandoned"
                retry_in = None
            kept = await repository.record(
                delivery.id, self.name, delivery.attempt, retry_in=retry_in, **values
            )
            if not kept:
                return "lease_lost"
            if result == "succeeded":
                await repository.succeeded(delivery.webhook_id)
            elif result == "abandoned" and await repository.abandoned(
                delivery.webhook_id, options.failures_before_deactivation
            ):
                record_event(
                    session,
                    topic=DEACTIVATED_TOPIC,
                    subject_type="Webhook",
                    subject_id=delivery.webhook_id,
                    body={
                        "id": delivery.webhook_id,
                        "address": delivery.address,
                        "topic": delivery.topic,
                        "consecutiveFailures": options.failures_before_deactivation,
                        "reason": "deliveries abandoned in a row",
                    },
                    actor="worker",
                )
                log.warning("webhook_deactivated", webhook_id=delivery.webhook_id)
        # Counted once the outcome has committed (webhook_deliveries_total in /metrics).
        count_webhook_delivery("delivered" if result == "succeeded" else result)
        return result
