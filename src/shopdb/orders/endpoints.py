"""/api/v1/orders: place an order, list orders, read one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.dependencies import ServicesDep, SessionDep, get_session
from shopdb.idempotency import idempotent, in_effect
from shopdb.keys import field_cipher
from shopdb.kit.parameters import PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.orders import service
from shopdb.orders.auth import OrdersRead, OrdersWrite
from shopdb.orders.keyed import request_token
from shopdb.orders.payments import registry_gateways
from shopdb.orders.placement import Placement, place_order, transactions_for
from shopdb.orders.pool import keyed_placement_slot
from shopdb.orders.schemas import (
    Email,
    FinancialStatus,
    FulfillmentStatus,
    OrderCreate,
    OrderDetail,
    OrderSort,
    OrderStatus,
    OrderSummary,
    SortDirection,
)
from shopdb.services import services_of

router = domain_router("/orders", tags=["orders"])


@asynccontextmanager
async def placement_slot(request: Request) -> AsyncIterator[None]:
    """The gate of a keyed placement (its claim then holds a connection while the placement
    takes others): authentication's connection is handed back first, so that the request
    queues for a slot holding none (orders.pool.keyed_placement_slot)."""
    database = services_of(request.app).database
    await _hand_back_connection(request, await get_session(request), database)
    async with keyed_placement_slot(database):
        yield


@router.post("", status_code=201, response_model=OrderDetail)
@idempotent(gate=placement_slot)
async def create_order(
    request: Request,
    session: SessionDep,
    subject: OrdersWrite,
    services: ServicesDep,
    data: OrderCreate,
) -> Response:
    """Place an order: priced from the catalog, stock committed, paid through the gateway
    (402 PAYMENT_DECLINED leaves nothing behind). Send an Idempotency-Key to retry safely:
    a retry gets the order placed under the key, even if storing its response failed."""
    settings = services.settings
    placement = Placement(
        transactions=transactions_for(services.database, session),
        settings=settings,
        cipher=field_cipher(settings),
        gateway_for=registry_gateways(settings),
        actor=subject.principal,
    )
    await _hand_back_connection(request, session, services.database)
    placed = await place_order(
        placement, data, idempotency_token=request_token(request, subject.principal)
    )
    return model_response(
        service.placed_detail(placed),
        status_code=201,
        headers={"Location": f"/api/v1/orders/{placed.order.id}"},
    )


async def _hand_back_connection(
    request: Request, session: AsyncSession, database: Database
) -> None:
    """On PostgreSQL the placement runs in transactions of its own: the request's session
    (authentication's reads, an API key's last-use touch) is committed now rather than when
    the route ends, so that it does not hold a pooled connection while the placement waits
    for others (enough such requests at once would starve the pool). Not with an
    Idempotency-Key once claimed: the claim must commit with the response (before the
    claim, placement_slot hands the connection back too). Not on SQLite, where the
    placement's steps are savepoints of this very session."""
    if database.primary.dialect.name == "sqlite" or in_effect(request):
        return
    if session.in_transaction():
        await session.commit()
        await database.committed(session)


@router.get("", response_model=Page[OrderSummary])
async def list_orders(
    session: SessionDep,
    _: OrdersRead,
    services: ServicesDep,
    page: PageQuery,
    status: OrderStatus = "any",
    financial_status: Annotated[FinancialStatus | None, Query(alias="financialStatus")] = None,
    fulfillment_status: Annotated[
        FulfillmentStatus | None, Query(alias="fulfillmentStatus")
    ] = None,
    customer_id: Annotated[int | None, Query(alias="customerId", ge=1)] = None,
    email: Annotated[Email | None, Query()] = None,
    created_at_min: Annotated[datetime | None, Query(alias="createdAtMin")] = None,
    created_at_max: Annotated[datetime | None, Query(alias="createdAtMax")] = None,
    sort_by: Annotated[OrderSort, Query(alias="sortBy")] = "createdAt",
    sort_direction: Annotated[SortDirection, Query(alias="sortDirection")] = "desc",
) -> Page[OrderSummary]:
    """Placed orders, newest first by default; page by `page` or by `cursor` (each page's
    nextCursor). `totalCount` is null unless `withTotal=true`."""
    query = service.OrderQuery(
        status=status,
        financial_status=financial_status,
        fulfillment_status=fulfillment_status,
        customer_id=customer_id,
        email=email,
        created_at_min=created_at_min,
        created_at_max=created_at_max,
        sort=sort_by,
        direction=sort_direction,
    )
    found = await service.list_orders(session, field_cipher(services.settings), query, page)
    return Page[OrderSummary](
        items=found.rows,
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.get("/{order_id}", response_model=OrderDetail)
async def get_order(
    session: SessionDep, _: OrdersRead, services: ServicesDep, order_id: int
) -> OrderDetail:
    """One order with its line items and transactions (fulfillments and refunds: issue 13)."""
    return await service.get_order(session, field_cipher(services.settings), order_id)
