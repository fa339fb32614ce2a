"""Token buckets: per API key, user or client address, in Redis (shared) or in-process.

A bucket holds up to `burst` tokens and refills at `per_second`; a request takes one token, or
is refused with 429 and `Retry-After` when none is left (Shopify's REST limit: 40, 2/s). Every
limited response carries `X-RateLimit-Limit` (the burst) and `X-RateLimit-Remaining`.

With `SHOPDB_REDIS_URL` the buckets live in Redis and one Lua script reads, refills and takes
in a single atomic step, so every worker process shares them; Redis's clock is the only clock.
Without Redis each worker keeps its own buckets. When Redis is unreachable the request limiter
lets requests through (and logs): an outage of the limiter must not become an outage of the
API. A limiter given a `fallback` store (the login throttle: password guessing must never be
unlimited) counts in that store instead while Redis fails.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopdb.errors import error_body

log = structlog.get_logger(__name__)

# Probes must not be refused (an orchestrator would restart a healthy pod): they only look.
UNCHARGED_PATHS = frozenset({"/health", "/health/ready"})


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int = 0

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class BucketStore(Protocol):
    async def take(self, key: str, *, burst: int, per_second: float, cost: float) -> Decision:
        """Refill the bucket, then take `cost` tokens (0 looks, a negative cost gives back)."""
        ...

    async def reset(self, key: str) -> None: ...


def _retry_after(missing: float, per_second: float) -> int:
    return max(1, math.ceil(missing / per_second))


class MemoryBucketStore:
    """Buckets of one worker process. No lock is needed: nothing awaits between read and write."""

    MAX_BUCKETS = 100_000

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, *, burst: int, per_second: float, cost: float) -> Decision:
        now: float = self._clock()
        tokens, stamp = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + max(0.0, now - stamp) * per_second)
        if cost > tokens:
            self._buckets[key] = (tokens, now)
            return Decision(False, burst, int(tokens), _retry_after(cost - tokens, per_second))
        tokens = min(float(burst), tokens - cost)
        if cost != 0:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._forget_full(now, burst, per_second)
            self._buckets[key] = (tokens, now)
        return Decision(True, burst, int(tokens))

    async def reset(self, key: str) -> None:
        self._buckets.pop(key, None)

    def _forget_full(self, now: float, burst: int, per_second: float) -> None:
        # A bucket that has refilled completely is the same as no bucket at all.
        refill_time = burst / per_second
        for key in [k for k, (_t, stamp) in self._buckets.items() if now - stamp >= refill_time]:
            del self._buckets[key]


# KEYS[1] bucket; ARGV burst, per_second, cost, and optionally now in ms (tests); else Redis TIME.
# Tokens go back as a string: Redis truncates Lua numbers to integers.
BUCKET_SCRIPT = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
if cost > tokens then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
  return {0, tostring(tokens)}
end
tokens = math.min(burst, tokens - cost)
if cost ~= 0 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
end
return {1, tostring(tokens)}
"""


class RedisBucketStore:
    """Buckets shared by every worker: one atomic script per request, on Redis's clock."""

    def __init__(self, redis: Any, *, prefix: str, clock_ms: Any = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self._script = redis.register_script(BUCKET_SCRIPT)
        # Only tests pass a clock, to watch refills without sleeping.
        self._clock_ms = clock_ms

    async def take(self, key: str, *, burst: int, per_second: float, cost: float) -> Decision:
        args: list[Any] = [burst, repr(float(per_second)), repr(float(cost))]
        if self._clock_ms is not None:
            args.append(int(self._clock_ms()))
        allowed, raw_tokens = await self._script(keys=[self.prefix + key], args=args)
        tokens = float(raw_tokens)
        if int(allowed) == 1:
            return Decision(True, burst, int(tokens))
        return Decision(False, burst, int(tokens), _retry_after(cost - tokens, per_second))

    async def reset(self, key: str) -> None:
        await self.redis.delete(self.prefix + key)


class RateLimiter:
    """One bucket size and refill rate over a store. `burst` or `per_second` 0: no limiting.

    Without a `fallback`, a store that cannot answer lets the request through (fail open);
    with one, the fallback store decides instead (fail to a per-worker count, never to none).
    """

    def __init__(
        self,
        store: BucketStore,
        *,
        burst: int,
        per_second: float,
        fallback: BucketStore | None = None,
    ) -> None:
        self.store = store
        self.burst = burst
        self.per_second = per_second
        self.fallback = fallback

    @property
    def enabled(self) -> bool:
        return self.burst > 0 and self.per_second > 0

    async def hit(self, key: str, cost: float = 1) -> Decision | None:
        """The decision, or None when limiting is off or the store cannot answer (fail open)."""
        if not self.enabled:
            return None
        try:
            return await self.store.take(
                key, burst=self.burst, per_second=self.per_second, cost=cost
            )
        except Exception as exc:  # Redis down or timing out
            log.warning(
                "rate_limiter_unavailable",
                error=f"{type(exc).__name__}: {exc}",
                fallback=self.fallback is not None,
            )
        if self.fallback is None:
            return None
        return await self.fallback.take(
            key, burst=self.burst, per_second=self.per_second, cost=cost
        )

    async def reset(self, key: str) -> None:
        if not self.enabled:
            return
        if self.fallback is not None:
            await self.fallback.reset(key)
        try:
            await self.store.reset(key)
        except Exception as exc:
            log.warning("rate_limiter_unavailable", error=f"{type(exc).__name__}: {exc}")


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class Identify(Protocol):
    def __call__(self, scope: Scope, headers: Headers) -> str: ...


class RateLimitMiddleware:
    """Charge the caller's bucket before the request reaches a route (a 429 costs no query).

    `identify` names the bucket (see shopdb.auth.limits); `limiter` finds the application's
    limiter on each request, so a test can give the application other Services.
    """

    def __init__(
        self, app: ASGIApp, *, identify: Identify, limiter: Callable[[Scope], RateLimiter]
    ) -> None:
        self.app = app
        self.identify = identify
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: RateLimiter | None = None
        if scope["type"] == "http":
            limiter = self.limiter(scope)
        if limiter is None or not limiter.enabled:
            await self.app(scope, receive, send)
            return
        cost = 0 if scope["path"] in UNCHARGED_PATHS else 1
        decision = await limiter.hit(self.identify(scope, Headers(scope=scope)), cost)
        if decision is None:
            await self.app(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in decision.headers().items()]
        if not decision.allowed:
            await _refuse(send, decision, extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(send: Send, decision: Decision, headers: list[tuple[bytes, bytes]]) -> None:
    body = orjson.dumps(
        error_body("RATE_LIMITED", f"Too many requests; retry in {decision.retry_after} s")
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
