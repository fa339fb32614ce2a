"""Read replicas: which one, if any, a read that tolerates lag uses; and reading one's writes.

With `SHOPDB_DATABASE_REPLICA_URLS` (PostgreSQL streaming-replication standbys), the reads
that go through `db.read_connection` on a request's session that has not begun a transaction
(the product and order lists, product and order documents when they are not cached), the
`ReadSessionDep` sessions and the catalog export read a replica; every write, every read
inside a transaction that may have written, and every read that fills the shared document
caches reads the primary (a replica's older answer stored under the current generation would
be served to everyone until the next change).

Which replicas may be used is decided without a round trip per request. A ReplicaSet checks
the replicas at most once per `replica_check_seconds` (a task started by the first request
after the interval; the request does not wait for it): one statement on the primary
(`pg_current_wal_lsn()`, kept with the time it was read) and one on each replica
(`pg_is_in_recovery()`, `pg_last_wal_replay_lsn()`, bounded by CHECK_TIMEOUT_SECONDS). A
replica's lag is the age of the newest primary position it has replayed: it holds every
commit made before that moment. Measured against positions rather than against the time of
the last replayed commit, an idle primary does not look like a lagging replica. A replica
that is down, is not a standby (`pg_is_in_recovery()` false: promoted, or the primary's
address), or lags by more than `replica_max_lag_seconds` is skipped until a check finds it
well again; a replica whose connection fails when a read asks for it is skipped at once and
the read goes to the primary. Knowledge older than STALE_CHECKS intervals (no request for a
while) is not trusted: reads go to the primary until the next check lands.

Read-your-writes. After a successful POST, PUT, PATCH or DELETE the response carries the
primary's WAL insert position, read after the request's commit (one autocommit statement on
the primary, only when replicas are configured), in the header `X-Read-After-Lsn` and the
cookie `shopdb_read_after`. A request that sends either back reads a replica only if that
replica's replay position, as of its last check, is at least that far: so it sees its write,
and until the replicas' next check (about `replica_check_seconds`) its reads go to the
primary. This was chosen over a fixed "primary for N seconds" window because it is exact:
no window is long enough for a replica that stalls, and a window wastes the replicas when
they are caught up. Comparing a cached replay position costs a request nothing; the replay
position only moves forward, so a stale one can only send a read to the primary, never a
stale replica. The cookie serves browsers; API clients echo the header.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

READ_AFTER_HEADER = "X-Read-After-Lsn"
READ_AFTER_COOKIE = "shopdb_read_after"
# A check of one replica (or of the primary's position) that takes longer counts as a failure.
CHECK_TIMEOUT_SECONDS = 1.0
# How long connecting to a replica may take before the read goes to the primary instead.
CONNECT_TIMEOUT_SECONDS = 2.0
# Checks older than this many intervals are not trusted (see the module docstring).
STALE_CHECKS = 3
# What connecting to or querying a replica that is gone raises.
UNREACHABLE = (OSError, DBAPIError, TimeoutError)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# SQLSTATE classes of a connection that is gone: 08 (connection exception) and 57P (operator
# intervention: the server shutting down, crashed, or not accepting connections yet).
_GONE_STATES = ("08", "57P")


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` says the connection (not the statement) failed: the server went away,
    the socket broke, or a timeout. What a read on a replica may be retried on the primary
    after; a statement's own error (a bad value, a constraint) never is."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
        exc = exc.__cause__ if getattr(exc, "sqlstate", None) is None and exc.__cause__ else exc
    state = getattr(exc, "sqlstate", None)
    return isinstance(state, str) and state.startswith(_GONE_STATES)


_PRIMARY_POSITION = text("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
_PRIMARY_SAMPLE = text("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint")
_REPLICA_STATE = text(
    "SELECT pg_is_in_recovery(), (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint,"
    " extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8"
)


def parse_lsn(value: str | None) -> int | None:
    """A WAL position written as PostgreSQL writes it ("16/B374D848"), or None if it is not one."""
    if not value:
        return None
    high, slash, low = value.strip().partition("/")
    if not slash or not high or not low or len(high) > 8 or len(low) > 8:
        return None
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        return None


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def read_after(headers: Any, cookies: Any) -> int | None:
    """The WAL position a client asks its reads to include (header first, then cookie)."""
    return parse_lsn(headers.get(READ_AFTER_HEADER)) or parse_lsn(cookies.get(READ_AFTER_COOKIE))


@dataclass(eq=False)
class Replica:
    engine: AsyncEngine
    label: str  # replica-1, replica-2 ... as in /metrics (never the URL: /health/ready is public)
    usable: bool = False
    replay_lsn: int = 0
    lag_seconds: float | None = None
    problem: str | None = "not checked yet"

    def status(self) -> str:
        return "ok" if self.usable else f"degraded: {self.problem}"


class ReplicaSet:
    """The replicas' last known state, and which one a read may use (see the module docstring)."""

    def __init__(
        self,
        primary: AsyncEngine,
        engines: list[AsyncEngine],
        *,
        max_lag_seconds: float,
        check_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replicas = [Replica(engine, f"replica-{n}") for n, engine in enumerate(engines, 1)]
        self.max_lag_seconds = max_lag_seconds
        self.check_seconds = check_seconds
        self._clock = clock
        # (when, primary WAL position then), oldest first: what a replica's lag is read from.
        self._samples: deque[tuple[float, int]] = deque()
        self._checked_at: float | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._turn = 0

    def __bool__(self) -> bool:
        return bool(self.replicas)

    # --- choosing -------------------------------------------------------------------------

    def choose(self, read_after: int | None = None) -> Replica | None:
        """A replica for a read (round-robin among the usable ones that have replayed
        `read_after`), or None for the primary. No I/O: starts a check when one is due."""
        if not self.replicas:
            return None
        now = self._clock()
        if self._checked_at is None or now - self._checked_at >= self.check_seconds:
            self._start_refresh()
        if self._checked_at is None or now - self._checked_at > self.check_seconds * STALE_CHECKS:
            return None
        candidates = [
            replica
            for replica in self.replicas
            if replica.usable and (read_after is None or replica.replay_lsn >= read_after)
        ]
        if not candidates:
            return None
        self._turn += 1
        return candidates[self._turn % len(candidates)]

    def by_label(self, label: str) -> Replica | None:
        return next((r for r in self.replicas if r.label == label), None)

    def mark_down(self, replica: Replica, exc: BaseException) -> None:
        """A read could not reach `replica`: skip it until a check finds it well again."""
        self._set(replica, usable=False, problem=f"unavailable: {type(exc).__name__}")

    # --- checking -------------------------------------------------------------------------

    def _start_refresh(self) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refreshing = loop.create_task(self.refresh())

    async def current(self) -> list[Replica]:
        """The replicas' state, checked now if the last check is older than the interval
        (readiness probes): one check at a time, shared with the requests'."""
        if self.replicas:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self.check_seconds:
                self._start_refresh()
            if self._refreshing is not None and not self._refreshing.done():
                await asyncio.shield(self._refreshing)
        return self.replicas

    async def refresh(self) -> None:
        """Check the primary's position and every replica once. Never raises."""
        started = self._clock()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                position = await _scalar(self.primary, _PRIMARY_SAMPLE)
        except Exception as exc:  # the primary's own trouble is the readiness probe's to report
            log.warning("replicas.primary_position_failed", error=type(exc).__name__)
        else:
            self._samples.append((started, int(position)))
        keep_after = started - (self.max_lag_seconds + 2 * self.check_seconds)
        while len(self._samples) > 1 and self._samples[0][0] < keep_after:
            self._samples.popleft()
        await asyncio.gather(*(self._check(replica) for replica in self.replicas))
        self._checked_at = started

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                async with replica.engine.connect() as connection:
                    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    row = (await autocommit.execute(_REPLICA_STATE)).one()
        except Exception as exc:
            self._set(replica, usable=False, problem=f"unavailable: {type(exc).__name__}")
            return
        in_recovery, replay_lsn, replay_age = row
        if not in_recovery or replay_lsn is None:
            self._set(replica, usable=False, problem="not a standby (pg_is_in_recovery() false)")
            return
        replica.replay_lsn = int(replay_lsn)
        lag = self._lag(int(replay_lsn), replay_age)
        replica.lag_seconds = lag
        if lag > self.max_lag_seconds:
            self._set(
                replica,
                usable=False,
                problem=f"lag {lag:.1f} s > {self.max_lag_seconds:g} s",
            )
        else:
            self._set(replica, usable=True, problem=None)

    def _lag(self, replay_lsn: int, replay_age: float | None) -> float:
        """How old the newest primary position `replay_lsn` includes is (an upper bound)."""
        now = self._clock()
        replayed = [when for when, position in self._samples if position <= replay_lsn]
        if replayed:
            return max(0.0, now - max(replayed))
        # Behind every position kept: at least as old as the oldest, and at least as old as the
        # replica's own measure (the time since its last replayed commit was made).
        oldest = self._samples[0][0] if self._samples else now
        return max(now - oldest, replay_age or 0.0)

    def _set(self, replica: Replica, *, usable: bool, problem: str | None) -> None:
        if replica.usable and not usable:
            log.warning("replicas.skipped", replica=replica.label, problem=problem)
        elif usable and not replica.usable and replica.problem != "not checked yet":
            log.info("replicas.usable_again", replica=replica.label)
        replica.usable, replica.problem = usable, problem

    # --- read-your-writes -----------------------------------------------------------------

    async def primary_position(self) -> int | None:
        """The primary's WAL insert position now (after a request's commits), or None."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                return int(await _scalar(self.primary, _PRIMARY_POSITION))
        except Exception as exc:
            log.warning("replicas.commit_position_failed", error=type(exc).__name__)
            return None

    async def aclose(self) -> None:
        task, self._refreshing = self._refreshing, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass


async def _scalar(engine: AsyncEngine, statement: Any) -> Any:
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return (await autocommit.execute(statement)).scalar_one()


class ReadYourWritesMiddleware:
    """Gives each successful write's response the position its writer's reads must include.

    Added by create_app only when replicas are configured. The request's commits are done when
    its response starts (UnitOfWorkRoute commits before returning the response).
    """

    def __init__(self, app: ASGIApp, *, cookie_seconds: int) -> None:
        self.app = app
        self.cookie_seconds = cookie_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return

        async def send_position(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                from shopdb.services import services_of

                replicas = services_of(scope["app"]).database.replica_set
                position = await replicas.primary_position() if replicas else None
                if position is not None:
                    lsn = format_lsn(position).encode()
                    cookie = b"%s=%s; Max-Age=%d; Path=/; HttpOnly; SameSite=Lax" % (
                        READ_AFTER_COOKIE.encode(),
                        lsn,
                        self.cookie_seconds,
                    )
                    headers = [
                        *message.get("headers", []),
                        (READ_AFTER_HEADER.lower().encode(), lsn),
                        (b"set-cookie", cookie),
                    ]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_position)


def cookie_seconds(max_lag_seconds: float, check_seconds: float) -> int:
    """How long a write's cookie is kept: several times the lag a replica in use may have (and
    the checks' staleness), at least a minute. A replica that falls further behind is skipped
    anyway; the cookie only saves a client from a replica that has not replayed its write."""
    return max(60, math.ceil(4 * (max_lag_seconds + STALE_CHECKS * check_seconds)))
