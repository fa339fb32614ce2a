"""What any value from a client may hold before it reaches the database.

PostgreSQL's BIGINT and INTEGER have fixed ranges and its text cannot hold a NUL character;
a value past those reaches the driver and comes back as a server error. Every request body
(`InputModel`), path and query parameter (`UnitOfWorkRoute`) is checked against these bounds
in one place, so a client gets a 400 naming the field instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

MAX_BIGINT = 2**63 - 1
MIN_BIGINT = -(2**63)
# PostgreSQL INTEGER: quantities, positions and counters in the seed's DDL.
MAX_INT = 2**31 - 1
MIN_INT = -(2**31)
# JSON nested deeper than this is refused before anything walks it recursively.
MAX_JSON_DEPTH = 64

NUL_MESSAGE = "must not contain NUL characters (\\u0000)"


def bigint_message() -> str:
    return f"must be between {MIN_BIGINT} and {MAX_BIGINT}"


def problems(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, message) for each NUL-bearing string and out-of-BIGINT integer in `value`.

    `path` extends the location of `value` (`[2]`, `.key`), so a caller can name the field.
    """
    if isinstance(value, str):
        if "\x00" in value:
            yield path, NUL_MESSAGE
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not MIN_BIGINT <= value <= MAX_BIGINT:
            yield path, bigint_message()
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                yield f"{path}.{key!r}", NUL_MESSAGE
            yield from problems(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            yield from problems(item, f"{path}[{index}]")


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than `limit`, checked without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def text_nesting_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text opens more than `limit` brackets at once, before it is parsed.

    Python's json module recurses per level and raises RecursionError around a thousand;
    counting brackets (outside strings) is linear and never recurses.
    """
    depth = 0
    in_string = False
    escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False
