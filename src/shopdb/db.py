"""Engines (primary and read replicas), sessions, and the per-request unit of work."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from fastapi import Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import ORMExecuteState, Session
from starlette.types import ASGIApp, Receive, Scope, Send

from shopdb import metrics
from shopdb.config import Settings
from shopdb.kit import journal

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


def create_engine(url: str, settings: Settings) -> AsyncEngine:
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
    """The primary engine for writes, and replicas (round-robin) for reads that may lag."""

    primary: AsyncEngine
    replicas: list[AsyncEngine] = field(default_factory=list)
    # Run after every committed unit of work, before an HTTP response leaves (the change
    # journal's delivery); a hook must not raise for a change that is already committed.
    after_commit: list[Callable[[AsyncSession], Awaitable[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A class of its own, as SQLAlchemy's sessionmaker makes one per factory: a listener
        # registered through `listen` reaches this Database's sessions and no others.
        self.session_class = _session_class()
        self._listeners: set[tuple[str, Callable[..., Any]]] = set()
        self.sessionmaker = self.make_sessionmaker(self.primary)
        self._replica_makers = [self.make_sessionmaker(engine) for engine in self.replicas]
        self._replica_cycle = itertools.cycle(self._replica_makers or [self.sessionmaker])
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
            replicas=[create_engine(url, settings) for url in settings.database_replica_urls],
        )

    def read_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return next(self._replica_cycle)

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
                # A session that never began a transaction has nothing to commit or roll back.
                if session.in_transaction():
                    if success and name == SESSION_STATE:
                        await session.commit()
                        await self.committed(session)
                    else:
                        await session.rollback()
            finally:
                await session.close()
                setattr(request.state, name, None)

    async def committed(self, session: AsyncSession) -> None:
        for hook in self.after_commit:
            await hook(session)

    async def dispose(self) -> None:
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
    """
    if not _autocommit_possible(session):
        await session.flush()  # Core statements do not autoflush; they must see pending rows
        return await session.connection()
    session.info[_AUTOCOMMIT] = True
    return await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


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
