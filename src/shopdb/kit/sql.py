"""Small SQL helpers any domain's repository may use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam, literal_column
from sqlalchemy.orm import InstrumentedAttribute


def contains_pattern(text: str) -> str:
    """A case-insensitive LIKE pattern matching `text` anywhere, its wildcards escaped.

    Compare it with the lowered column and `escape="\\\\"`.
    """
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def one_of(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], name: str, *, postgresql: bool
) -> ColumnElement[bool]:
    """`column` is one of the values of the list parameter `name`: `= ANY(:name)` on
    PostgreSQL, one prepared statement whatever the list's length (kit.prepared runs it);
    elsewhere an IN list expanded at execution."""
    if postgresql:
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def in_constants(
    column: ColumnElement[Any] | InstrumentedAttribute[Any], values: Iterable[str]
) -> ColumnElement[bool]:
    """`column IN ('a', 'b')` with the code's own constants written into the SQL (never a
    request's values), not bound: the statement then has no list to expand at execution, so
    kit.prepared runs it as a prepared statement, and PostgreSQL can prove from it a partial
    index's predicate (`status IN (...)`) for the generic plan of a prepared statement, which
    bind parameters leave it unable to (without statistics it then chose other indexes)."""
    quoted: list[ColumnElement[Any]] = [
        literal_column("'" + value.replace("'", "''") + "'") for value in values
    ]
    return column.in_(quoted)
