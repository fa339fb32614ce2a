"""Queries on users, permissions and grants."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import Permission, User, UserPermission


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email.strip().lower()))
        return result.scalar_one_or_none()

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def page(
        self, *, role: str | None, active: bool | None, request: PageRequest
    ) -> RowsPage[User]:
        conditions = []
        if role is not None:
            conditions.append(User.role == role)
        if active is not None:
            conditions.append(User.active.is_(active))
        return await read_requested_page(
            self.session,
            select(User).where(*conditions),
            request,
            sort_column=User.id,
            id_column=User.id,
        )

    async def delete(self, user_id: int) -> None:
        # Grants and API keys go with the user (ON DELETE CASCADE in the database).
        await self.session.execute(delete(User).where(User.id == user_id))

    async def granted_permission_names(self, user_id: int, now: datetime) -> list[str]:
        """Permissions granted to the user and not expired at `now`."""
        result = await self.session.execute(
            select(Permission.name)
            .join(UserPermission, UserPermission.permission_id == Permission.id)
            .where(
                UserPermission.user_id == user_id,
                or_(UserPermission.expires_at.is_(None), UserPermission.expires_at > now),
            )
            .order_by(Permission.name)
        )
        return list(result.scalars())

    async def grants(self, user_id: int) -> list[UserPermission]:
        """Every grant of the user, expired ones included, with its permission loaded."""
        result = await self.session.execute(
            select(UserPermission)
            .join(Permission, Permission.id == UserPermission.permission_id)
            .where(UserPermission.user_id == user_id)
            .options(selectinload(UserPermission.permission))
            .order_by(Permission.name)
        )
        return list(result.scalars())

    async def get_grant(self, user_id: int, permission_id: int) -> UserPermission | None:
        result = await self.session.execute(
            select(UserPermission)
            .where(UserPermission.user_id == user_id, UserPermission.permission_id == permission_id)
            .options(selectinload(UserPermission.permission))
        )
        return result.scalar_one_or_none()

    async def add_grant(self, grant: UserPermission) -> UserPermission:
        self.session.add(grant)
        await self.session.flush()
        return grant

    async def remove_grant(self, user_id: int, permission_id: int) -> bool:
        result = await self.session.execute(
            delete(UserPermission).where(
                UserPermission.user_id == user_id, UserPermission.permission_id == permission_id
            )
        )
        return bool(getattr(result, "rowcount", 0))


class PermissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_all(self) -> list[Permission]:
        result = await self.session.execute(select(Permission).order_by(Permission.name))
        return list(result.scalars())

    async def get_by_name(self, name: str) -> Permission | None:
        result = await self.session.execute(select(Permission).where(Permission.name == name))
        return result.scalar_one_or_none()

    async def get_by_names(self, names: Iterable[str]) -> list[Permission]:
        result = await self.session.execute(select(Permission).where(Permission.name.in_(names)))
        return list(result.scalars())

    async def add_all(self, permissions: Iterable[Permission]) -> None:
        self.session.add_all(list(permissions))
        await self.session.flush()
