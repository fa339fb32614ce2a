"""Every statement on `idempotency_keys`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, literal, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import IdempotencyKey


@dataclass(frozen=True)
class StoredKey:
    id: int
    request_hash: str
    response_status: int | None
    response_body: Any
    expires_at: datetime


class IdempotencyKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def insert(
        self,
        *,
        principal: str,
        key: str,
        method: str,
        path: str,
        request_hash: str,
        now: datetime,
        expires_at: datetime,
    ) -> int | None:
        """The new row's id, or None if (principal, key) exists.

        On PostgreSQL, while another transaction holds an uncommitted row for the same key,
        this waits for it to end (the unique index), then inserts (it rolled back) or finds
        the committed row (it committed).
        """
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        statement = (
            insert(IdempotencyKey)
            .values(
                principal=principal,
                key=key,
                method=method,
                path=path,
                request_hash=request_hash,
                created_at=now,
                expires_at=expires_at,
            )
            .on_conflict_do_nothing(index_elements=["principal", "key"])
            .returning(IdempotencyKey.id)
        )
        found: int | None = (await self.session.execute(statement)).scalar_one_or_none()
        return found

    async def insert_unheld(
        self,
        *,
        lock: int,
        principal: str,
        key: str,
        method: str,
        path: str,
        request_hash: str,
        now: datetime,
        expires_at: datetime,
    ) -> int | None:
        """PostgreSQL: the new row's id, in one statement that never waits; None when the key
        exists or another transaction holds `lock` (the key's advisory lock).

        Every claim takes the key's transaction-scoped advisory lock before it writes the
        row, so a transaction that obtains it at once knows no other one holds an
        uncommitted row for the key, and its INSERT cannot wait on the unique index.
        """
        values = select(
            literal(principal),
            literal(key),
            literal(method),
            literal(path),
            literal(request_hash),
            literal(now, type_=IdempotencyKey.created_at.type),
            literal(expires_at, type_=IdempotencyKey.expires_at.type),
        ).where(func.pg_try_advisory_xact_lock(lock))
        statement = (
            postgresql.insert(IdempotencyKey)
            .from_select(
                ["principal", "key", "method", "path", "request_hash", "created_at", "expires_at"],
                values,
            )
            .on_conflict_do_nothing(index_elements=["principal", "key"])
            .returning(IdempotencyKey.id)
        )
        found: int | None = (await self.session.execute(statement)).scalar_one_or_none()
        return found

    async def wait_for_holder(self, lock: int) -> None:
        """PostgreSQL: take the key's advisory lock, waiting (up to `lock_timeout`) for the
        transaction that holds it to end."""
        await self.session.execute(select(func.pg_advisory_xact_lock(lock)))

    async def find(self, principal: str, key: str) -> StoredKey | None:
        row = (
            await self.session.execute(
                select(
                    IdempotencyKey.id,
                    IdempotencyKey.request_hash,
                    IdempotencyKey.response_status,
                    IdempotencyKey.response_body,
                    IdempotencyKey.expires_at,
                ).where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
            )
        ).one_or_none()
        return None if row is None else StoredKey(*row)

    async def take_over(
        self,
        key_id: int,
        *,
        method: str,
        path: str,
        request_hash: str,
        now: datetime,
        expires_at: datetime,
    ) -> bool:
        """Claim an expired row, or one committed without a response, for a new request.

        Guarded: of two requests taking over the same row, the second waits for the first
        (its row lock) and then matches nothing, the row being neither expired nor empty.
        """
        statement = (
            update(IdempotencyKey)
            .where(
                IdempotencyKey.id == key_id,
                or_(IdempotencyKey.expires_at <= now, IdempotencyKey.response_status.is_(None)),
            )
            .values(
                method=method,
                path=path,
                request_hash=request_hash,
                response_status=None,
                response_body=None,
                created_at=now,
                expires_at=expires_at,
            )
            .returning(IdempotencyKey.id)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).scalar_one_or_none() is not None

    async def complete(self, key_id: int, status: int, body: dict[str, Any]) -> None:
        await self.session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == key_id)
            .values(response_status=status, response_body=body)
            .execution_options(synchronize_session=False)
        )

    async def purge_expired(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` expired rows, oldest first; returns how many went."""
        oldest = (
            select(IdempotencyKey.id)
            .where(IdempotencyKey.expires_at <= now)
            .order_by(IdempotencyKey.expires_at)
            .limit(limit)
        )
        result = await self.session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.id.in_(oldest.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    # --- PostgreSQL: how long a claim waits for a concurrent request with the same key -----

    async def limit_lock_wait(self, wait: timedelta) -> None:
        milliseconds = max(1, int(wait.total_seconds() * 1000))
        await self.session.execute(
            text("SELECT set_config('lock_timeout', :value, true)"),
            {"value": f"{milliseconds}ms"},
        )

    async def restore_lock_wait(self) -> None:
        # DEFAULT is the value the connection started with: shopdb never SETs lock_timeout
        # for a whole session, so that is what the rest of the transaction had before.
        await self.session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
