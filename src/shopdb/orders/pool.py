"""How many keyed placements a worker runs at once, so that they never starve the pool.

A placement under an Idempotency-Key is the one request that holds two pooled connections:
its claim's (the request's session, uncommitted until the response is stored) and each
placement step's (placement.py). Enough of them at once and every connection is a claim
waiting for a second one, so on PostgreSQL they first take one of `keyed_placement_slot`'s
slots, sized so that those that hold one always find the other, and queue for it without
holding any connection.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.pool import Pool, QueuePool

from shopdb.db import Database

# Pooled connections that keyed placements leave to everything else a worker serves.
POOL_RESERVE = 2


def keyed_placement_limit(pool: Pool) -> int | None:
    """How many keyed placements may run at once on `pool` (None: no bound needed).

    Each holds at most two connections, so half of what the pool can open (less the
    reserve) lets every one of them have both. Any bound below the pool's capacity would
    guarantee progress (the other requests hold one connection at a time and give it back);
    half also spares them the wait. A pool that opens connections without limit needs none.
    """
    if not isinstance(pool, QueuePool):
        return None
    overflow = pool._max_overflow
    if overflow < 0:
        return None
    return max(1, (pool.size() + overflow - POOL_RESERVE) // 2)


# One semaphore per pool, made on the event loop that uses it (a pool's asyncpg connections
# belong to one loop; a pool met again on another loop, as in tests, gets a new one).
_slots: weakref.WeakKeyDictionary[Pool, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def _semaphore(pool: Pool, limit: int) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    found = _slots.get(pool)
    if found is None or found[0] is not loop:
        found = (loop, asyncio.Semaphore(limit))
        _slots[pool] = found
    return found[1]


@asynccontextmanager
async def keyed_placement_slot(database: Database) -> AsyncIterator[None]:
    """Hold one of this worker's keyed-placement slots (see the module docstring).

    Enter it holding no pooled connection, before the Idempotency-Key claim takes one, and
    leave it once the placement no longer needs another. A no-op on SQLite, where the steps
    are savepoints of the request's own connection.
    """
    limit = None
    if database.primary.dialect.name != "sqlite":
        limit = keyed_placement_limit(database.primary.sync_engine.pool)
    if limit is None:
        yield
        return
    async with _semaphore(database.primary.sync_engine.pool, limit):
        yield
