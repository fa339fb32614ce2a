"""Staff users: creation with a hashed password, and the permission catalogue in the database."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.passwords import hash_password
from shopdb.auth.permissions import PERMISSIONS, ROLES, split
from shopdb.errors import Conflict, ValidationFailed
from shopdb.models import Permission, User
from shopdb.users.repository import PermissionRepository, UserRepository

MIN_PASSWORD_LENGTH = 12


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed.on(
            "password", f"must be at least {MIN_PASSWORD_LENGTH} characters long"
        )


async def ensure_permissions(session: AsyncSession) -> int:
    """Insert any permission of the catalogue that the database lacks; returns how many."""
    repository = PermissionRepository(session)
    existing = {p.name for p in await repository.list_all()}
    missing = [name for name in PERMISSIONS if name not in existing]
    await repository.add_all(
        Permission(
            name=name,
            description=PERMISSIONS[name],
            resource=split(name)[0],
            action=split(name)[1],
        )
        for name in missing
    )
    return len(missing)


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    role: str = "staff",
    first_name: str | None = None,
    last_name: str | None = None,
) -> User:
    if role not in ROLES:
        raise ValidationFailed.on("role", f"must be one of {', '.join(ROLES)}")
    check_password_strength(password)
    repository = UserRepository(session)
    if await repository.get_by_email(email) is not None:
        raise Conflict(f"a user with email {email.lower()} already exists")
    return await repository.add(
        User(
            email=email.strip().lower(),
            role=role,
            first_name=first_name,
            last_name=last_name,
            password_hash=hash_password(password),
        )
    )
