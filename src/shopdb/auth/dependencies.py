"""Who is calling, and may they? The one authentication dependency every router uses.

    ProductsRead = Annotated[Subject, Depends(Authenticator({"products:read"}))]

A bearer JWT is verified locally; an `X-API-Key` is looked up by its prefix and checked
against its stored hash. Either way the caller's permissions are those of the credential
intersected with the owner's current ones (shopdb.auth.access), so a deactivated user or a
revoked grant stops working within seconds, not when the token expires. Missing or bad
credentials: 401. Missing permission: 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth import api_keys
from shopdb.auth.access import current_access, role_permissions
from shopdb.auth.limits import already_verified
from shopdb.auth.permissions import PERMISSIONS
from shopdb.auth.repository import ApiKeyRepository
from shopdb.dependencies import get_session
from shopdb.errors import Forbidden, Unauthorized
from shopdb.kit.types import utcnow
from shopdb.services import services_of

__all__ = ["Authenticated", "Authenticator", "Subject", "authenticate", "role_permissions"]

# Writing last_used_at on every request would turn reads into writes; a minute is precise enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_bearer = HTTPBearer(auto_error=False, description="An access token from POST /api/v1/auth/token")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key secret")


@dataclass(frozen=True)
class Subject:
    kind: Literal["user", "api_key"]
    user_id: int
    permissions: frozenset[str]
    api_key_id: int | None = None

    @property
    def principal(self) -> str:
        """A stable name for rate limits, idempotency keys and the audit log."""
        if self.api_key_id is not None:
            return f"api_key:{self.api_key_id}"
        return f"user:{self.user_id}"

    def can(self, permission: str) -> bool:
        return permission in self.permissions


async def authenticate(
    request: Request,
    session: AsyncSession,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
) -> Subject:
    if bearer is not None:
        services = services_of(request.app)
        verified = already_verified(request.scope.get("state", {}), bearer.credentials)
        if verified is None:
            verified = services.tokens.verify(bearer.credentials)
        access = await current_access(
            services.access_cache,
            session,
            verified.user_id,
            token_generation=verified.generation,
        )
        if access is None or not access.active:
            raise Unauthorized("The token's user no longer exists or is deactivated")
        if verified.generation != access.token_generation:
            # Issued before the user's password changed or the user was deactivated.
            raise Unauthorized("Token revoked; log in again")
        return Subject("user", verified.user_id, verified.permissions & access.permissions)
    if api_key:
        return await _authenticate_api_key(request, session, api_key)
    raise Unauthorized("Send a bearer token (Authorization header) or an X-API-Key")


async def _authenticate_api_key(request: Request, session: AsyncSession, presented: str) -> Subject:
    prefix = api_keys.prefix_of(presented)
    found = None if prefix is None else await ApiKeyRepository(session).get_with_owner(prefix)
    if found is None or not api_keys.matches(presented, found[0].key_hash):
        raise Unauthorized("Invalid API key")
    key, owner = found
    now = utcnow()
    if key.revoked_at is not None:
        raise Unauthorized("API key revoked")
    if key.expires_at is not None and key.expires_at <= now:
        raise Unauthorized("API key expired")
    cache = services_of(request.app).access_cache
    access = await current_access(cache, session, owner.id)
    if access is None or not access.active:
        raise Unauthorized("API key owner is inactive")
    cache.remember_api_key(key.key_hash, key.id)
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        await ApiKeyRepository(session).touch(key.id, now)
    # A key never holds more than its owner holds today, whatever scopes it was given.
    permissions = frozenset(str(scope) for scope in key.scopes) & access.permissions
    return Subject("api_key", owner.id, permissions, api_key_id=key.id)


class Authenticator:
    """A dependency that authenticates the caller and requires every listed permission."""

    def __init__(self, required: Iterable[str] = ()) -> None:
        self.required = frozenset(required)
        unknown = self.required - set(PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown permissions: {sorted(unknown)}")

    async def __call__(
        self,
        request: Request,
        session: Annotated[AsyncSession, Depends(get_session)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_api_key)],
    ) -> Subject:
        subject = await authenticate(request, session, bearer, api_key)
        request.state.subject = subject
        missing = self.required - subject.permissions
        if missing:
            raise Forbidden(
                "Missing permission: " + ", ".join(sorted(missing)),
                [{"field": "permissions", "message": f"requires {p}"} for p in sorted(missing)],
            )
        return subject


Authenticated = Annotated[Subject, Depends(Authenticator())]
