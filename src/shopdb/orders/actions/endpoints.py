"""/api/v1/orders/{id}/...: cancel, close, open."""

from __future__ import annotations

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.keys import field_cipher
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.types import utcnow
from shopdb.models import Order
from shopdb.orders.actions import service
from shopdb.orders.actions.schemas import OrderActionRead, OrderCancel
from shopdb.orders.auth import OrdersWrite
from shopdb.orders.payments import registry_gateways
from shopdb.orders.service import get_order
from shopdb.services import Services

router = domain_router("/orders", tags=["orders"])


async def _detail(session: AsyncSession, services: Services, order: Order) -> OrderActionRead:
    """The order as GET /orders/{id} shows it (with its fulfillments and refunds), read in the
    request's transaction, plus its cancel reason."""
    detail = await get_order(session, field_cipher(services.settings), order.id)
    return OrderActionRead(**dict(detail), cancel_reason=order.cancel_reason)


@router.post("/{order_id}/cancel", response_model=OrderActionRead)
@idempotent
async def cancel_order(
    request: Request,
    session: SessionDep,
    subject: OrdersWrite,
    services: ServicesDep,
    order_id: int,
    data: OrderCancel,
) -> Response:
    """Cancel the order: its unfulfilled units restocked (`restock`, default true), what was
    captured refunded (`refund`), what is only authorized voided. 422 ORDER_FULFILLED when
    units were shipped and not refunded, ORDER_CANCELLED when cancelled already."""
    order = await service.cancel_order(
        session,
        registry_gateways(services.settings),
        order_id,
        data,
        now=utcnow(),
        actor=subject.principal,
    )
    return model_response(await _detail(session, services, order))


@router.post("/{order_id}/close", response_model=OrderActionRead)
async def close_order(
    session: SessionDep, subject: OrdersWrite, services: ServicesDep, order_id: int
) -> OrderActionRead:
    """Close (archive) the order: closedAt is set."""
    order = await service.close_order(session, order_id, now=utcnow(), actor=subject.principal)
    return await _detail(session, services, order)


@router.post("/{order_id}/open", response_model=OrderActionRead)
async def open_order(
    session: SessionDep, subject: OrdersWrite, services: ServicesDep, order_id: int
) -> OrderActionRead:
    """Reopen a closed order: closedAt is cleared."""
    order = await service.open_order(session, order_id, now=utcnow(), actor=subject.principal)
    return await _detail(session, services, order)
