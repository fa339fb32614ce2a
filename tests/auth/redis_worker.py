"""The body of a worker process in test_rate_limit_redis: kept apart so that a spawned
process imports only the limiter, not the application and the test suite."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from shopdb.ratelimit import RateLimiter, RedisBucketStore


def hammer(url: str, prefix: str, burst: int, hits: int, per_second: float) -> int:
    """Fire `hits` concurrent requests at one shared bucket; return how many were allowed."""

    async def run() -> int:
        client: Any = Redis.from_url(url)  # types-redis lags redis 8: no aclose()
        try:
            store = RedisBucketStore(client, prefix=prefix)
            limiter = RateLimiter(store, burst=burst, per_second=per_second)
            decisions = await asyncio.gather(*(limiter.hit("shared") for _ in range(hits)))
        finally:
            await client.aclose()
        return sum(1 for d in decisions if d is not None and d.allowed)

    return asyncio.run(run())
