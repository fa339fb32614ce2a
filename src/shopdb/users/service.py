"""Staff users, their permission grants, and the permission catalogue in the database.

Holding `users:admin` means managing every user and grant, so it is as strong as role admin.
Nobody can deactivate, demote or delete themselves: that is how shops lock themselves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.access import role_permissions
from shopdb.auth.dependencies import Subject
from shopdb.auth.passwords import hash_password
from shopdb.auth.permissions import ADMIN_ROLE, PERMISSIONS, ROLES, split
from shopdb.errors import Conflict, NotFound, ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.types import utcnow
from shopdb.models import Permission, User, UserPermission
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


async def list_permissions(session: AsyncSession) -> list[Permission]:
    return await PermissionRepository(session).list_all()


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    role: str = "staff",
    first_name: str | None = None,
    last_name: str | None = None,
    phone: str | None = None,
    active: bool = True,
) -> User:
    if role not in ROLES:
        raise ValidationFailed.on("role", f"must be one of {', '.join(ROLES)}")
    check_password_strength(password)
    repository = UserRepository(session)
    email = email.strip().lower()
    if await repository.get_by_email(email) is not None:
        raise Conflict(f"a user with email {email} already exists")
    return await repository.add(
        User(
            email=email,
            role=role,
            first_name=first_name,
            last_name=last_name,
            phone=phone,
            active=active,
            password_hash=hash_password(password),
        )
    )


@dataclass(frozen=True)
class UserWithGrants:
    user: User
    grants: list[UserPermission]

    @property
    def effective_permissions(self) -> list[str]:
        now = utcnow()
        live = [
            g.permission.name for g in self.grants if g.expires_at is None or g.expires_at > now
        ]
        return sorted(role_permissions(self.user.role, live))


async def register_user(
    session: AsyncSession,
    actor: Subject,
    *,
    email: str,
    password: str,
    role: str,
    first_name: str | None,
    last_name: str | None,
    phone: str | None,
    active: bool,
    permissions: list[str],
) -> UserWithGrants:
    """Create a user over the API, with initial grants, and record who did it."""
    permission_rows = await _permissions_named(session, permissions)
    user = await create_user(
        session,
        email=email,
        password=password,
        role=role,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        active=active,
    )
    repository = UserRepository(session)
    for permission in permission_rows:
        await repository.add_grant(UserPermission(user_id=user.id, permission_id=permission.id))
    record_event(
        session,
        topic="users/create",
        subject_type="User",
        subject_id=user.id,
        body={"email": user.email, "role": role, "permissions": sorted(permissions)},
        actor=actor.principal,
    )
    return await get_user(session, user.id)


async def list_users(
    session: AsyncSession,
    *,
    role: str | None,
    active: bool | None,
    page: int,
    page_size: int,
) -> tuple[list[User], int]:
    return await UserRepository(session).page(
        role=role, active=active, offset=(page - 1) * page_size, limit=page_size
    )


async def get_user(session: AsyncSession, user_id: int) -> UserWithGrants:
    repository = UserRepository(session)
    user = await repository.get(user_id)
    if user is None:
        raise NotFound.resource("User", user_id)
    return UserWithGrants(user, await repository.grants(user_id))


async def update_user(
    session: AsyncSession,
    actor: Subject,
    user_id: int,
    changes: dict[str, object],
) -> UserWithGrants:
    """Apply the fields present in `changes` (snake_case names, as sent)."""
    found = await get_user(session, user_id)
    user = found.user
    if user.id == actor.user_id and (
        changes.get("active") is False
        or ("role" in changes and changes["role"] != user.role and user.role == ADMIN_ROLE)
    ):
        raise Conflict("You cannot deactivate or demote yourself; ask another administrator")
    password = changes.pop("password", None)
    if password is not None:
        assert isinstance(password, str)
        check_password_strength(password)
        user.password_hash = hash_password(password)
    for field in ("first_name", "last_name", "phone", "role", "active"):
        if field in changes:
            if field in ("role", "active") and changes[field] is None:
                raise ValidationFailed.on(field, "must not be null")
            setattr(user, field, changes[field])
    await session.flush()
    record_event(
        session,
        topic="users/update",
        subject_type="User",
        subject_id=user.id,
        body={"changed": sorted([*changes, *(["password"] if password is not None else [])])},
        actor=actor.principal,
    )
    return found


async def delete_user(session: AsyncSession, actor: Subject, user_id: int) -> None:
    found = await get_user(session, user_id)
    if found.user.id == actor.user_id:
        raise Conflict("You cannot delete yourself")
    try:
        async with session.begin_nested():
            await UserRepository(session).delete(user_id)
    except IntegrityError as exc:
        # Orders and transactions keep a reference to the staff user who handled them.
        raise Conflict("The user is referenced by orders or transactions; deactivate it") from exc
    record_event(
        session,
        topic="users/delete",
        subject_type="User",
        subject_id=user_id,
        body={"email": found.user.email},
        actor=actor.principal,
    )


async def grant_permission(
    session: AsyncSession,
    actor: Subject,
    user_id: int,
    *,
    permission: str,
    expires_at: datetime | None,
) -> UserPermission:
    """Grant, or re-grant with a new expiry (the same grant row is kept)."""
    user = (await get_user(session, user_id)).user
    (permission_row,) = await _permissions_named(session, [permission], field="permission")
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed.on("expiresAt", "must be in the future")
    repository = UserRepository(session)
    grant = await repository.get_grant(user.id, permission_row.id)
    if grant is None:
        grant = await repository.add_grant(
            UserPermission(user_id=user.id, permission_id=permission_row.id, expires_at=expires_at)
        )
    else:
        grant.granted_at = utcnow()
        grant.expires_at = expires_at
        await session.flush()
    grant = await repository.get_grant(user.id, permission_row.id) or grant
    record_event(
        session,
        topic="users/permission_grant",
        subject_type="User",
        subject_id=user.id,
        body={
            "permission": permission,
            "expiresAt": expires_at.isoformat() if expires_at else None,
        },
        actor=actor.principal,
    )
    return grant


async def revoke_permission(
    session: AsyncSession, actor: Subject, user_id: int, permission: str
) -> None:
    await get_user(session, user_id)
    permission_row = await PermissionRepository(session).get_by_name(permission)
    removed = permission_row is not None and await UserRepository(session).remove_grant(
        user_id, permission_row.id
    )
    if not removed:
        raise NotFound(f"User {user_id} holds no grant of {permission}")
    record_event(
        session,
        topic="users/permission_revoke",
        subject_type="User",
        subject_id=user_id,
        body={"permission": permission},
        actor=actor.principal,
    )


async def _permissions_named(
    session: AsyncSession, names: list[str], *, field: str = "permissions"
) -> list[Permission]:
    rows = await PermissionRepository(session).get_by_names(set(names))
    unknown = sorted(set(names) - {row.name for row in rows})
    if unknown:
        raise ValidationFailed.on(field, "unknown permissions: " + ", ".join(unknown))
    return sorted(rows, key=lambda row: row.name)
