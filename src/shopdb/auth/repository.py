"""Queries authentication needs: API keys, and a user's standing (active, role, live grants)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import ApiKey, Permission, User, UserPermission


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_with_owner(self, prefix: str) -> tuple[ApiKey, User] | None:
        result = await self.session.execute(
            select(ApiKey, User)
            .join(User, User.id == ApiKey.user_id)
            .where(ApiKey.prefix == prefix)
        )
        row = result.one_or_none()
        return None if row is None else (row[0], row[1])

    async def touch(self, api_key_id: int, now: datetime) -> None:
        await self.session.execute(
            update(ApiKey).where(ApiKey.id == api_key_id).values(last_used_at=now)
        )

    async def get(self, api_key_id: int) -> ApiKey | None:
        return await self.session.get(ApiKey, api_key_id)

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def page(
        self, *, user_id: int | None, include_revoked: bool, request: PageRequest
    ) -> RowsPage[ApiKey]:
        conditions = []
        if user_id is not None:
            conditions.append(ApiKey.user_id == user_id)
        if not include_revoked:
            conditions.append(ApiKey.revoked_at.is_(None))
        return await read_requested_page(
            self.session,
            select(ApiKey).where(*conditions),
            request,
            sort_column=ApiKey.id,
            id_column=ApiKey.id,
        )


class AccessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def standing(
        self, user_id: int, now: datetime
    ) -> tuple[bool, str, int, list[tuple[str, datetime | None]]] | None:
        """(active, role, token generation, [(permission, expires_at)] live at `now`) in one
        query; None: no user."""
        live_grant = and_(
            UserPermission.user_id == User.id,
            or_(UserPermission.expires_at.is_(None), UserPermission.expires_at > now),
        )
        result = await self.session.execute(
            select(
                User.active,
                User.role,
                User.token_generation,
                Permission.name,
                UserPermission.expires_at,
            )
            .outerjoin(UserPermission, live_grant)
            .outerjoin(Permission, Permission.id == UserPermission.permission_id)
            .where(User.id == user_id)
        )
        rows = result.all()
        if not rows:
            return None
        grants = [(row.name, row.expires_at) for row in rows if row.name is not None]
        first = rows[0]
        return bool(first.active), str(first.role), int(first.token_generation), grants
