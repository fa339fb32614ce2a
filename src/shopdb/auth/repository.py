"""Queries authentication needs: API keys by prefix, and their use."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import ApiKey, User


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
