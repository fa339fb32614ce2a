"""Every statement on `idempotency_keys`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Table,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit import prepared
from shopdb.models import IdempotencyKey


@dataclass(frozen=True)
class StoredKey:
    id: int
    request_hash: str
    response_status: int | None
    response_body: Any
    expires_at: datetime


# Built once: every keyed request runs them.
_KEYS = cast(Table, IdempotencyKey.__table__)
_CLAIM_UNHELD = (
    postgresql.insert(_KEYS)
    .from_select(
        ["principal", "key", "method", "path", "request_hash", "created_at", "expires_at"],
        select(
            bindparam("principal", type_=_KEYS.c.principal.type),
            bindparam("key", type_=_KEYS.c.key.type),
            bindparam("method", type_=_KEYS.c.method.type),
            bindparam("path", type_=_KEYS.c.path.type),
            bindparam("request_hash", type_=_KEYS.c.request_hash.type),
            bindparam("now", type_=_KEYS.c.created_at.type),
            bindparam("expires_at", type_=_KEYS.c.expires_at.type),
        ).where(func.pg_try_advisory_xact_lock(bindparam("lock", type_=BigInteger))),
    )
    .on_conflict_do_nothing(index_elements=["principal", "key"])
    .returning(_KEYS.c.id)
)
_COMPLETE = (
    update(_KEYS)
    .where(_KEYS.c.id == bindparam("key_id", type_=_KEYS.c.id.type))
    .values(
        response_status=bindparam("status", type_=_KEYS.c.response_status.type),
        response_body=bindparam("body", type_=_KEYS.c.response_body.type),
    )
)


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
        found: int | None = (
            await self.session.execute(
                _CLAIM_UNHELD,
                {
                    "lock": lock,
                    "principal": principal,
                    "key": key,
                    "method": method,
                    "path": path,
                    "request_hash": request_hash,
                    "now": now,
                    "expires_at": expires_at,
                },
            )
        ).scalar_one_or_none()
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
        # In every keyed request, after its work: asyncpg's prepared statement (kit.prepared).
        await prepared.fetch_in_transaction(
            self.session, _COMPLETE, {"key_id": key_id, "status": status, "body": body}
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
