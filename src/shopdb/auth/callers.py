"""Who a request is billed to by the rate limiter (RateLimitMiddleware's callbacks).

A request with a valid bearer token is billed to its user, one with an API key this worker has
already seen valid to that key, anything else to the client address. So made-up credentials
never drain a real client's bucket, and sending garbage cannot dodge the address's bucket.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Scope

from shopdb.auth.api_keys import hash_key
from shopdb.auth.limits import VERIFIED_TOKEN
from shopdb.errors import Unauthorized
from shopdb.ratelimit import RateLimiter, client_address
from shopdb.services import services_of


def request_limiter(scope: Scope) -> RateLimiter:
    """The application's request limiter, for RateLimitMiddleware."""
    return services_of(scope["app"]).rate_limiter


def identify_caller(scope: Scope, headers: Headers) -> str:
    services = services_of(scope["app"])
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        try:
            verified = services.tokens.verify(credentials)
        except Unauthorized:
            pass
        else:
            scope.setdefault("state", {})[VERIFIED_TOKEN] = (credentials, verified)
            return f"user:{verified.user_id}"
    presented = headers.get("x-api-key")
    if presented:
        api_key_id = services.access_cache.known_api_key(hash_key(presented))
        if api_key_id is not None:
            return f"api_key:{api_key_id}"
    return "ip:" + client_address(scope)
