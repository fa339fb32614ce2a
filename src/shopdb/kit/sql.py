"""Small SQL helpers any domain's repository may use."""

from __future__ import annotations


def contains_pattern(text: str) -> str:
    """A case-insensitive LIKE pattern matching `text` anywhere, its wildcards escaped.

    Compare it with the lowered column and `escape="\\\\"`.
    """
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
