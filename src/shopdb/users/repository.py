"""Queries on users, permissions and grants."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Permission, User, UserPermission


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def get_by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email.lower()))
        return result.scalar_one_or_none()

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

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


class PermissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_all(self) -> list[Permission]:
        result = await self.session.execute(select(Permission).order_by(Permission.name))
        return list(result.scalars())

    async def get_by_names(self, names: Iterable[str]) -> list[Permission]:
        result = await self.session.execute(select(Permission).where(Permission.name.in_(names)))
        return list(result.scalars())

    async def add_all(self, permissions: Iterable[Permission]) -> None:
        self.session.add_all(list(permissions))
        await self.session.flush()
