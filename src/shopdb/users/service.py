"""Staff users, their permission grants, and the permission catalogue in the database.

Holding `users:admin` means managing every user and grant, so it is as strong as role admin.
Nobody can deactivate, demote or delete themselves: that is how shops lock themselves out.

Every change to a user's standing is noted in the session (`note_access_changed`), so the
cached standings are forgotten after the commit, in every worker. A password change and a
deactivation also raise the user's token generation: the tokens issued before stop working.
Event bodies carry no personal data (no email, name or phone): ids, roles, field names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.access import note_access_changed, role_permissions
from shopdb.auth.dependencies import Subject
from shopdb.auth.passwords import MIN_PASSWORD_LENGTH, hash_new_password
from shopdb.auth.permissions import ADMIN_ROLE, PERMISSIONS, ROLES, split
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.crypto import normalise_email
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import utcnow
from shopdb.models import Permission, User, UserPermission
from shopdb.users.errors import (
    CannotChangeSelf,
    EmailTaken,
    GrantNotFound,
    UserHasOrders,
    UserNotFound,
)
from shopdb.users.repository import PermissionRepository, UserRepository

__all__ = ["MIN_PASSWORD_LENGTH", "create_user", "set_password"]


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


async def find_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this email (any letter case), or None: for logging in."""
    return await UserRepository(session).get_by_email(normalise_email(email))


async def granted_permission_names(session: AsyncSession, user_id: int) -> list[str]:
    """The names of the user's grants that have not expired."""
    return await UserRepository(session).granted_permission_names(user_id, utcnow())


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
    password_hash = hash_new_password(password)
    repository = UserRepository(session)
    email = normalise_email(email)
    if await repository.get_by_email(email) is not None:
        raise EmailTaken()
    user = User(
        email=email,
        role=role,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        active=active,
        password_hash=password_hash,
    )
    try:
        # A savepoint: the unique constraint still decides a race between two creations.
        async with session.begin_nested():
            return await repository.add(user)
    except IntegrityError as exc:
        raise EmailTaken() from exc


async def set_password(session: AsyncSession, email: str, password: str) -> User:
    """A new password for the user with this email (`shopdb user set-password`); the tokens
    issued before stop working."""
    password_hash = hash_new_password(password)
    user = await find_by_email(session, email)
    if user is None:
        raise UserNotFound(field="email")
    _replace_password(session, user, password_hash)
    await session.flush()
    record_event(
        session,
        topic="users/update",
        subject_type="User",
        subject_id=user.id,
        body={"changed": ["password"]},
        actor="cli",
    )
    return user


def _replace_password(session: AsyncSession, user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    _end_tokens(session, user)


def _end_tokens(session: AsyncSession, user: User) -> None:
    user.token_generation += 1
    note_access_changed(session, user.id)


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
        body={"role": role, "permissions": sorted(permissions)},
        actor=actor.principal,
    )
    return await get_user(session, user.id)


async def list_users(
    session: AsyncSession, *, role: str | None, active: bool | None, request: PageRequest
) -> RowsPage[User]:
    return await UserRepository(session).page(role=role, active=active, request=request)


async def get_user(session: AsyncSession, user_id: int) -> UserWithGrants:
    repository = UserRepository(session)
    user = await repository.get(user_id)
    if user is None:
        raise UserNotFound(user_id)
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
    if user.id == actor.user_id:
        if changes.get("active") is False:
            raise CannotChangeSelf("active")
        if "role" in changes and changes["role"] != user.role and user.role == ADMIN_ROLE:
            raise CannotChangeSelf("role")
    for field in ("role", "active"):
        if field in changes and changes[field] is None:
            raise ValidationFailed.on(field, "must not be null")
    password = changes.pop("password", None)
    # Checked before anything changes, so a refused password leaves the user as it was.
    password_hash = None if password is None else hash_new_password(str(password))
    deactivating = changes.get("active") is False and user.active
    for field in ("first_name", "last_name", "phone", "role", "active"):
        if field in changes:
            setattr(user, field, changes[field])
    if password_hash is not None:
        _replace_password(session, user, password_hash)
    elif deactivating:
        _end_tokens(session, user)
    note_access_changed(session, user.id)
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
        raise CannotChangeSelf("id")
    role = found.user.role
    try:
        async with session.begin_nested():
            await UserRepository(session).delete(user_id)
    except IntegrityError as exc:
        # Orders and transactions keep a reference to the staff user who handled them.
        raise UserHasOrders(user_id) from exc
    note_access_changed(session, user_id)
    record_event(
        session,
        topic="users/delete",
        subject_type="User",
        subject_id=user_id,
        body={"role": role},
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
    note_access_changed(session, user.id)
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
        raise GrantNotFound(user_id, permission)
    note_access_changed(session, user_id)
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
