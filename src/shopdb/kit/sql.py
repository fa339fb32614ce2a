"""Small SQL helpers any domain's repository may use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam
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
