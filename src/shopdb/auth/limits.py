"""The rate limiter's buckets and the brake on password guessing (who a request is billed to
is decided by shopdb.auth.callers)."""

from __future__ import annotations

import hashlib
from typing import Any

from shopdb.auth.tokens import VerifiedToken
from shopdb.config import Settings
from shopdb.errors import RateLimited
from shopdb.kit.crypto import normalise_email
from shopdb.ratelimit import (
    BucketStore,
    Decision,
    MemoryBucketStore,
    RateLimiter,
    RedisBucketStore,
)

# request.state key: the bearer token the rate limiter already verified, so it is not done twice.
VERIFIED_TOKEN = "verified_token"  # noqa: S105 - a state key, not a secret


def already_verified(state: dict[str, Any], credentials: str) -> VerifiedToken | None:
    cached = state.get(VERIFIED_TOKEN)
    if cached is not None and cached[0] == credentials:
        verified: VerifiedToken = cached[1]
        return verified
    return None


class LoginThrottle:
    """Failed logins drain three buckets; an empty one means 429, even to the right password.

    - per email from one client address (`login_failures_per_email`, 5): the guessing brake;
    - per client address (`login_failures_per_address`, 20): one address trying many emails;
    - per email from all addresses (`login_failures_per_email_total`, 100): guessing spread
      over many addresses. It is far above the first, so a stranger's few guesses cannot lock
      the merchant out: locking an account takes that many failures from 5+ addresses.

    A token is taken before the password is checked (so parallel guesses cannot slip past
    the count) and given back on success; a success also clears its (email, address) bucket.
    While the shared store (Redis) fails, the buckets are counted in this worker instead:
    password guessing is never unlimited.
    """

    def __init__(self, store: BucketStore, settings: Settings) -> None:
        per_second = 1.0 / settings.login_failure_refill_seconds
        fallback = MemoryBucketStore()

        def limiter(burst: int) -> RateLimiter:
            return RateLimiter(store, burst=burst, per_second=per_second, fallback=fallback)

        self.by_email = limiter(settings.login_failures_per_email)
        self.by_address = limiter(settings.login_failures_per_address)
        self.by_email_total = limiter(settings.login_failures_per_email_total)

    @staticmethod
    def _email_digest(email: str) -> str:
        # Hashed: Redis keys are not a place for customers' or staff's addresses.
        return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()[:32]

    def _buckets(self, email: str, address: str) -> list[tuple[RateLimiter, str]]:
        digest = self._email_digest(email)
        return [
            (self.by_email, f"login:email:{digest}:address:{address}"),
            (self.by_address, "login:address:" + address),
            (self.by_email_total, "login:email:" + digest),
        ]

    async def attempt(self, email: str, address: str) -> None:
        taken: list[tuple[RateLimiter, str]] = []
        for limiter, key in self._buckets(email, address):
            decision = await limiter.hit(key)
            if decision is not None and not decision.allowed:
                # Refused without a password check: the attempt costs the other buckets nothing.
                for earlier, earlier_key in taken:
                    await earlier.hit(earlier_key, cost=-1)
                _refuse_if_empty(decision)
            taken.append((limiter, key))

    async def succeeded(self, email: str, address: str) -> None:
        (pair, pair_key), *others = self._buckets(email, address)
        await pair.reset(pair_key)
        # Only given back, not reset: the merchant's success must not wipe a stranger's
        # failures from elsewhere (the address's or the email's total).
        for limiter, key in others:
            await limiter.hit(key, cost=-1)


def _refuse_if_empty(decision: Decision) -> None:
    if not decision.allowed:
        raise RateLimited(
            f"Too many failed logins; retry in {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after)},
        )


def build_limits(settings: Settings, redis: Any | None) -> tuple[RateLimiter, LoginThrottle]:
    """The request limiter and the login throttle, over one shared store (Redis if any)."""
    store: BucketStore = (
        RedisBucketStore(redis, prefix=settings.rate_limit_key_prefix)
        if redis is not None
        else MemoryBucketStore()
    )
    limiter = RateLimiter(
        store, burst=settings.rate_limit_burst, per_second=settings.rate_limit_per_second
    )
    return limiter, LoginThrottle(store, settings)
