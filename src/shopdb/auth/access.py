"""A user's current standing (active? which permissions?), checked on every request.

A JWT says what the user could do when it was issued. To make a deactivation or a revoked
grant bite before the token expires, every request intersects the token's permissions with
the user's current ones. Reading them costs one query, so each worker keeps them for
`SHOPDB_AUTH_CACHE_SECONDS` (default 5 s, and never past a grant's expiry); a change made
through this worker is forgotten at once, other workers see it within that window.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.permissions import ADMIN_ROLE, PERMISSIONS
from shopdb.auth.repository import AccessRepository
from shopdb.kit.types import utcnow


def role_permissions(role: str, granted: frozenset[str] | set[str] | list[str]) -> frozenset[str]:
    """Role admin holds every permission; anyone else holds what was granted."""
    if role == ADMIN_ROLE:
        return frozenset(PERMISSIONS)
    return frozenset(granted)


@dataclass(frozen=True)
class UserAccess:
    active: bool
    permissions: frozenset[str]


class AccessCache:
    MAX_ENTRIES = 50_000

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._users: dict[int, tuple[UserAccess | None, float]] = {}
        # Hashes of API keys seen valid, so the rate limiter can bill the key, not the address,
        # before the request reaches the database.
        self._api_keys: dict[str, int] = {}

    def get(self, user_id: int) -> tuple[UserAccess | None] | None:
        """(access,) when cached (access is None for a user that does not exist); else None."""
        entry = self._users.get(user_id)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._users[user_id]
            return None
        return (entry[0],)

    def put(self, user_id: int, access: UserAccess | None, *, until: datetime | None) -> None:
        if self.ttl_seconds <= 0:
            return
        now = self._clock()
        expires = now + self.ttl_seconds
        if until is not None:
            expires = min(expires, now + (until - utcnow()).total_seconds())
        if len(self._users) >= self.MAX_ENTRIES:
            self._users = {k: v for k, v in self._users.items() if v[1] > now}
            if len(self._users) >= self.MAX_ENTRIES:
                self._users.clear()
        self._users[user_id] = (access, expires)

    def forget(self, user_id: int) -> None:
        self._users.pop(user_id, None)

    def remember_api_key(self, key_hash: str, api_key_id: int) -> None:
        if len(self._api_keys) >= self.MAX_ENTRIES:
            self._api_keys.clear()
        self._api_keys[key_hash] = api_key_id

    def known_api_key(self, key_hash: str) -> int | None:
        return self._api_keys.get(key_hash)


async def load_access(
    session: AsyncSession, user_id: int
) -> tuple[UserAccess | None, datetime | None]:
    """The user's standing now, and when it next changes by itself (the first grant expiry)."""
    now = utcnow()
    found = await AccessRepository(session).standing(user_id, now)
    if found is None:
        return None, None
    active, role, grants = found
    expiries = [expires for _name, expires in grants if expires is not None]
    access = UserAccess(active, role_permissions(role, [name for name, _ in grants]))
    return access, min(expiries, default=None)


async def current_access(
    cache: AccessCache, session: AsyncSession, user_id: int
) -> UserAccess | None:
    cached = cache.get(user_id)
    if cached is not None:
        return cached[0]
    access, changes_at = await load_access(session, user_id)
    cache.put(user_id, access, until=changes_at)
    return access
