"""Hot statements run through asyncpg's own prepared statements: reads in autocommit, and the
writing requests' statements inside their transaction once it has begun.

SQLAlchemy's execution of a statement (its compiled-cache lookup, parameter and result
processing, the adapter's cursor) costs about 2.5 times the client time of the query itself on
the hottest reads there are (a product's document, a list page's ids), and 2-4 times on an
order's writes. For statements built once and reused (module-level, `functools.cache`), they
are compiled once per dialect, prepared once per pooled asyncpg connection and run with
positional arguments taken from the named values (through the statement's bind processors).
Rows are `Record`s: index them, or by column name (`row["id"]`, `row.id`).

`fetch` runs only in autocommit: inside a transaction SQLAlchemy's adapter begins it lazily
with its own first statement, which a statement sent past it would run outside of.
`fetch_in_transaction` runs inside one once the server says it has begun. Elsewhere (SQLite, a
statement whose parameters expand at execution or whose defaults SQLAlchemy computes, an
engine whose statements something listens to) it is SQLAlchemy's execution.

`Reads` is where a read-only request's statements go (db.autocommit_reads): on PostgreSQL
outside any transaction, a pooled asyncpg connection of its own (`DriverReads`), without the
ORM session's transaction and connection objects around it, which cost a detail read more
than its statement; elsewhere the session's connection (`ConnectionReads`).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, NamedTuple, Protocol

import asyncpg
import orjson
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import Executable

# Per pooled asyncpg connection (they go with it), its statements by SQL text.
_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


class _Compiled(NamedTuple):
    sql: str
    # The parameters' names in $n order, and each one's bind processor (a JSON value's
    # serialisation, a timestamp's normalisation), None where the type has none.
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    # The values the statement holds itself, such as a LIMIT's.
    held: dict[str, Any]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        arguments = [values[name] if name in values else self.held[name] for name in self.names]
        for index, process in enumerate(self.processors):
            if process is not None:
                arguments[index] = process(arguments[index])
        return arguments


@functools.lru_cache(maxsize=4096)
def _compiled(statement: Any, dialect: Dialect) -> _Compiled | None:
    """The statement compiled for asyncpg, or None when SQLAlchemy must run it: parameters
    that expand at execution, or columns whose Python defaults it computes then (an
    `onupdate` timestamp the statement does not set itself)."""
    compiled = statement.compile(dialect=dialect)
    if any(
        getattr(compiled, name, None)
        for name in (
            "post_compile_params",
            "literal_execute_params",
            "insert_prefetch",
            "update_prefetch",
        )
    ):
        return None
    names: Sequence[str] = getattr(compiled, "positiontup", None) or ()
    held = compiled.construct_params(_check=False)
    processors = getattr(compiled, "_bind_processors", {})
    return _Compiled(
        compiled.string,
        tuple(names),
        tuple(processors.get(name) for name in names),
        {k: v for k, v in held.items() if v is not None},
    )


class Record(asyncpg.Record):  # type: ignore[misc]  # asyncpg has no type hints
    """A row read through a prepared statement: by index, by column name, or as an
    attribute (`row.id`), as SQLAlchemy's rows are read."""

    # What `field` asks a row first: a Record has no mapping of its own (read by name).
    _mapping = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


async def fetch(
    connection: AsyncConnection,
    statement: Executable,
    values: Mapping[str, Any],
    *,
    autocommit: bool,
) -> Sequence[Any]:
    """All rows of a reused `statement` with `values` (see the module docstring)."""
    compiled = None
    if autocommit and connection.dialect.driver == "asyncpg":
        compiled = _compiled(statement, connection.dialect)
    if compiled is None:
        rows: Sequence[Any] = (await connection.execute(statement, dict(values))).all()
        return rows
    raw: Any = (await connection.get_raw_connection()).driver_connection
    try:
        return await _run_prepared(raw, compiled.sql, compiled.arguments(values))
    except BaseException:
        if not raw.is_closed() and raw.is_in_transaction():
            await connection.invalidate()  # never hand the pool a connection left mid-way
        raise


async def fetch_in_transaction(
    session: AsyncSession, statement: Executable, values: Mapping[str, Any]
) -> Sequence[Any]:
    """All rows of a reused `statement` with `values`, in the session's transaction: through
    asyncpg's prepared statement once the transaction has begun on the server (the session's
    first statement begins it), else by SQLAlchemy's execution. For the hottest statements
    of the writing requests (placing an order, capturing, fulfilling, refunding it).
    Pending ORM changes are flushed first, as SQLAlchemy's own execution would (the
    statement sees them). Rows read by index, name or attribute.

    While anything listens to the engine's statements (a tracer, a test watching what a
    request writes) every statement goes through SQLAlchemy, so that none is missed."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await session.connection()
    if connection.dialect.driver == "asyncpg" and not _watched(connection):
        compiled = _compiled(statement, connection.dialect)
        raw: Any = (await connection.get_raw_connection()).driver_connection
        if compiled is not None and raw.is_in_transaction():
            return await _run_prepared(raw, compiled.sql, compiled.arguments(values))
    result = await connection.execute(statement, dict(values))
    return result.all() if result.returns_rows else []


@asynccontextmanager
async def autocommit_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection of `engine` in autocommit, where each statement commits by itself:
    for a unit of work that is one statement (`fetch_alone`), no BEGIN and COMMIT round trips
    and no session."""
    async with engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


