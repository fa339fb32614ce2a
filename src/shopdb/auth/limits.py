"""Who a request is billed to by the rate limiter, and the brake on password guessing.

A request with a valid bearer token is billed to its user, one with an API key this worker has
already seen valid to that key, anything else to the client address. So made-up credentials
never drain a real client's bucket, and sending garbage cannot dodge the address's bucket.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import Scope

from shopdb.auth.access import AccessCache
from shopdb.auth.api_keys import hash_key
from shopdb.auth.tokens import TokenService, VerifiedToken
from shopdb.config import Settings
from shopdb.errors import RateLimited, Unauthorized
from shopdb.kit.crypto import normalise_email
from shopdb.ratelimit import (
    BucketStore,
    Decision,
    MemoryBucketStore,
    RateLimiter,
    RedisBucketStore,
    client_address,
)

# request.state key: the bearer token the rate limiter already verified, so it is not done twice.
VERIFIED_TOKEN = "verified_token"  # noqa: S105 - a state key, not a secret


def access_cache(app: Any) -> AccessCache:
    cache: AccessCache | None = getattr(app.state, "access_cache", None)
    if cache is None:
        settings: Settings = app.state.settings
        cache = app.state.access_cache = AccessCache(settings.auth_cache_seconds)
    return cache


def identify_caller(scope: Scope, headers: Headers) -> str:
    app = scope["app"]
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        tokens: TokenService = app.state.tokens
        try:
            verified = tokens.verify(credentials)
        except Unauthorized:
            pass
        else:
            scope.setdefault("state", {})[VERIFIED_TOKEN] = (credentials, verified)
            return f"user:{verified.user_id}"
    presented = headers.get("x-api-key")
    if presented:
        api_key_id = access_cache(app).known_api_key(hash_key(presented))
        if api_key_id is not None:
            return f"api_key:{api_key_id}"
    return "ip:" + client_address(scope)


def already_verified(state: dict[str, Any], credentials: str) -> VerifiedToken | None:
    cached = state.get(VERIFIED_TOKEN)
    if cached is not None and cached[0] == credentials:
        verified: VerifiedToken = cached[1]
        return verified
    return None


class LoginThrottle:
    """Failed logins drain a bucket per email and one per client address; empty: 429.

    A token is taken before the password is checked (so parallel guesses cannot slip past
    the count) and given back on success; a success also clears the email's bucket.
    """

    def __init__(self, store: BucketStore, settings: Settings) -> None:
        per_second = 1.0 / settings.login_failure_refill_seconds
        self.by_email = RateLimiter(
            store, burst=settings.login_failures_per_email, per_second=per_second
        )
        self.by_address = RateLimiter(
            store, burst=settings.login_failures_per_address, per_second=per_second
        )

    @staticmethod
    def _email_key(email: str) -> str:
        # Hashed: Redis keys are not a place for customers' or staff's addresses.
        digest = hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()[:32]
        return "login:email:" + digest

    async def attempt(self, email: str, address: str) -> None:
        email_decision = await self.by_email.hit(self._email_key(email))
        _refuse_if_empty(email_decision)
        address_decision = await self.by_address.hit("login:address:" + address)
        if address_decision is not None and not address_decision.allowed:
            await self.by_email.hit(self._email_key(email), cost=-1)
            _refuse_if_empty(address_decision)

    async def succeeded(self, email: str, address: str) -> None:
        await self.by_email.reset(self._email_key(email))
        await self.by_address.hit("login:address:" + address, cost=-1)


def _refuse_if_empty(decision: Decision | None) -> None:
    if decision is not None and not decision.allowed:
        raise RateLimited(
            f"Too many failed logins; retry in {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after)},
        )


def install_limits(app: FastAPI, settings: Settings, redis: Any | None) -> None:
    """Put the request limiter and the login throttle on app.state, over one shared store."""
    store: BucketStore = (
        RedisBucketStore(redis, prefix=settings.rate_limit_key_prefix)
        if redis is not None
        else MemoryBucketStore()
    )
    app.state.rate_limiter = RateLimiter(
        store, burst=settings.rate_limit_burst, per_second=settings.rate_limit_per_second
    )
    app.state.login_throttle = LoginThrottle(store, settings)
