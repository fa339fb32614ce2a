"""A user's current standing (active? which permissions? which token generation?), checked on
every request.

A JWT says what the user could do when it was issued. To make a deactivation, a revoked grant
or a password change bite before the token expires, every request intersects the token's
permissions with the user's current ones and compares the token's generation with the user's.
Reading them costs one query, so each worker keeps them for `SHOPDB_AUTH_CACHE_SECONDS`
(default 5 s, and never past a grant's expiry).

A change is forgotten after its commit, never before: a request between a forget and the
commit would read and cache the old standing again. Services note the changed users in the
session (`note_access_changed`); the after-commit hook (shopdb.auth.invalidation) forgets them
in this worker and, with Redis, publishes them so every worker forgets them too.
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


# session.info key: ids of users whose standing the unit of work changed.
ACCESS_CHANGED = "shopdb.access_changed"


def note_access_changed(session: AsyncSession, user_id: int) -> None:
    """Forget this user's cached standing everywhere once the session's change commits."""
    changed: set[int] = session.info.setdefault(ACCESS_CHANGED, set())
    changed.add(user_id)


def take_access_changes(session: AsyncSession) -> set[int]:
    changed: set[int] = session.info.pop(ACCESS_CHANGED, set())
    return changed


@dataclass(frozen=True)
class UserAccess:
    active: bool
    permissions: frozenset[str]
    token_generation: int = 0


class AccessCache:
    MAX_ENTRIES = 50_000

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._users: dict[int, tuple[UserAccess | None, float]] = {}
        # Raised by every forget. A standing read before a forget must not be stored after
        # it: `put` is given the epoch seen before the read and skips a stale one.
        self.epoch = 0
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

    def put(
        self,
        user_id: int,
        access: UserAccess | None,
        *,
        until: datetime | None,
        read_at_epoch: int | None = None,
    ) -> None:
        if self.ttl_seconds <= 0:
            return
        if read_at_epoch is not None and read_at_epoch != self.epoch:
            return  # something was forgotten while this standing was read: it may be stale
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
        self.epoch += 1
        self._users.pop(user_id, None)

    def forget_all(self) -> None:
        """After missed invalidations (the subscriber lost Redis), trust nothing cached."""
        self.epoch += 1
        self._users.clear()

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
    active, role, generation, grants = found
    expiries = [expires for _name, expires in grants if expires is not None]
    access = UserAccess(active, role_permissions(role, [name for name, _ in grants]), generation)
    return access, min(expiries, default=None)


async def current_access(
    cache: AccessCache, session: AsyncSession, user_id: int, *, token_generation: int = 0
) -> UserAccess | None:
    cached = cache.get(user_id)
    # A token newer than the cached standing proves the cache stale (this worker has not
    # heard of the password change yet): read again rather than refuse a fresh login.
    if cached is not None and (cached[0] is None or cached[0].token_generation >= token_generation):
        return cached[0]
    epoch = cache.epoch
    access, changes_at = await load_access(session, user_id)
    cache.put(user_id, access, until=changes_at, read_at_epoch=epoch)
    return access
