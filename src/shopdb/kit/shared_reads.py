"""Where the services find the cache of the shop's settings for a session.

The shop's settings (tax rates, market pricing, shipping zones) are read inside checkouts and
order placement, deep below any endpoint, on every one: the settings cache (Services.
settings_cache, the product cache's machinery, kind SETTINGS) keeps them. The wiring hangs it
on each Database's own session class (shopdb.db.Database.session_class), so every session of
that Database, and no other, finds it; none without Redis or on SQLite.

    cache = settings_cache_of(session)
    raw = await cache.value(session, "tax:CA", read) if cache else await read()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

_ATTRIBUTE = "shopdb_settings_cache"


class ValueCache(Protocol):
    async def value(
        self, session: AsyncSession, key: str, read: Callable[[], Awaitable[bytes]]
    ) -> bytes: ...


def use_settings_cache(session_class: type[Session], cache: ValueCache | None) -> None:
    """The wiring's step: sessions of `session_class` read the settings through `cache`."""
    setattr(session_class, _ATTRIBUTE, cache)


async def cached_settings(
    session: AsyncSession, key: str, read: Callable[[], Awaitable[bytes]]
) -> bytes:
    """`read()` (the settings' JSON), through the settings cache when the session has one."""
    cache: ValueCache | None = getattr(session.sync_session, _ATTRIBUTE, None)
    if cache is None:
        return await read()
    return await cache.value(session, key, read)
