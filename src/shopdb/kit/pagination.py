"""Offset pages and keyset cursors that any domain's repository can reuse.

A keyset cursor names the last row a client saw by its sort key and id; the next page starts
strictly after it with a `(key, id) > (:key, :id)` row comparison, so page 400 costs what page 1
costs (an index range scan) where OFFSET would read and discard every earlier row.

The cursor is opaque to clients (base64url JSON) but not secret: it carries the sort it was made
for, and a cursor presented with another sort is refused.

read_page (read_requested_page for a PageRequest) is how every list reads a page: keyset after
a cursor, offset pages up to MAX_OFFSET rows, a next cursor on every page that has a next one,
nullable sort keys last, and a COUNT only when the request asks for a total.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import ColumnElement, Select, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shopdb.errors import ValidationFailed
from shopdb.kit.bounds import MAX_BIGINT, problems

Direction = Literal["asc", "desc"]
T = TypeVar("T")

# Any SELECT, whatever its columns (Select is variadic in SQLAlchemy 2.1).
AnySelect = Select[*tuple[Any, ...]]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 250
# The deepest an offset page may reach (page x pageSize): OFFSET reads and discards every row
# before the page, so deeper pages are read by cursor, at the cost of the first.
MAX_OFFSET = 10_000


@dataclass(frozen=True)
class Cursor:
    """Where a keyset page ends: the sort it belongs to, the last key and the last id."""

    sort: str
    direction: Direction
    key: Any
    id: int

    def encode(self) -> str:
        key = self.key
        if isinstance(key, datetime):
            key = {"t": key.isoformat()}
        elif isinstance(key, Decimal):
            key = {"d": str(key)}
        payload = {"s": self.sort, "o": self.direction, "k": key, "i": self.id}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, token: str, *, field: str = "cursor") -> Cursor:
        """The cursor in `token`, or a 400: a tampered cursor never reaches a query.

        Each part must have the type this API writes: the sort a string, the id a positive
        BIGINT, the key a string, a bounded integer, a decimal, a timestamp with its offset,
        or null (a nullable sort's last key; check_matches refuses it for any other sort).
        """
        invalid = ValidationFailed.on(field, "is not a cursor this API issued")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload = json.loads(raw)
            if not isinstance(payload, dict):
                raise invalid
            sort, direction, key, last_id = payload["s"], payload["o"], payload["k"], payload["i"]
            if isinstance(key, dict) and set(key) == {"t"} and isinstance(key["t"], str):
                key = datetime.fromisoformat(key["t"])
                if key.tzinfo is None:
                    raise invalid
            elif isinstance(key, dict) and set(key) == {"d"} and isinstance(key["d"], str):
                key = Decimal(key["d"])
                if not key.is_finite():
                    raise invalid
            elif key is not None and (not isinstance(key, str | int) or isinstance(key, bool)):
                raise invalid
        except (ValueError, TypeError, KeyError, ArithmeticError, binascii.Error) as exc:
            raise invalid from exc
        if (
            not isinstance(sort, str)
            or direction not in ("asc", "desc")
            or not isinstance(last_id, int)
            or isinstance(last_id, bool)
            or not 0 <= last_id <= MAX_BIGINT
            or any(problems(key))
            or any(problems(sort))
        ):
            raise invalid
        return cls(sort, direction, key, last_id)

    def check_matches(
        self,
        sort: str,
        direction: Direction,
        *,
        key_type: type | tuple[type, ...] = object,
        nullable: bool = False,
        field: str = "cursor",
    ) -> None:
        """The cursor belongs to this sort and its key has the sort column's type (or is
        null, for a `nullable` sort column: the cursor then points among the nulls)."""
        if (self.sort, self.direction) != (sort, direction):
            raise ValidationFailed.on(
                field,
                f"was issued for sortBy={self.sort} sortDirection={self.direction}; "
                "send the same sort with it",
            )
        if self.key is None and nullable:
            return
        if self.key is None or not isinstance(self.key, key_type):
            raise ValidationFailed.on(field, "is not a cursor this API issued")


def keyset_after(
    key_column: ColumnElement[Any] | InstrumentedAttribute[Any],
    id_column: ColumnElement[int] | InstrumentedAttribute[int],
    cursor: Cursor,
) -> ColumnElement[bool]:
    """Rows strictly after the cursor in `ORDER BY key, id` (both asc, or both desc)."""
    row = tuple_(key_column, id_column)
    seen = tuple_(literal(cursor.key, key_column.type), literal(cursor.id, id_column.type))
    return row > seen if cursor.direction == "asc" else row < seen


def keyset_order(
    key_column: ColumnElement[Any] | InstrumentedAttribute[Any],
    id_column: ColumnElement[int] | InstrumentedAttribute[int],
    direction: Direction,
) -> list[ColumnElement[Any]]:
    if direction == "asc":
        return [key_column.asc(), id_column.asc()]
    return [key_column.desc(), id_column.desc()]


async def count_rows(session: AsyncSession, statement: AnySelect) -> int:
    """COUNT(*) over a filtered statement, without its ordering or limits."""
    counted = select(func.count()).select_from(
        statement.order_by(None).limit(None).offset(None).subquery()
    )
    return int((await session.execute(counted)).scalar_one())


def split_page(rows: Sequence[T], page_size: int) -> tuple[list[T], bool]:
    """Rows fetched with LIMIT page_size + 1: the page, and whether another one follows."""
    return list(rows[:page_size]), len(rows) > page_size


def offset_for(page: int, page_size: int) -> int:
    return (page - 1) * page_size


def check_offset_depth(page: int, page_size: int, *, field: str = "page") -> None:
    """400 for an offset page that ends beyond MAX_OFFSET rows, pointing to the cursor (as
    Shopify stopped offering page numbers for the same reason)."""
    if offset_for(page, page_size) + page_size > MAX_OFFSET:
        raise ValidationFailed.on(
            field,
            f"offset pages reach the first {MAX_OFFSET:,} rows; page further with `cursor`"
            " (each page's nextCursor)",
        )


# --- one page of any list ---------------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    """What a list request asks for: an offset page, or the page after a cursor (which then
    wins over `page`), and whether to count every matching row too."""

    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE
    cursor: str | None = None
    with_total: bool = False


@dataclass(frozen=True)
class RowsPage(Generic[T]):
    """A page's rows, the cursor of the page after it (None on the last page), and the total
    number of matching rows when the request asked for it (None otherwise)."""

    rows: list[T]
    next_cursor: str | None
    total: int | None


def decode_cursor(
    token: str | None,
    *,
    sort_name: str,
    direction: Direction,
    key_type: type | tuple[type, ...],
    nullable: bool = False,
    field: str = "cursor",
) -> Cursor | None:
    """The cursor in `token` (None without one), checked against the sort it is used with: a
    tampered cursor, or one issued for another sort, is a 400 naming `field`."""
    if not token:
        return None
    cursor = Cursor.decode(token, field=field)
    cursor.check_matches(sort_name, direction, key_type=key_type, nullable=nullable, field=field)
    return cursor


# Labels of the columns read_page adds to a statement to build the next cursor.
_KEY_LABEL = "page_sort_key_"
_ID_LABEL = "page_sort_id_"


def _ordered(
    statement: AnySelect,
    key: ColumnElement[Any] | InstrumentedAttribute[Any] | None,
    id_column: ColumnElement[Any] | InstrumentedAttribute[Any],
    direction: Direction,
) -> AnySelect:
    if key is None:
        return statement.order_by(id_column.asc() if direction == "asc" else id_column.desc())
    return statement.order_by(*keyset_order(key, id_column, direction))


def _after_id(
    id_column: ColumnElement[Any] | InstrumentedAttribute[Any], last_id: int, direction: Direction
) -> ColumnElement[bool]:
    seen = literal(last_id, id_column.type)
    return id_column > seen if direction == "asc" else id_column < seen


async def _keyed_then_nulls(
    session: AsyncSession,
    statement: AnySelect,
    columns: AnySelect,
    key: ColumnElement[Any] | InstrumentedAttribute[Any],
    id_column: ColumnElement[Any] | InstrumentedAttribute[Any],
    direction: Direction,
    page: int,
    page_size: int,
    cursor: Cursor | None,
) -> list[Any]:
    """Up to page_size + 1 rows in `ORDER BY key NULLS LAST, id`: the rows with a key after
    the cursor (or the offset), then, while the page is not full, the rows without one."""
    wanted = page_size + 1
    found: list[Any] = []
    nulls_offset = 0
    if cursor is None or cursor.key is not None:
        keyed = columns.where(key.is_not(None))
        if cursor is not None:
            keyed = keyed.where(keyset_after(key, id_column, cursor))
        else:
            keyed = keyed.offset(offset_for(page, page_size))
        keyed = _ordered(keyed, key, id_column, direction).limit(wanted)
        found = list((await session.execute(keyed)).all())
        if cursor is None and not found and page > 1:
            # The offset went past every keyed row: the page starts that many rows less deep
            # among the nulls (counted up to the offset, itself at most MAX_OFFSET).
            skipped = offset_for(page, page_size)
            keyed_rows = await session.scalar(
                select(func.count()).select_from(
                    statement.where(key.is_not(None)).limit(skipped).subquery()
                )
            )
            nulls_offset = skipped - int(keyed_rows or 0)
    if len(found) < wanted:
        nulls = columns.where(key.is_(None))
        if cursor is not None and cursor.key is None:
            nulls = nulls.where(_after_id(id_column, cursor.id, direction))
        nulls = _ordered(nulls, None, id_column, direction)
        nulls = nulls.offset(nulls_offset).limit(wanted - len(found))
        found.extend((await session.execute(nulls)).all())
    return found


async def read_page(
    session: AsyncSession,
    statement: AnySelect,
    *,
    sort_column: ColumnElement[Any] | InstrumentedAttribute[Any],
    id_column: ColumnElement[Any] | InstrumentedAttribute[Any],
    direction: Direction,
    page: int,
    page_size: int,
    cursor: Cursor | None,
    sort_name: str,
    with_total: bool,
    nulls_last: bool = False,
) -> RowsPage[Any]:
    """One page of `statement` (filtered, not ordered) in `ORDER BY sort_column, id_column`,
    both in `direction`; every list reads its pages through here.

    `id_column` is unique among the rows (the tiebreaker); `sort_column` may be the same
    column (a list by id). With a cursor the page is a keyset range after it, costing what
    the first page costs; without one it is an offset page, refused beyond MAX_OFFSET rows.
    Every page that has a next one carries its cursor, offset pages too, so a client can
    switch to cursors at any page. The COUNT runs only when `with_total`.

    `nulls_last`: the sort column is nullable, and NULL keys sort after every other key in
    both directions (then by id in `direction`). The rows with a key and the rows without
    one are read as two index ranges, one after the other, since no single row comparison
    (or index order) spans both; a cursor whose key is null continues among the nulls.

    Rows: the selected entity or value when `statement` selects one, else the whole Row
    (with two extra trailing columns, the sort key and id).
    """
    if cursor is None:
        check_offset_depth(page, page_size)
    by_id = sort_column is id_column
    key = None if by_id else sort_column
    columns = statement.add_columns(
        (id_column if by_id else sort_column).label(_KEY_LABEL), id_column.label(_ID_LABEL)
    )
    wanted = page_size + 1  # one row more than the page tells whether a next one follows
    found: list[Any] = []
    if key is None or not nulls_last:
        ranged = columns
        if cursor is not None:
            ranged = ranged.where(
                _after_id(id_column, cursor.id, direction)
                if key is None
                else keyset_after(key, id_column, cursor)
            )
        else:
            ranged = ranged.offset(offset_for(page, page_size))
        found = list(
            (await session.execute(_ordered(ranged, key, id_column, direction).limit(wanted))).all()
        )
    else:
        found = await _keyed_then_nulls(
            session, statement, columns, key, id_column, direction, page, page_size, cursor
        )
    rows, more = split_page(found, page_size)
    next_cursor = None
    if more:
        last = rows[-1]
        last_key, last_id = last[-2], last[-1]
        next_cursor = Cursor(sort_name, direction, last_key, int(last_id)).encode()
    single = len(statement.column_descriptions) == 1
    total = await count_rows(session, statement) if with_total else None
    return RowsPage([row[0] for row in rows] if single else rows, next_cursor, total)


async def read_requested_page(
    session: AsyncSession,
    statement: AnySelect,
    request: PageRequest,
    *,
    sort_column: ColumnElement[Any] | InstrumentedAttribute[Any],
    id_column: ColumnElement[Any] | InstrumentedAttribute[Any],
    direction: Direction = "asc",
    sort_name: str = "id",
    key_type: type | tuple[type, ...] = int,
    nulls_last: bool = False,
) -> RowsPage[Any]:
    """read_page for a PageRequest: its cursor decoded and checked against this sort."""
    cursor = decode_cursor(
        request.cursor,
        sort_name=sort_name,
        direction=direction,
        key_type=key_type,
        nullable=nulls_last,
    )
    return await read_page(
        session,
        statement,
        sort_column=sort_column,
        id_column=id_column,
        direction=direction,
        page=request.page,
        page_size=request.page_size,
        cursor=cursor,
        sort_name=sort_name,
        with_total=request.with_total,
        nulls_last=nulls_last,
    )
