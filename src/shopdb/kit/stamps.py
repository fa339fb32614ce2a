"""What stored documents (catalog/read_model/stored.py, orders/stored.py) share: the listener
that bumps the stamps of what a transaction changed before it commits, and reading a stored
document as bytes.

Each kind keeps its own table and statements; the rule is the same for all: a transaction
that changed things of a journal kind bumps their stamps in one statement, in id order, just
before its outermost commit, and a reader stores what it built only if the stamp it read is
still the row's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, TextClause, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from shopdb.kit import journal, prepared

# Documents are stored only on PostgreSQL, which builds them.
POSTGRESQL = "postgresql"


def as_bytes(document: Any) -> Any:
    """A stored document as bytes: asyncpg hands bytea over as it came, where text would be
    decoded to str and encoded again for the response (two copies of every document)."""
    return func.convert_to(document, literal_column("'UTF8'"), type_=LargeBinary)


_BUMP_SQL = """
    WITH gone AS (
        DELETE FROM {documents} AS d
        WHERE d.{key} = ANY(CAST(:ids AS bigint[]))
          AND NOT EXISTS (SELECT 1 FROM {rows} AS r WHERE r.id = d.{key})
    )
    INSERT INTO {documents} AS d ({key}, stamp)
    SELECT r.id, 1 FROM {rows} AS r
    WHERE r.id = ANY(CAST(:ids AS bigint[]))
    ORDER BY r.id
    ON CONFLICT ({key}) DO UPDATE SET stamp = d.stamp + 1
"""


def bump_sql(documents: str, key: str, rows: str) -> str:
    """The bump of the stamps of `documents`' rows for the `rows` (a table with an `id`) among
    `:ids` (sorted by the caller), in id order: a row for each that exists (stamp 1 if new,
    else one more), and the rows of those deleted for good removed (the documents' tables have
    no foreign key, so that a reader's first INSERT takes no lock on the row it describes).
    The names are the callers' constants, never input."""
    return _BUMP_SQL.format(documents=documents, key=key, rows=rows)


def stamp_bumper(kind: str, bump: TextClause) -> Callable[[Session], None]:
    """A `before_commit` listener: the outermost commit of a transaction that changed things
    of the journal's `kind` runs `bump` (its `:ids`, sorted) first. Not in a savepoint, not on
    SQLite (which stores no documents)."""

    def bump_changed(session: Session) -> None:
        if session.in_nested_transaction() or session.get_bind().dialect.name != POSTGRESQL:
            return
        session.flush()  # the last changes are noted by flush listeners, which commit runs later
        changed = journal.uncommitted(session, kind).ids
        if changed:
            session.connection().execute(bump, {"ids": sorted(changed)})

    bump_changed.__name__ = f"bump_changed_{kind}_documents"
    return bump_changed


async def store_in_batches(
    engine: AsyncEngine,
    id_column: Any,
    live: Sequence[ColumnElement[bool]],
    store: Callable[[prepared.Reads, Sequence[int]], Awaitable[object]],
    batch: int = 500,
) -> int:
    """`store(reads, ids)` for every row whose `live` conditions hold, `batch` ids at a time in
    id order, reads in autocommit on the primary (what is built is stored); how many ids were
    given. What the first reads after a bulk load would do one by one (the benchmark seeds
    and `shopdb bench store-documents` run it). Nothing on SQLite, which stores no documents."""
    if engine.dialect.name != POSTGRESQL:
        return 0
    seen, after = 0, 0
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        reads = prepared.ConnectionReads(autocommit, autocommit=True, stores=True)
        while True:
            ids = list(
                await autocommit.scalars(
                    select(id_column)
                    .where(id_column > after, *live)
                    .order_by(id_column)
                    .limit(batch)
                )
            )
            if not ids:
                return seen
            await store(reads, ids)
            seen += len(ids)
            after = ids[-1]
