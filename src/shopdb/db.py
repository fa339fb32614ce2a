"""Engines (primary and read replicas), sessions, and the per-request unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from fastapi import Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.util import greenlet_spawn
from starlette.types import ASGIApp, Receive, Scope, Send

from shopdb import metrics
from shopdb.config import Settings
from shopdb.kit import journal, prepared
from shopdb.replicas import (
    CONNECT_TIMEOUT_SECONDS,
    UNREACHABLE,
    ReplicaSet,
    connection_lost,
    read_after,
)

log = structlog.get_logger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (see _sqlite_begin);
    # the driver's implicit transactions break SAVEPOINT, which begin_nested() relies on.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Foreign keys are off by default in SQLite; the seed's delete rules depend on them.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: in WAL mode a deferred transaction that reads
    # and then writes fails with SQLITE_BUSY_SNAPSHOT, instead of waiting, when another
    # writer committed in between. Pure reads (probes) opt out with sqlite_begin="DEFERRED".
    mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")


def create_engine(
    url: str, settings: Settings, *, connect_timeout: float | None = None
) -> AsyncEngine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=settings.database_echo, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    engine = create_async_engine(
        url,
        echo=settings.database_echo,
        # Statements' parameters are passwords' hashes, card tokens, customers' emails: never
        # in a log line (echo, DEBUG logging) nor in an exception's text, which is logged.
        hide_parameters=True,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=settings.database_pool_pre_ping,
        # The connection returned last is handed out first: a few connections do the work of a
        # light load, their PostgreSQL backends stay warm in the CPU's caches, and the others
        # may idle out; a FIFO pool spreads every load over all of them.
        pool_use_lifo=True,
        # asyncpg waits 60 s by default; a replica's reads fall back to the primary sooner.
        connect_args={} if connect_timeout is None else {"timeout": connect_timeout},
    )
    event.listen(engine.sync_engine.pool, "checkout", _discard_closed_connection)
    return engine


def _discard_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Never hand out a pooled connection the server has closed (a restart, an idle timeout).

    SQLAlchemy's pre-ping costs three round trips per checkout on asyncpg (BEGIN, a query,
    ROLLBACK); this costs none. The event loop keeps reading every pooled connection, so one
    the server closed is already marked closed; raising DisconnectionError makes the pool
    discard it and hand out another.
    """
    raw = getattr(dbapi_connection, "_connection", None)
    if raw is not None and raw.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


class ShopdbSession(Session):
    """The class of every shopdb session (the sync session inside each AsyncSession).

    shopdb's session listeners (the autocommit guard below, the change journal's bookkeeping,
    and what the wiring adds per Database) are registered on it or on a Database's subclass of
    it, never on SQLAlchemy's `Session`: another library's sessions in the same process are
    left alone.
    """


# Notes of a transaction that does not commit never reach a subscriber (shopdb.kit.journal).
journal.track(ShopdbSession)
metrics.track_orders(ShopdbSession)


# Where the request's sessions are kept (request.state), opened on first use.
SESSION_STATE = "db_session"
READ_SESSION_STATE = "db_read_session"


def _session_class() -> type[ShopdbSession]:
    class DatabaseSession(ShopdbSession):
        pass

    return DatabaseSession


