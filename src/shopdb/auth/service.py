"""Logging in, and API keys: issue (secret shown once), list, revoke."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth import api_keys
from shopdb.auth.access import role_permissions
from shopdb.auth.dependencies import Subject
from shopdb.auth.limits import LoginThrottle
from shopdb.auth.passwords import hash_password, needs_rehash, verify_password
from shopdb.auth.permissions import PERMISSIONS
from shopdb.auth.repository import ApiKeyRepository
from shopdb.auth.tokens import AccessToken, TokenService
from shopdb.errors import NotFound, Unauthorized, ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import utcnow
from shopdb.models import ApiKey
from shopdb.users import service as users

INVALID_LOGIN = "Invalid email or password"


async def effective_permissions(session: AsyncSession, user_id: int, role: str) -> frozenset[str]:
    granted = await users.granted_permission_names(session, user_id)
    return role_permissions(role, granted)


async def login(
    session: AsyncSession,
    tokens: TokenService,
    email: str,
    password: str,
    *,
    throttle: LoginThrottle | None = None,
    address: str = "unknown",
) -> AccessToken:
    """One answer for unknown email, wrong password and inactive user, after the same work."""
    if throttle is not None:
        await throttle.attempt(email, address)
    user = await users.find_by_email(session, email)
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.active:
        raise Unauthorized(INVALID_LOGIN)
    if throttle is not None:
        await throttle.succeeded(email, address)
    assert user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    permissions = await effective_permissions(session, user.id, user.role)
    return tokens.issue(user.id, permissions, generation=user.token_generation)


# --- API keys ---------------------------------------------------------------------------------


async def create_api_key(
    session: AsyncSession,
    creator: Subject,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> tuple[ApiKey, str]:
    """The new key and its secret, which is not stored and cannot be shown again."""
    unknown = sorted(set(scopes) - set(PERMISSIONS))
    if unknown:
        raise ValidationFailed.on("scopes", "unknown permissions: " + ", ".join(unknown))
    # A key must not be a way to hold more than its creator holds.
    beyond = sorted(set(scopes) - creator.permissions)
    if beyond:
        raise ValidationFailed.on(
            "scopes", "you can only delegate permissions you hold; not held: " + ", ".join(beyond)
        )
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed.on("expiresAt", "must be in the future")
    new = api_keys.generate_api_key()
    key = await ApiKeyRepository(session).add(
        ApiKey(
            user_id=creator.user_id,
            name=name,
            prefix=new.prefix,
            key_hash=new.key_hash,
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
    )
    record_event(
        session,
        topic="api_keys/create",
        subject_type="ApiKey",
        subject_id=key.id,
        body={"name": name, "prefix": key.prefix, "scopes": key.scopes, "userId": key.user_id},
        actor=creator.principal,
    )
    return key, new.secret


async def list_api_keys(
    session: AsyncSession, *, user_id: int | None, include_revoked: bool, request: PageRequest
) -> RowsPage[ApiKey]:
    return await ApiKeyRepository(session).page(
        user_id=user_id, include_revoked=include_revoked, request=request
    )


async def get_api_key(session: AsyncSession, api_key_id: int) -> ApiKey:
    key = await ApiKeyRepository(session).get(api_key_id)
    if key is None:
        raise NotFound.resource("API key", api_key_id)
    return key


async def revoke_api_key(session: AsyncSession, actor: Subject, api_key_id: int) -> ApiKey:
    """Idempotent: revoking a revoked key keeps its first revocation time."""
    key = await get_api_key(session, api_key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        record_event(
            session,
            topic="api_keys/revoke",
            subject_type="ApiKey",
            subject_id=key.id,
            body={"prefix": key.prefix, "userId": key.user_id},
            actor=actor.principal,
        )
    return key
