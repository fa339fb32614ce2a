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
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

# Per pooled asyncpg connection (they go with it), its statements by SQL text.
_PREPARED: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


@functools.lru_cache(maxsize=4096)
def _compiled(statement: Any, dialect: Dialect) -> tuple[str, tuple[str, ...]] | None:
    """(SQL, its parameters' names in $n order), or None when parameters expand at execution."""
    compiled = statement.compile(dialect=dialect)
    if getattr(compiled, "post_compile_params", None) or getattr(
        compiled, "literal_execute_params", None
    ):
        return None
    names: Sequence[str] = getattr(compiled, "positiontup", None) or ()
    return compiled.string, tuple(names)


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
    sql, names = compiled
    raw: Any = (await connection.get_raw_connection()).driver_connection
    prepared = _PREPARED.setdefault(raw, {})
    found = prepared.get(sql)
    if found is None:
        found = prepared[sql] = await raw.prepare(sql)
    try:
        records: Sequence[Any] = await found.fetch(*(values[name] for name in names))
    except BaseException:
        prepared.pop(sql, None)  # prepared again next time (a schema change, a lost connection)
        if not raw.is_closed() and raw.is_in_transaction():
            await connection.invalidate()  # never hand the pool a connection left mid-way
        raise
    return records


def field(row: Any, name: str) -> Any:
    """A column of a row by name, whether SQLAlchemy's Row or asyncpg's Record."""
    mapping = getattr(row, "_mapping", None)
    return row[name] if mapping is None else mapping[name]
