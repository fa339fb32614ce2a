"""/api/v1/orders: place an order, list orders, read one."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Request, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import answer_now, idempotent
from shopdb.keys import field_cipher
from shopdb.kit.pagination import PageRequest
from shopdb.kit.query import query_model
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.orders import service
from shopdb.orders.auth import OrdersRead, OrdersWrite
from shopdb.orders.gates import placed_response, placement_for, placement_gate
from shopdb.orders.keyed import request_token
from shopdb.orders.placement import PlacedOrder, place_order
from shopdb.orders.schemas import OrderCreate, OrderDetail, OrderListQuery, OrderSummary
from shopdb.selling_plans.ordering import contract_opener

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
    answered: list[Response] = []

    async def answer(placed: PlacedOrder) -> None:
        # The response, and under a key its stored copy, before the stock is locked.
        answered.append(placed_response(placed))
        await answer_now(request, answered[-1])

    placed = await place_order(
        placement,
        data,
        idempotency_token=request_token(request, subject.principal),
        # A recurring selling plan's lines open subscription contracts with the order.
        on_record=contract_opener(data, placement.cipher, subject.principal),
        before_stock=answer,
    )
    return answered[-1] if answered else placed_response(placed)


@router.get("", response_model=Page[OrderSummary])
async def list_orders(
    session: SessionDep,
    _: OrdersRead,
    services: ServicesDep,
    params: Annotated[OrderListQuery, query_model(OrderListQuery)],
) -> Response:
    """Placed orders, newest first by default; filter by `status`, `financialStatus`,
    `fulfillmentStatus`, `customerId`, `email`, `createdAtMin`/`createdAtMax`; sort by
    `sortBy` (createdAt, updatedAt, number, totalPrice) and `sortDirection`; page by `page`
    and `pageSize` or by `cursor` (each page's nextCursor). `totalCount` is null unless
    `withTotal=true`."""
    query = service.OrderQuery(
        status=params.status,
        financial_status=params.financial_status,
        fulfillment_status=params.fulfillment_status,
        customer_id=params.customer_id,
        email=params.email,
        created_at_min=params.created_at_min,
        created_at_max=params.created_at_max,
        sort=params.sort_by,
        direction=params.sort_direction,
    )
    page = PageRequest(
        page=params.page,
        page_size=params.page_size,
        cursor=params.cursor,
        with_total=params.with_total,
    )
    found = await service.list_order_documents(
        session, field_cipher(services.settings), query, page
    )
    # The items are JSON documents already (orders/documents.py): only the envelope is built.
    envelope = {
        "items": orjson.Fragment(found.items),
        "totalCount": found.total,
        "page": page.page,
        "pageSize": page.page_size,
        "nextCursor": found.next_cursor,
    }
    return Response(orjson.dumps(envelope), media_type="application/json")


@router.get("/{order_id}", response_model=OrderDetail)
async def get_order(
    session: SessionDep, _: OrdersRead, services: ServicesDep, order_id: int
) -> Response:
    """One order with its line items, transactions, fulfillments and refunds."""
    document = await service.get_order_document(
        session, field_cipher(services.settings), order_id, services.order_cache
    )
    return Response(document, media_type="application/json")
