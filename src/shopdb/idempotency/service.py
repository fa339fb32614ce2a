"""Claim a key in the request's transaction, replay a finished one, complete it with the response.

Why the claim lives in the request's own transaction: the key row, the work and the stored
response then commit together or not at all, so there is never a committed change without
its stored response or the reverse, and an unfinished claim is never visible to anyone else.

- PostgreSQL: each claim holds the key's advisory lock (transaction-scoped, a 64-bit hash of
  principal and key) from before it writes the row to the end of its transaction. The usual
  claim is one statement: an INSERT that runs only if that lock is free at once, which then
  cannot meet another transaction's uncommitted row. Otherwise (the key exists, or a request
  with it is running) a second request waits for the lock until the first commits (it then
  finds the finished row and replays it) or rolls back (it then claims the key itself). The
  wait is bounded by CLAIM_WAIT (`lock_timeout`, for the claim only); past it the answer is
  409 IDEMPOTENCY_KEY_IN_USE.
- SQLite: every write transaction starts with BEGIN IMMEDIATE (db.py), so the second request
  waits for the first's commit before it even looks (busy_timeout), then replays.
- A request that fails (any 4xx or 5xx, an exception, a failed commit) rolls its claim back
  with its work: the failure is not stored and a retry with the same key runs again. That is
  safe because the failed attempt changed nothing, and useful: a 409 for lack of stock may
  succeed once stock arrives.
- A process killed mid-request: its transaction, claim included, is rolled back by the
  database (PostgreSQL ends it with the connection; SQLite discards the uncommitted WAL), so
  no key is left stuck.
- A row past `expires_at` is taken over as if new (a guarded UPDATE keeps two takers apart),
  and so is a committed row without a response, which this design never writes (debris).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from shopdb.idempotency.repository import IdempotencyKeyRepository, StoredKey
from shopdb.idempotency.rules import TTL
from shopdb.kit.types import utcnow

# How long a request waits for a concurrent one with the same key to finish (PostgreSQL).
# Each waiter holds a pooled connection meanwhile, so this stays short.
CLAIM_WAIT = timedelta(seconds=5)
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout expired
# The row can vanish between the INSERT that met it and the SELECT (a purge), or be taken
# over by another request in between: look again, a few times.
ATTEMPTS = 3
MAX_PATH = 2048  # the column's length


def advisory_lock(principal: str, key: str) -> int:
    """The key's PostgreSQL advisory lock: a signed 64-bit hash of principal and key. Two keys
    that collide only make one wait for the other's transaction, never share a row."""
    digest = hashlib.blake2b(f"{principal}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@dataclass(frozen=True)
class Claim:
    """This request holds the key (in its uncommitted transaction) and must do the work."""

    key_id: int


@dataclass(frozen=True)
class Finished:
    """The key already answered this very request: replay `status` and `body`."""

    status: int
    body: Any


async def claim(
    session: AsyncSession,
    *,
    principal: str,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    now: datetime | None = None,
) -> Claim | Finished:
    """Take the key for this request, or return the response it already gave.

    Raises IdempotencyKeyReused (the key answered another request) or IdempotencyKeyInUse
    (a request with the key is still running after CLAIM_WAIT).
    """
    now = now or utcnow()
    keys = IdempotencyKeyRepository(session)
    postgres = keys.dialect == "postgresql"
    try:
        if postgres:
            lock = advisory_lock(principal, key)
            inserted = await keys.insert_unheld(
                lock=lock,
                principal=principal,
                key=key,
                method=method,
                path=path[:MAX_PATH],
                request_hash=request_hash,
                now=now,
                expires_at=now + TTL,
            )
            if inserted is not None:
                return Claim(inserted)
            await keys.limit_lock_wait(CLAIM_WAIT)
            await keys.wait_for_holder(lock)
        outcome = await _claim(keys, principal, key, method, path, request_hash, now)
        if postgres and isinstance(outcome, Claim):
            await keys.restore_lock_wait()  # the work itself waits as it always did
    except DBAPIError as exc:
        if _sqlstate(exc) == LOCK_NOT_AVAILABLE:
            raise IdempotencyKeyInUse from exc
        raise
    return outcome


async def _claim(
    keys: IdempotencyKeyRepository,
    principal: str,
    key: str,
    method: str,
    path: str,
    request_hash: str,
    now: datetime,
) -> Claim | Finished:
    expires_at = now + TTL
    row = {"method": method, "path": path[:MAX_PATH], "request_hash": request_hash}
    for _ in range(ATTEMPTS):
        inserted = await keys.insert(
            principal=principal, key=key, now=now, expires_at=expires_at, **row
        )
        if inserted is not None:
            return Claim(inserted)
        found = await keys.find(principal, key)
        if found is None:
            continue
        if _reusable(found, now):
            if await keys.take_over(found.id, now=now, expires_at=expires_at, **row):
                return Claim(found.id)
            continue
        if found.request_hash != request_hash:
            raise IdempotencyKeyReused
        assert found.response_status is not None
        return Finished(found.response_status, found.response_body)
    raise IdempotencyKeyInUse


def _reusable(found: StoredKey, now: datetime) -> bool:
    return found.expires_at <= now or found.response_status is None


async def complete(session: AsyncSession, claimed: Claim, status: int, body: Any) -> None:
    """Store the response in the request's transaction, to commit with the work."""
    await IdempotencyKeyRepository(session).complete(claimed.key_id, status, body)


async def purge_expired(session: AsyncSession, *, limit: int = 1000) -> int:
    """Delete expired keys (they would be taken over anyway; this only keeps the table small)."""
    return await IdempotencyKeyRepository(session).purge_expired(utcnow(), limit)


def _sqlstate(exc: BaseException) -> str | None:
    original = getattr(exc, "orig", exc)
    found = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    return found if isinstance(found, str) else None