@dataclass
class Database:
    """The primary engine for writes, and replicas for reads that may lag (replicas.py: the
    usable ones, round-robin; the primary when none is)."""

    primary: AsyncEngine
    replicas: list[AsyncEngine] = field(default_factory=list)
    replica_max_lag_seconds: float = 5.0
    replica_check_seconds: float = 1.0
    # Run after every committed unit of work, before an HTTP response leaves (the change
    # journal's delivery); a hook must not raise for a change that is already committed.
    after_commit: list[Callable[[AsyncSession], Awaitable[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A class of its own, as SQLAlchemy's sessionmaker makes one per factory: a listener
        # registered through `listen` reaches this Database's sessions and no others.
        self.session_class = _session_class()
        self._listeners: set[tuple[str, Callable[..., Any]]] = set()
        self.sessionmaker = self.make_sessionmaker(self.primary)
        self.replica_set = ReplicaSet(
            self.primary,
            self.replicas,
            max_lag_seconds=self.replica_max_lag_seconds,
            check_seconds=self.replica_check_seconds,
        )
        self._replica_makers = {
            id(replica): self.make_sessionmaker(replica.engine)
            for replica in self.replica_set.replicas
        }
        metrics.watch_pools(self.primary, self.replicas)

    def make_sessionmaker(
        self, bind: AsyncEngine | AsyncConnection, **options: Any
    ) -> async_sessionmaker[AsyncSession]:
        """A factory of this Database's sessions (its listeners apply) bound to `bind`."""
        return async_sessionmaker(
            bind, sync_session_class=self.session_class, expire_on_commit=False, **options
        )

    def listen(self, identifier: str, listener: Callable[..., Any]) -> None:
        """Register a session event listener for this Database's sessions (once per listener)."""
        # Counted here, not asked of event.contains: SQLAlchemy's registry keys listeners by
        # the id() of their target, which a collected class of another Database can share.
        if (identifier, listener) not in self._listeners:
            self._listeners.add((identifier, listener))
            event.listen(self.session_class, identifier, listener)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            primary=create_engine(settings.database_url, settings),
            replicas=[
                create_engine(url, settings, connect_timeout=CONNECT_TIMEOUT_SECONDS)
                for url in settings.database_replica_urls
            ],
            replica_max_lag_seconds=settings.replica_max_lag_seconds,
            replica_check_seconds=settings.replica_check_seconds,
        )

    def read_sessionmaker(self, read_after: int | None = None) -> async_sessionmaker[AsyncSession]:
        """Sessions on a usable replica that has replayed `read_after` (a WAL position), else
        on the primary: for a whole unit of reads that tolerates lag (an export)."""
        replica = self.replica_set.choose(read_after)
        return self.sessionmaker if replica is None else self._replica_makers[id(replica)]

    def route_reads(self, session: AsyncSession, request: Request) -> None:
        """Let `session`'s lag-tolerant reads (read_connection) use a replica, one that has
        replayed what the request's client wrote last (replicas.read_after)."""
        if self.replica_set:
            position = read_after(request.headers, request.cookies)
            session.info[_READS] = _ReadRouting(self.replica_set, position)

    @asynccontextmanager
    async def autocommit_connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection of the primary for a unit of work that is one statement, run with
        kit.prepared.fetch_alone: a pooled one in autocommit (no BEGIN and COMMIT round trips,
        no session). For the queues' claims and outcomes, which the workers write most."""
        async with prepared.autocommit_connection(self.primary) as connection:
            yield connection

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work outside HTTP (CLI, worker): commit on success, roll back on error."""
        async with self.sessionmaker() as session:
            async with session.begin():
                yield session
            await self.committed(session)

    async def finish_unit_of_work(self, request: Request, *, success: bool) -> None:
        """Commit (or roll back) and close whatever sessions the request opened; after a
        commit, run the after-commit hooks."""
        for name in (SESSION_STATE, READ_SESSION_STATE):
            session: AsyncSession | None = getattr(request.state, name, None)
            if session is None:
                continue
            try:
                # A session that never began a transaction has nothing to commit or roll back;
                # nor has one that only read in autocommit (read_connection refuses its writes).
                if session.in_transaction() and not session.info.get(_AUTOCOMMIT):
                    if success and name == SESSION_STATE:
                        await session.commit()
                        await self.committed(session)
                    else:
                        await session.rollback()
            finally:
                await session.close()
                setattr(request.state, name, None)

    def read_failed_on_replica(self, request: Request, exc: BaseException) -> bool:
        """Whether a read-only request failed because the replica its reads were on went away
        (mid-query: a replica that cannot be reached at all is skipped when the read starts).
        The replica is then marked down, and the request may run again, on the primary: a
        GET answers the client instead of a 500 when a standby stops under load."""
        if request.method not in ("GET", "HEAD") or not connection_lost(exc):
            return False
        for name in (SESSION_STATE, READ_SESSION_STATE):
            session: AsyncSession | None = getattr(request.state, name, None)
            label = None if session is None else session.info.get(REPLICA_READ)
            replica = None if label is None else self.replica_set.by_label(label)
            if replica is not None:
                self.replica_set.mark_down(replica, exc)
                log.warning("replicas.read_retried_on_primary", replica=label, error=repr(exc))
                return True
        return False

    async def committed(self, session: AsyncSession) -> None:
        for hook in self.after_commit:
            await hook(session)

    async def dispose(self) -> None:
        await self.replica_set.aclose()
        for engine in (self.primary, *self.replicas):
            await engine.dispose()


# --- the request's unit of work ------------------------------------------------------------


class SessionGuardMiddleware:
    """No request leaves a database session open, whatever route served it.

    UnitOfWorkRoute ends the sessions of every route built with it. A route that is not (a
    mount, a handler added some other way, a future router built without the helper) would
    otherwise leave its transaction open: on SQLite the BEGIN IMMEDIATE of an authenticated
    read holds the write lock until the process ends, on PostgreSQL a connection stays idle
    in transaction. Whatever is left when the response is done is rolled back (nothing
    commits outside a unit of work) and closed, and logged, because it is a bug.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            state = scope.get("state")
            if state:
                await _close_leftover_sessions(state, scope.get("path", ""))


async def _close_leftover_sessions(state: Any, path: str) -> None:
    for name in (SESSION_STATE, READ_SESSION_STATE):
        session: AsyncSession | None = state.get(name) if isinstance(state, dict) else None
        if session is None:
            continue
        state[name] = None
        log.error("session_left_open", path=path, in_transaction=session.in_transaction())
        try:
            await session.rollback()
        finally:
            await session.close()


# --- autocommit: fewer round trips where a transaction adds nothing -----------------------
#
# On PostgreSQL a unit of work costs a BEGIN and a COMMIT round trip around its statements. A
# request that only reads can skip both: at READ COMMITTED each statement reads its own
# snapshot inside a transaction too. Its session's connection then runs in autocommit, where
# every further statement would commit on its own, outside the unit of work: the listeners
# below refuse any write through it from then on.

_AUTOCOMMIT = "shopdb.autocommit"
# session.info keys: how the session's lag-tolerant reads may be routed (Database.route_reads),
# and which replica its reads went to.
_READS = "shopdb.reads"
REPLICA_READ = "shopdb.replica_read"
_AUTOCOMMIT_OPTIONS = {"isolation_level": "AUTOCOMMIT"}


@dataclass(frozen=True)
class _ReadRouting:
    replicas: ReplicaSet
    read_after: int | None


class AutocommitWriteRefused(RuntimeError):
    """A write through a session whose connection already runs in autocommit (a bug)."""

    def __init__(self) -> None:
        super().__init__(
            "this session read through read_connection, in autocommit, so a write would "
            "commit on its own, outside the unit of work; write before reading"
        )


def _autocommit_possible(session: AsyncSession) -> bool:
    return (
        not session.in_transaction()
        and isinstance(session.bind, AsyncEngine)  # not a connection already in a transaction
        and session.bind.dialect.name == "postgresql"
    )


async def read_connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, for a request that only reads.

    On PostgreSQL, if the session has not begun a transaction, the connection runs in
    autocommit: no BEGIN and COMMIT round trips around the reads. A session that has already
    begun (it may have written) keeps its transaction and sees its own writes. A write through
    the session after this raises AutocommitWriteRefused.

    Such a read tolerates replication lag: if the session's reads may be routed
    (Database.route_reads) and a replica is usable (replicas.py), the session is bound to the
    replica from here on; a replica that cannot be reached is skipped and the primary read.
    """
    if not _autocommit_possible(session):
        await session.flush()  # Core statements do not autoflush; they must see pending rows
        return await session.connection()
    session.info[_AUTOCOMMIT] = True
    routing: _ReadRouting | None = session.info.get(_READS)
    if routing is not None:
        connection = await _replica_connection(session, routing)
        if connection is not None:
            return connection
    return await session.connection(execution_options=_AUTOCOMMIT_OPTIONS)


def reads_in_autocommit(session: AsyncSession) -> bool:
    """Whether the session's reads (read_connection) run outside any transaction, on the
    primary or a replica."""
    return bool(session.info.get(_AUTOCOMMIT))


def reads_in_autocommit_on_primary(session: AsyncSession) -> bool:
    """Whether the session's reads (read_connection) run on the primary outside any
    transaction: a statement run there commits by itself and holds no lock afterwards."""
    return reads_in_autocommit(session) and REPLICA_READ not in session.info


# session.info key: where the session's autocommit_reads go (the primary or one replica).
_READS_ENGINE = "shopdb.reads_engine"


@asynccontextmanager
async def autocommit_reads(session: AsyncSession) -> AsyncIterator[prepared.Reads]:
    """Where a read-only request's statements go (kit.prepared.Reads).

    On PostgreSQL through asyncpg, while the session has not begun a transaction: a pooled
    connection of their own, outside any transaction, checked out for these statements and
    returned right after. No BEGIN/COMMIT round trips, and none of the session's transaction
    and connection objects, which cost a product's detail read more than its statement.
    Lag-tolerant like read_connection's reads: a replica when the session's reads may be
    routed and one is usable, and every later read of the session goes to the same place.
    Otherwise (SQLite, a transaction already begun) the session's own connection.
    """
    primary = session.bind
    if not (
        _autocommit_possible(session)
        and isinstance(primary, AsyncEngine)
        and primary.dialect.driver == "asyncpg"
    ):
        connection = await read_connection(session)
        yield prepared.ConnectionReads(
            connection,
            autocommit=reads_in_autocommit(session),
            stores=reads_in_autocommit_on_primary(session),
        )
        return
    pooled = await _pooled_read_connection(session, primary)
    driver = pooled.driver_connection
    try:
        yield prepared.DriverReads(driver, primary.dialect, stores=REPLICA_READ not in session.info)
    except BaseException as exc:
        # Only a statement's own error leaves the connection as it was; after anything else
        # (the connection lost, the request cancelled mid-statement) the pool drops it.
        if not isinstance(exc, DBAPIError) or connection_lost(exc) or driver.is_closed():
            await greenlet_spawn(pooled.invalidate)
        raise
    finally:
        await greenlet_spawn(pooled.close)  # the pool's check-in may close the connection


async def _pooled_read_connection(session: AsyncSession, primary: AsyncEngine) -> Any:
    """A pooled connection (SQLAlchemy's pool proxy) for autocommit_reads."""
    engine: AsyncEngine | None = session.info.get(_READS_ENGINE)
    if engine is not None:
        return await engine.raw_connection()
    routing: _ReadRouting | None = session.info.get(_READS)
    replica = None if routing is None else routing.replicas.choose(routing.read_after)
    if routing is not None and replica is not None:
        try:
            pooled = await replica.engine.raw_connection()
        except UNREACHABLE as exc:
            routing.replicas.mark_down(replica, exc)
        else:
            session.info[_READS_ENGINE] = replica.engine
            session.info[REPLICA_READ] = replica.label
            return pooled
    session.info[_READS_ENGINE] = primary
    return await primary.raw_connection()


async def _replica_connection(
    session: AsyncSession, routing: _ReadRouting
) -> AsyncConnection | None:
    replica = routing.replicas.choose(routing.read_after)
    if replica is None:
        return None
    primary = session.bind
    _bind(session, replica.engine)
    try:
        connection = await session.connection(execution_options=_AUTOCOMMIT_OPTIONS)
    except UNREACHABLE as exc:
        routing.replicas.mark_down(replica, exc)
        await session.rollback()
        _bind(session, primary)
        return None
    session.info[REPLICA_READ] = replica.label
    return connection


def _bind(session: AsyncSession, engine: Any) -> None:
    session.bind = engine
    session.sync_session.bind = engine.sync_engine if isinstance(engine, AsyncEngine) else engine


def use_primary(session: AsyncSession) -> None:
    """`session`'s reads go to the primary, even those that tolerate lag: reads whose answer
    is kept (the document caches: a replica's older answer stored under the current
    generation would be served to everyone) or must be current."""
    session.info.pop(_READS, None)


def read_from_replica(session: AsyncSession) -> bool:
    """Whether `session` is reading a replica (what it reads must not be cached)."""
    return REPLICA_READ in session.info


def _has_pending(session: Session) -> bool:
    return bool(session.new or session.dirty or session.deleted)


@event.listens_for(ShopdbSession, "before_flush")
def _refuse_flush_in_autocommit(session: Session, _flush: Any, _instances: Any) -> None:
    if session.info.get(_AUTOCOMMIT) and _has_pending(session):
        raise AutocommitWriteRefused()


@event.listens_for(ShopdbSession, "do_orm_execute")
def _refuse_dml_in_autocommit(state: ORMExecuteState) -> None:
    if state.session.info.get(_AUTOCOMMIT) and (
        state.is_insert or state.is_update or state.is_delete
    ):
        raise AutocommitWriteRefused()
