"""Hot reads run through asyncpg's own prepared statements, when the connection is in autocommit.

SQLAlchemy's execution of a statement (its compiled-cache lookup, parameter and result
processing, the adapter's cursor) costs about 2.5 times the client time of the query itself on
the hottest reads there are (a product's document, a list page's ids). For statements built
once and reused (module-level, `functools.cache`), `fetch` compiles each once per dialect,
prepares it once per pooled asyncpg connection and runs it with positional arguments taken from
the named values. Rows are asyncpg Records: index them, or by column name (`row["id"]`).

Only in autocommit: inside a transaction SQLAlchemy's adapter begins it lazily with its own
first statement, which a statement sent past it would run outside of. Elsewhere (SQLite, a
transaction, a statement whose parameters expand at execution) it is SQLAlchemy's execution.

`Reads` is where a read-only request's statements go (db.autocommit_reads): on PostgreSQL
outside any transaction, a pooled asyncpg connection of its own (`DriverReads`), without the
ORM session's transaction and connection objects around it, which cost a detail read more
than its statement; elsewhere the session's connection (`ConnectionReads`).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

# Per pooled asyncpg connection (they go with it), its statements by SQL text.
_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=4096)
def _compiled(
    statement: Any, dialect: Dialect
) -> tuple[str, tuple[str, ...], dict[str, Any]] | None:
    """(SQL, its parameters' names in $n order, the values the statement holds itself, such
    as a LIMIT's), or None when parameters expand at execution."""
    compiled = statement.compile(dialect=dialect)
    if getattr(compiled, "post_compile_params", None) or getattr(
        compiled, "literal_execute_params", None
    ):
        return None
    names: Sequence[str] = getattr(compiled, "positiontup", None) or ()
    held = compiled.construct_params(_check=False)
    return compiled.string, tuple(names), {k: v for k, v in held.items() if v is not None}


def _arguments(
    names: Sequence[str], held: Mapping[str, Any], values: Mapping[str, Any]
) -> list[Any]:
    return [values[name] if name in values else held[name] for name in names]


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
    sql, names, held = compiled
    raw: Any = (await connection.get_raw_connection()).driver_connection
    try:
        return await _run_prepared(raw, sql, _arguments(names, held, values))
    except BaseException:
        if not raw.is_closed() and raw.is_in_transaction():
            await connection.invalidate()  # never hand the pool a connection left mid-way
        raise


async def _run_prepared(driver: Any, sql: str, arguments: Sequence[Any]) -> Sequence[Any]:
    """`sql`'s rows through the asyncpg connection's prepared statement for it (made once)."""
    prepared = _PREPARED.setdefault(driver, {})
    try:
        found = prepared.get(sql)
        if found is None:
            found = prepared[sql] = await driver.prepare(sql)
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
        sql, names, held = compiled
        return await _run_prepared(self.driver, sql, _arguments(names, held, values))


def field(row: Any, name: str) -> Any:
    """A column of a row by name, whether SQLAlchemy's Row or asyncpg's Record."""
    mapping = getattr(row, "_mapping", None)
    return row[name] if mapping is None else mapping[name]
