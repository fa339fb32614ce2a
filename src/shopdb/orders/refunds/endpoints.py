"""/api/v1/orders/{id}/refunds: calculate a refund, make one, read them."""

from __future__ import annotations

from fastapi import Request, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.types import utcnow
from shopdb.orders.auth import OrdersRead, OrdersWrite
from shopdb.orders.payments import registry_gateways
from shopdb.orders.refunds import service
from shopdb.orders.refunds.schemas import (
    RefundCalculate,
    RefundCalculation,
    RefundCreate,
    RefundList,
    RefundRead,
)

router = domain_router("/orders", tags=["orders"])


@router.post("/{order_id}/refunds/calculate", response_model=RefundCalculation)
async def calculate_refund(
    session: SessionDep, _: OrdersRead, order_id: int, data: RefundCalculate
) -> RefundCalculation:
    """What a refund of these line items and shipping would give back (subtotals, tax,
    shipping) and the suggested refund transactions. Writes nothing."""
    return await service.calculate_refund(session, order_id, data)


@router.post("/{order_id}/refunds", status_code=201, response_model=RefundRead)
@idempotent
async def create_refund(
    request: Request,
    session: SessionDep,
    subject: OrdersWrite,
    services: ServicesDep,
    order_id: int,
    data: RefundCreate,
) -> Response:
    """Refund line items (restocked per restockType), shipping and money (the given
    transactions, else the calculated amount) at once; 422 naming the rule a request
    breaks, 402 REFUND_FAILED when the gateway refunded nothing. Send an Idempotency-Key
    so that a retry never refunds twice."""
    created = await service.create_refund(
        session,
        registry_gateways(services.settings),
        order_id,
        data,
        now=utcnow(),
        actor=subject.principal,
    )
    body = await service.created_read(session, created)
    return model_response(
        body,
        status_code=201,
        headers={"Location": f"/api/v1/orders/{order_id}/refunds/{body.id}"},
    )


@router.get("/{order_id}/refunds", response_model=RefundList)
async def list_refunds(session: SessionDep, _: OrdersRead, order_id: int) -> RefundList:
    """The order's refunds, oldest first, with their line items and transactions."""
    return RefundList(items=await service.list_refunds(session, order_id))


@router.get("/{order_id}/refunds/{refund_id}", response_model=RefundRead)
async def get_refund(
    session: SessionDep, _: OrdersRead, order_id: int, refund_id: int
) -> RefundRead:
    return await service.get_refund(session, order_id, refund_id)
