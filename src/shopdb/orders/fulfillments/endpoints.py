"""/api/v1/orders/{id}/fulfillments, /api/v1/fulfillment-orders, /api/v1/fulfillment-services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Response

from shopdb.dependencies import SessionDep
from shopdb.idempotency import idempotent
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.types import utcnow
from shopdb.orders.auth import OrdersRead, OrdersWrite
from shopdb.orders.fulfillments import fulfillment_orders as orders
from shopdb.orders.fulfillments import fulfillment_services as services
from shopdb.orders.fulfillments import service
from shopdb.orders.fulfillments.schemas import (
    FulfillmentCreate,
    FulfillmentList,
    FulfillmentOrderList,
    FulfillmentOrderMessage,
    FulfillmentOrderRead,
    FulfillmentRead,
    FulfillmentRequestInput,
    FulfillmentServiceCreate,
    FulfillmentServiceList,
    FulfillmentServiceRead,
    FulfillmentServiceUpdate,
    FulfillmentUpdate,
)

OptionalMessage = Annotated[FulfillmentOrderMessage | None, Body()]

router = domain_router("/orders", tags=["fulfillments"])
fulfillment_orders_router = domain_router("/fulfillment-orders", tags=["fulfillments"])
fulfillment_services_router = domain_router("/fulfillment-services", tags=["fulfillments"])


# --- fulfillments ------------------------------------------------------------------------


@router.post("/{order_id}/fulfillments", status_code=201, response_model=FulfillmentRead)
@idempotent
async def create_fulfillment(
    session: SessionDep, subject: OrdersWrite, order_id: int, data: FulfillmentCreate
) -> Response:
    """Ship units of a placed order (all that is left when `lineItems` is omitted); 422
    FULFILLMENT_EXCEEDS_FULFILLABLE beyond ordered - fulfilled - removed."""
    created = await service.create_fulfillment(
        session, order_id, data, now=utcnow(), actor=subject.principal
    )
    return model_response(
        created,
        status_code=201,
        headers={"Location": f"/api/v1/orders/{order_id}/fulfillments/{created.id}"},
    )


@router.get("/{order_id}/fulfillments", response_model=FulfillmentList)
async def list_fulfillments(session: SessionDep, _: OrdersRead, order_id: int) -> FulfillmentList:
    return FulfillmentList(items=await service.list_fulfillments(session, order_id))


@router.get("/{order_id}/fulfillments/{fulfillment_id}", response_model=FulfillmentRead)
async def get_fulfillment(
    session: SessionDep, _: OrdersRead, order_id: int, fulfillment_id: int
) -> FulfillmentRead:
    return await service.get_fulfillment(session, order_id, fulfillment_id)


@router.put("/{order_id}/fulfillments/{fulfillment_id}", response_model=FulfillmentRead)
async def update_fulfillment(
    session: SessionDep,
    subject: OrdersWrite,
    order_id: int,
    fulfillment_id: int,
    data: FulfillmentUpdate,
) -> FulfillmentRead:
    """New tracking details; `notifyCustomer` queues the shipping confirmation again."""
    return await service.update_fulfillment(
        session, order_id, fulfillment_id, data, now=utcnow(), actor=subject.principal
    )


@router.post("/{order_id}/fulfillments/{fulfillment_id}/cancel", response_model=FulfillmentRead)
@idempotent
async def cancel_fulfillment(
    session: SessionDep, subject: OrdersWrite, order_id: int, fulfillment_id: int
) -> Response:
    cancelled = await service.cancel_fulfillment(
        session, order_id, fulfillment_id, now=utcnow(), actor=subject.principal
    )
    return model_response(cancelled)


@router.get("/{order_id}/fulfillment-orders", response_model=FulfillmentOrderList)
async def list_order_fulfillment_orders(
    session: SessionDep, _: OrdersRead, order_id: int
) -> FulfillmentOrderList:
    return FulfillmentOrderList(items=await orders.fulfillment_orders_of(session, order_id))


def _message(data: FulfillmentOrderMessage | None) -> str | None:
    return None if data is None else data.message


# --- fulfillment orders ------------------------------------------------------------------


@fulfillment_orders_router.get("/{fulfillment_order_id}", response_model=FulfillmentOrderRead)
async def get_fulfillment_order(
    session: SessionDep, _: OrdersRead, fulfillment_order_id: int
) -> FulfillmentOrderRead:
    return await orders.get_fulfillment_order(session, fulfillment_order_id)


@fulfillment_orders_router.post(
    "/{fulfillment_order_id}/request", response_model=FulfillmentOrderRead
)
@idempotent
async def request_fulfillment(
    session: SessionDep,
    subject: OrdersWrite,
    fulfillment_order_id: int,
    data: Annotated[FulfillmentRequestInput | None, Body()] = None,
) -> Response:
    """Ask its fulfillment service (or `fulfillmentServiceId`) to ship it."""
    return model_response(
        await orders.request_fulfillment(
            session,
            fulfillment_order_id,
            data or FulfillmentRequestInput(),
            now=utcnow(),
            actor=subject.principal,
        )
    )


@fulfillment_orders_router.post(
    "/{fulfillment_order_id}/accept", response_model=FulfillmentOrderRead
)
@idempotent
async def accept_fulfillment_request(
    session: SessionDep,
    subject: OrdersWrite,
    fulfillment_order_id: int,
    data: OptionalMessage = None,
) -> Response:
    return model_response(
        await orders.accept_request(
            session, fulfillment_order_id, _message(data), now=utcnow(), actor=subject.principal
        )
    )


@fulfillment_orders_router.post(
    "/{fulfillment_order_id}/reject", response_model=FulfillmentOrderRead
)
@idempotent
async def reject_fulfillment_request(
    session: SessionDep,
    subject: OrdersWrite,
    fulfillment_order_id: int,
    data: OptionalMessage = None,
) -> Response:
    return model_response(
        await orders.reject_request(
            session, fulfillment_order_id, _message(data), now=utcnow(), actor=subject.principal
        )
    )


@fulfillment_orders_router.post(
    "/{fulfillment_order_id}/close", response_model=FulfillmentOrderRead
)
@idempotent
async def close_fulfillment_order(
    session: SessionDep,
    subject: OrdersWrite,
    fulfillment_order_id: int,
    data: OptionalMessage = None,
) -> Response:
    return model_response(
        await orders.close_fulfillment_order(
            session, fulfillment_order_id, _message(data), now=utcnow(), actor=subject.principal
        )
    )


@fulfillment_orders_router.post(
    "/{fulfillment_order_id}/cancel", response_model=FulfillmentOrderRead
)
@idempotent
async def cancel_fulfillment_order(
    session: SessionDep,
    subject: OrdersWrite,
    fulfillment_order_id: int,
    data: OptionalMessage = None,
) -> Response:
    return model_response(
        await orders.cancel_fulfillment_order(
            session, fulfillment_order_id, _message(data), now=utcnow(), actor=subject.principal
        )
    )


# --- fulfillment services ----------------------------------------------------------------


@fulfillment_services_router.get("", response_model=FulfillmentServiceList)
async def list_fulfillment_services(session: SessionDep, _: OrdersRead) -> FulfillmentServiceList:
    return FulfillmentServiceList(items=await services.list_services(session))


@fulfillment_services_router.post("", status_code=201, response_model=FulfillmentServiceRead)
@idempotent
async def create_fulfillment_service(
    session: SessionDep, subject: OrdersWrite, data: FulfillmentServiceCreate
) -> Response:
    created = await services.create_service(session, data, actor=subject.principal)
    return model_response(
        created,
        status_code=201,
        headers={"Location": f"/api/v1/fulfillment-services/{created.id}"},
    )


@fulfillment_services_router.get("/{service_id}", response_model=FulfillmentServiceRead)
async def get_fulfillment_service(
    session: SessionDep, _: OrdersRead, service_id: int
) -> FulfillmentServiceRead:
    return await services.get_service(session, service_id)


@fulfillment_services_router.put("/{service_id}", response_model=FulfillmentServiceRead)
async def update_fulfillment_service(
    session: SessionDep, subject: OrdersWrite, service_id: int, data: FulfillmentServiceUpdate
) -> FulfillmentServiceRead:
    return await services.update_service(
        session, service_id, data, now=utcnow(), actor=subject.principal
    )


@fulfillment_services_router.delete("/{service_id}", status_code=204, response_class=Response)
async def delete_fulfillment_service(
    session: SessionDep, subject: OrdersWrite, service_id: int
) -> Response:
    await services.delete_service(session, service_id, actor=subject.principal)
    return Response(status_code=204)
