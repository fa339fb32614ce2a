"""What POST /api/v1/orders and POST /api/v1/checkouts/{token}/complete share around a
placement: both place through orders.placement, whose steps (on PostgreSQL) run in
transactions of their own, so the request must not hold a pooled connection meanwhile; and
both answer 201 with the placed order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.dependencies import get_session
from shopdb.idempotency import in_effect
from shopdb.keys import field_cipher
from shopdb.kit.responses import model_response
from shopdb.orders.payments import registry_gateways
from shopdb.orders.placement import PlacedOrder, Placement, transactions_for
from shopdb.orders.pool import keyed_placement_slot
from shopdb.orders.service import placed_detail
from shopdb.services import Services, services_of


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


async def placement_for(
    request: Request, session: AsyncSession, services: Services, actor: str
) -> Placement:
    """The placement a request runs, its session's connection handed back first."""
    settings = services.settings
    placement = Placement(
        transactions=transactions_for(services.database, session),
        settings=settings,
        cipher=field_cipher(settings),
        gateway_for=registry_gateways(settings),
        actor=actor,
        session=session,
    )
    await hand_back_connection(request, session, services.database)
    return placement


def placed_response(placed: PlacedOrder) -> Response:
    return model_response(
        placed_detail(placed),
        status_code=201,
        headers={"Location": f"/api/v1/orders/{placed.order.id}"},
    )
