"""Offset pages and keyset cursors that any domain's repository can reuse.

A keyset cursor names the last row a client saw by its sort key and id; the next page starts
strictly after it with a `(key, id) > (:key, :id)` row comparison, so page 400 costs what page 1
costs (an index range scan) where OFFSET would read and discard every earlier row.

The cursor is opaque to clients (base64url JSON) but not secret: it carries the sort it was made
for, and a cursor presented with another sort is refused.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

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
        BIGINT, the key a string, a bounded integer, a decimal or a timestamp with its offset.
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
            elif not isinstance(key, str | int) or isinstance(key, bool):
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
        field: str = "cursor",
    ) -> None:
        """The cursor belongs to this sort and its key has the sort column's type."""
        if (self.sort, self.direction) != (sort, direction):
            raise ValidationFailed.on(
                field,
                f"was issued for sortBy={self.sort} sortDirection={self.direction}; "
                "send the same sort with it",
            )
        if not isinstance(self.key, key_type):
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
