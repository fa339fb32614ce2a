"""Strong ETags from a row's `version`, and the If-Match check (412 when stale)."""

from __future__ import annotations

from shopdb.errors import PreconditionFailed


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """No header: no precondition. `*` matches anything; weak tags compare by their value."""
    if if_match is None:
        return
    current = str(version)
    for candidate in if_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return
        tag = tag.removeprefix("W/").strip('"')
        if tag == current:
            return
    raise PreconditionFailed(
        f"The resource has changed (its ETag is now {etag(version)}); fetch it and retry",
        [{"field": "If-Match", "message": f"does not match the current ETag {etag(version)}"}],
        headers={"ETag": etag(version)},
    )
