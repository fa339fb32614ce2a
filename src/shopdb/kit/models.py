"""Declarative base, naming convention and the column mixins every table shares."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Column, Identity, Integer, MetaData, bindparam, func, insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    make_transient_to_detached,
    mapped_column,
)
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.schema import CallableColumnDefault, ScalarElementColumnDefault

from shopdb.kit import prepared
from shopdb.kit.types import BigIntId, UTCDateTime, utcnow

# Constraint and index names follow one convention so migrations are reproducible and
# stay under PostgreSQL's 63-character identifier limit.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(BigIntId, Identity(), primary_key=True, sort_order=-100)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        server_default=func.current_timestamp(),
        sort_order=100,
    )


class TimestampMixin(CreatedAtMixin):
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=func.current_timestamp(),
        sort_order=101,
    )


class SoftDeleteMixin:
    """Rows are hidden, not removed, so orders and audit trails keep their references."""

    deleted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True, index=True, sort_order=102
    )


class VersionMixin:
    """Optimistic concurrency: every ORM UPDATE carries `WHERE version = :seen` and bumps it.

    A concurrent writer makes the UPDATE match no row and SQLAlchemy raises StaleDataError,
    which the error handler turns into 409. Endpoints compare If-Match with `version` first (412).
    """

    version: Mapped[int] = mapped_column(
        Integer, nullable=False, default=1, server_default="1", sort_order=103
    )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, object]:
        return {"version_id_col": cls.version}


def attach_inserted(session: Session | AsyncSession, row: Base) -> None:
    """Make `row`, written by a Core INSERT (its primary key set from RETURNING), a persistent
    object of `session`, as if it had been flushed: later changes to it are UPDATEs, and
    nothing inserts it again. Its columns never set stay None rather than expired (an expired
    attribute would be loaded on access, which an async session cannot do implicitly)."""
    for key, _column in _columns(inspect(type(row))):
        if key not in row.__dict__:
            setattr(row, key, None)
    make_transient_to_detached(row)
    session.add(row)


def _load(row: Base, columns: Sequence[tuple[str, Column[Any]]], record: Any) -> None:
    """A returned row's values straight into the object's dict: it is transient until
    attached, and what the database holds is its committed state, not a change to write."""
    loaded = row.__dict__
    for (key, _column), value in zip(columns, record, strict=True):
        loaded[key] = value


async def insert_rows(session: AsyncSession, rows: Sequence[Base]) -> None:
    """Write new `rows` of one mapped class with one Core INSERT and make them persistent, as
    a flush would: every column comes back by RETURNING (defaults included), so the objects
    hold what the database holds.

    For the hottest writes only (an order and its lines, a refund's rows): the ORM's flush of
    an object costs several times its INSERT. Relationships are not followed; the caller sets
    the foreign keys. The rows come back in the order given: their identities are drawn row
    by row in VALUES order."""
    if not rows:
        return
    mapper = inspect(type(rows[0]))
    table = mapper.local_table
    columns = _columns(mapper)
    values = [_insert_values(row, columns) for row in rows]
    if len({frozenset(v) for v in values}) > 1:  # one statement needs the same columns
        for row in rows:
            await insert_rows(session, [row])
        return
    keys = tuple(values[0])
    # asyncpg's prepared statement, in the transaction; RETURNING promises no order, the
    # identities do.
    written = await prepared.fetch_in_transaction(
        session,
        _rows_insert(table, keys, len(values)),
        {
            f"v{index}_{key}": value
            for index, row in enumerate(values)
            for key, value in row.items()
        },
    )
    if len(written) > 1:
        written = sorted(written, key=itemgetter(_identity_index(mapper)))
    for row, record in zip(rows, written, strict=True):
        _load(row, columns, record)
        make_transient_to_detached(row)
        session.add(row)


# session.info's list of what write_rows wrote in the session's transaction, for what counts
# rows at commit as a flush's listeners would (metrics.track_orders); gone at the commit or
# rollback that ends it.
WRITTEN_ROWS = "shopdb.written_rows"


async def write_rows(session: AsyncSession, rows: Sequence[Base]) -> None:
    """Write new `rows`, of one mapped class or several, that nothing in the request reads
    back (the events of a change, its outbox job): on PostgreSQL in one statement, an INSERT
    per table chained as data-modifying CTEs (asyncpg's prepared statement); elsewhere an
    INSERT per table. Unlike insert_rows the objects are not read back nor attached to the
    session (they are listed in its info, WRITTEN_ROWS). The caller sets the foreign keys; no
    row may name another of the same call (PostgreSQL runs the CTEs in no set order)."""
    # One INSERT per table and set of columns (a column left to its server default is left out).
    groups: dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]] = {}
    for row in rows:
        mapper = inspect(type(row))
        values = _insert_values(row, _columns(mapper))
        groups.setdefault((mapper.local_table, tuple(values)), []).append(values)
    shapes = [(table, keys, len(values)) for (table, keys), values in groups.items()]
    arguments = {
        f"t{t}_v{index}_{key}": value
        for t, values in enumerate(groups.values())
        for index, row in enumerate(values)
        for key, value in row.items()
    }
    chained = session.get_bind().dialect.name == "postgresql"
    for statement in _rows_writes(tuple(shapes), chained=chained):
        await prepared.fetch_in_transaction(session, statement, arguments)
    session.info.setdefault(WRITTEN_ROWS, []).extend(rows)


@functools.cache
def _rows_writes(
    shapes: tuple[tuple[Any, tuple[str, ...], int], ...], *, chained: bool
) -> list[Any]:
    """write_rows' statements for (table, keys, row count) shapes, built once: one INSERT per
    table, or (`chained`) the last with the others as its CTEs."""
    inserts = [
        _values_insert(table, keys, count, prefix=f"t{t}_")
        for t, (table, keys, count) in enumerate(shapes)
    ]
    if not chained or len(inserts) == 1:
        return inserts
    *first, last = inserts
    return [last.add_cte(*(statement.cte(f"w{t}") for t, statement in enumerate(first)))]


@functools.cache
def _rows_insert(table: Any, keys: tuple[str, ...], count: int) -> Any:
    """The INSERT of `count` rows of `keys`, returning every column, built once: building a
    50-column INSERT costs more than running it."""
    return _values_insert(table, keys, count).returning(*table.c)


def _values_insert(table: Any, keys: tuple[str, ...], count: int, prefix: str = "") -> Any:
    """INSERT of `count` rows of `keys`, the parameters `{prefix}v{row}_{key}`: named apart
    from the columns (a column's own name is reserved for the values SQLAlchemy binds at
    execution), and apart from another table's in the same statement by `prefix`."""
    rows = [
        {
            table.c[key]: bindparam(f"{prefix}v{index}_{key}", type_=table.c[key].type)
            for key in keys
        }
        for index in range(count)
    ]
    return insert(table).values(rows)


@functools.cache
def _columns(mapper: Any) -> list[tuple[str, Column[Any]]]:
    """(attribute, column) of each column, in the table's order (the RETURNING's)."""
    by_column = {attribute.columns[0]: attribute.key for attribute in mapper.column_attrs}
    return [(by_column[column], column) for column in mapper.local_table.c]


def column_values(row: Base) -> dict[str, Any]:
    """Every column of `row` by column name, as the object holds it (None where unset)."""
    return {column.key: row.__dict__.get(key) for key, column in _columns(inspect(type(row)))}


@functools.cache
def _identity_index(mapper: Any) -> int:
    """Where the table's one identity column is among its columns (insert_rows sorts the
    returned rows by it)."""
    (index,) = (i for i, (_key, column) in enumerate(_columns(mapper)) if column.primary_key)
    return index


def _insert_values(row: Base, columns: Sequence[tuple[str, Column[Any]]]) -> dict[str, Any]:
    """The row's column values. A column left None takes its Python default (a value or a
    function of nothing), else is left to the database (an identity, a server default)."""
    values = {}
    for key, column in columns:
        value = row.__dict__.get(key)
        if value is None:
            default = column.default
            if isinstance(default, ScalarElementColumnDefault):
                value = default.arg
            elif isinstance(default, CallableColumnDefault):
                value = default.arg(cast(Any, None))  # a function of nothing
            elif default is not None:
                raise TypeError(f"{column} has a SQL default: insert it with the ORM")
            elif column.primary_key or column.server_default is not None:
                continue
        values[column.key] = value
    return values


def attach_loaded(session: Session | AsyncSession, model: type[Base], record: Any) -> Any:
    """The persistent object of `model` for a row read by Core (`select(table)`: every column
    in the table's order), as the ORM's load with `populate_existing` gives it: the session's
    own object for that identity if it has one (its columns overwritten by the row's), else a
    new one. Its relationships are left unloaded; the caller sets those it read
    (`set_committed_value`).

    For the hottest reads only (the order every lifecycle operation locks): the ORM's load
    costs several times the statement. The row's values must need no result processing
    beyond the driver's own (asyncpg's codecs): tests compare the objects with the ORM's."""
    mapper = inspect(model)
    columns = _columns(mapper)
    identity = mapper.identity_key_from_primary_key(
        tuple(record[index] for index, (_key, column) in enumerate(columns) if column.primary_key)
    )
    found = session.identity_map.get(identity)
    if found is not None:
        for (key, _column), value in zip(columns, record, strict=True):
            set_committed_value(found, key, value)
        return found
    row = mapper.class_manager.new_instance()
    _load(row, columns, record)
    make_transient_to_detached(row)
    session.add(row)
    return row