async def fetch_alone(
    connection: AsyncConnection, statement: Executable, values: Mapping[str, Any]
) -> Sequence[Any]:
    """All rows of a reused `statement` that is a unit of work by itself, on `connection`
    (an `autocommit_connection`, where it commits on its own; or one whose transaction it
    joins, a test's rolled-back database): through asyncpg's prepared statement, or
    SQLAlchemy's execution where `fetch_in_transaction` would use it."""
    if connection.dialect.driver == "asyncpg" and not _watched(connection):
        compiled = _compiled(statement, connection.dialect)
        if compiled is not None:
            raw: Any = (await connection.get_raw_connection()).driver_connection
            try:
                return await _run_prepared(raw, compiled.sql, compiled.arguments(values))
            except BaseException as exc:
                # Only the statement's own error leaves the connection as it was; after
                # anything else (lost, or cancelled mid-statement) the pool must drop it.
                if not isinstance(exc, DBAPIError) or raw.is_closed():
                    await connection.invalidate()
                raise
    result = await connection.execute(statement, dict(values))
    return result.all() if result.returns_rows else []


def _watched(connection: AsyncConnection) -> bool:
    """Whether anything listens to the connection's statements (its engine's listeners
    included). Not SQLAlchemy's own `_has_events`, which stays set once a listener was ever
    added, removed or not."""
    sync = connection.sync_connection
    if sync is None:
        return False
    dispatch = sync.dispatch
    return bool(
        dispatch.before_cursor_execute
        or dispatch.after_cursor_execute
        or dispatch.before_execute
        or dispatch.after_execute
    )


async def _run_prepared(driver: Any, sql: str, arguments: Sequence[Any]) -> Sequence[Any]:
    """`sql`'s rows through the asyncpg connection's prepared statement for it (made once)."""
    prepared = _PREPARED.setdefault(driver, {})
    try:
        found = prepared.get(sql)
        if found is None:
            found = prepared[sql] = await driver.prepare(sql, record_class=Record)
        records: Sequence[Any] = await found.fetch(*arguments)
    except BaseException as exc:
        prepared.pop(sql, None)  # prepared again next time (a schema change, a lost connection)
        if not isinstance(exc, Exception):
            raise
        # As SQLAlchemy's execution raises them: the error handlers (a data exception is a
        # 400) and replicas.connection_lost read the SQLSTATE from `orig`, or see that the
        # connection went away.
        if driver.is_closed():
            lost = DBAPIError(sql, None, exc, hide_parameters=True, connection_invalidated=True)
            raise lost from exc
        sqlstate = getattr(exc, "sqlstate", None)
        if isinstance(sqlstate, str):
            kind = IntegrityError if sqlstate.startswith("23") else DBAPIError
            raise kind(sql, None, exc, hide_parameters=True) from exc
        raise
    return records


class Reads(Protocol):
    """Statements of a read-only request (see the module docstring)."""

    # Whether what is read may be stored for later reads (stored documents): autocommit on
    # the primary, where a statement commits by itself and holds no lock afterwards.
    stores: bool

    async def fetch(self, statement: Executable, values: Mapping[str, Any]) -> Sequence[Any]:
        """All rows of `statement` with `values`."""
        ...


class ConnectionReads:
    """Reads through a SQLAlchemy connection: kit.prepared's statements in autocommit on
    asyncpg, SQLAlchemy's execution otherwise."""

    def __init__(self, connection: AsyncConnection, *, autocommit: bool, stores: bool) -> None:
        self.connection = connection
        self.autocommit = autocommit
        self.stores = stores

    async def fetch(self, statement: Executable, values: Mapping[str, Any]) -> Sequence[Any]:
        return await fetch(self.connection, statement, values, autocommit=self.autocommit)


class DriverReads:
    """Reads on a pooled asyncpg connection outside any transaction (db.autocommit_reads)."""

    def __init__(self, driver: Any, dialect: Dialect, *, stores: bool) -> None:
        self.driver = driver
        self.dialect = dialect
        self.stores = stores

    async def fetch(self, statement: Executable, values: Mapping[str, Any]) -> Sequence[Any]:
        compiled = _compiled(statement, self.dialect)
        if compiled is None:
            raise TypeError("DriverReads runs statements whose parameters do not expand")
        return await _run_prepared(self.driver, compiled.sql, compiled.arguments(values))


def json_value(value: Any) -> Any:
    """A json column's value, from either kind of row: asyncpg's own rows (this module's)
    carry json as its text, SQLAlchemy's carry it decoded."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def field(row: Any, name: str) -> Any:
    """A column of a row by name, whether SQLAlchemy's Row or asyncpg's Record."""
    mapping = getattr(row, "_mapping", None)
    return row[name] if mapping is None else mapping[name]
