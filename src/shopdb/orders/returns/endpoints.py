"""/api/v1/orders/{id}/returns: open a return of fulfilled units, close it, cancel it, read."""

from __future__ import annotations

from fastapi import Request, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.types import utcnow
from shopdb.orders.auth import OrdersRead, OrdersWrite
from shopdb.orders.payments import registry_gateways
from shopdb.orders.returns import service
from shopdb.orders.returns.schemas import ReturnClose, ReturnCreate, ReturnList, ReturnRead

router = domain_router("/orders", tags=["orders"])


@router.post("/{order_id}/returns", status_code=201, response_model=ReturnRead)
@idempotent
async def open_return(
    request: Request, session: SessionDep, subject: OrdersWrite, order_id: int, data: ReturnCreate
) -> Response:
    """Open a return of fulfilled units (reason and note per line). A line's units in open
    returns, received by closed ones or restocked by refunds never exceed what was fulfilled
    (422 RETURN_EXCEEDS_FULFILLED)."""
    opened = await service.open_return(
        session, order_id, data, now=utcnow(), actor=subject.principal
    )
    return model_response(
        opened,
        status_code=201,
        headers={"Location": f"/api/v1/orders/{order_id}/returns/{opened.id}"},
    )


@router.post("/{order_id}/returns/{return_id}/close", response_model=ReturnRead)
@idempotent
async def close_return(
    request: Request,
    session: SessionDep,
    subject: OrdersWrite,
    services: ServicesDep,
    order_id: int,
    return_id: int,
    data: ReturnClose,
) -> Response:
    """Close an open return with the units received: they go back to stock (available and on
    hand) at `locationId` (default: where each line was committed from) and, with
    `refund: true`, are refunded in the same step (the refund's id is `refundId`)."""
    closed = await service.close_return(
        session,
        registry_gateways(services.settings),
        order_id,
        return_id,
        data,
        now=utcnow(),
        actor=subject.principal,
    )
    return model_response(closed)


@router.post("/{order_id}/returns/{return_id}/cancel", response_model=ReturnRead)
@idempotent
async def cancel_return(
    request: Request, session: SessionDep, subject: OrdersWrite, order_id: int, return_id: int
) -> Response:
    """Cancel an open return (nothing came back); its units may be returned again."""
    cancelled = await service.cancel_return(
        session, order_id, return_id, now=utcnow(), actor=subject.principal
    )
    return model_response(cancelled)


@router.get("/{order_id}/returns", response_model=ReturnList)
async def list_returns(session: SessionDep, _: OrdersRead, order_id: int) -> ReturnList:
    """The order's returns, oldest first, with their lines."""
    return ReturnList(items=await service.list_returns(session, order_id))


@router.get("/{order_id}/returns/{return_id}", response_model=ReturnRead)
async def get_return(
    session: SessionDep, _: OrdersRead, order_id: int, return_id: int
) -> ReturnRead:
    return await service.get_return(session, order_id, return_id)
