"""What POST /api/v1/orders and POST /api/v1/checkouts/{token}/complete do with the request's
connection before placing: both place through orders.placement, whose steps (on PostgreSQL)
run in transactions of their own, so the request must not hold a pooled connection meanwhile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.dependencies import get_session
from shopdb.idempotency import in_effect
from shopdb.orders.pool import keyed_placement_slot
from shopdb.services import services_of


async def hand_back_connection(request: Request, session: AsyncSession, database: Database) -> None:
    """Commit the request's session now (authentication's reads, an API key's last-use touch)
    rather than when the route ends, so that it does not hold a pooled connection while the
    placement waits for others (enough such requests at once would starve the pool).

    Not with an Idempotency-Key once claimed: the claim must commit with the response (before
    the claim, `placement_gate` hands the connection back too). Not on SQLite, where the
    placement's steps are savepoints of this very session.
    """
    if database.primary.dialect.name == "sqlite" or in_effect(request):
        return
    if session.in_transaction():
        await session.commit()
        await database.committed(session)


@asynccontextmanager
async def placement_gate(request: Request) -> AsyncIterator[None]:
    """The `@idempotent` gate of a keyed placement (its claim then holds a connection while
    the placement takes others): authentication's connection is handed back first, so that
    the request queues for a slot holding none (orders.pool.keyed_placement_slot)."""
    database = services_of(request.app).database
    await hand_back_connection(request, await get_session(request), database)
    async with keyed_placement_slot(database):
        yield
