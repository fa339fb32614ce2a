"""Logging in: password check in constant-ish time, the user's effective permissions, a token."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import role_permissions
from shopdb.auth.passwords import hash_password, needs_rehash, verify_password
from shopdb.auth.tokens import AccessToken, TokenService
from shopdb.errors import Unauthorized
from shopdb.kit.types import utcnow
from shopdb.users.repository import UserRepository

INVALID_LOGIN = "Invalid email or password"


async def effective_permissions(session: AsyncSession, user_id: int, role: str) -> frozenset[str]:
    granted = await UserRepository(session).granted_permission_names(user_id, utcnow())
    return role_permissions(role, granted)


async def login(
    session: AsyncSession, tokens: TokenService, email: str, password: str
) -> AccessToken:
    """One answer for unknown email, wrong password and inactive user, after the same work."""
    user = await UserRepository(session).get_by_email(email.strip().lower())
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.active:
        raise Unauthorized(INVALID_LOGIN)
    assert user.password_hash is not None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    permissions = await effective_permissions(session, user.id, user.role)
    return tokens.issue(user.id, permissions)
