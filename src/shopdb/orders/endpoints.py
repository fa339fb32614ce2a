"""/api/v1/orders: place an order, list orders, read one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Query, Request, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.keys import field_cipher
from shopdb.kit.parameters import PageQuery
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.orders import service
from shopdb.orders.auth import OrdersRead, OrdersWrite
from shopdb.orders.gates import placed_response, placement_for, placement_gate
from shopdb.orders.keyed import request_token
from shopdb.orders.placement import place_order
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

router = domain_router("/orders", tags=["orders"])


@router.post("", status_code=201, response_model=OrderDetail)
@idempotent(gate=placement_gate)
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
    placement = await placement_for(request, session, services, subject.principal)
    placed = await place_order(
        placement, data, idempotency_token=request_token(request, subject.principal)
    )
    return placed_response(placed)


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
