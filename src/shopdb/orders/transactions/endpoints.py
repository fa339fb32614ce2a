"""/api/v1/orders/{id}/transactions: record a capture, void, refund, authorization or sale
through the order's gateway, and list an order's transactions."""

from __future__ import annotations

from fastapi import Request, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.types import utcnow
from shopdb.orders.auth import OrdersRead, OrdersWrite
from shopdb.orders.payments import registry_gateways
from shopdb.orders.transactions import service
from shopdb.orders.transactions.schemas import TransactionCreate, TransactionList, TransactionRead

router = domain_router("/orders", tags=["orders"])


def transaction_read(recorded: service.RecordedTransaction) -> TransactionRead:
    return service.transaction_read(recorded.transaction, recorded.message)


@router.post("/{order_id}/transactions", status_code=201, response_model=TransactionRead)
@idempotent
async def create_transaction(
    request: Request,
    session: SessionDep,
    subject: OrdersWrite,
    services: ServicesDep,
    order_id: int,
    data: TransactionCreate,
) -> Response:
    """Capture, void, refund, authorize or sell through the order's gateway (422 naming the
    rule a request breaks). A decline or gateway error is recorded and answered 201 with
    status failure/error. Send an Idempotency-Key so that a retry never charges twice."""
    recorded = await service.create_transaction(
        session,
        registry_gateways(services.settings),
        order_id,
        service.NewTransaction(
            kind=data.kind,
            amount=data.amount,
            parent_id=data.parent_id,
            currency=data.currency,
            gateway=data.gateway,
            token=data.token,
        ),
        now=utcnow(),
        actor=subject.principal,
    )
    return model_response(transaction_read(recorded), status_code=201)


@router.get("/{order_id}/transactions", response_model=TransactionList)
async def list_transactions(session: SessionDep, _: OrdersRead, order_id: int) -> TransactionList:
    """The order's transactions, oldest first."""
    found = await service.list_transactions(session, order_id)
    return TransactionList(items=[transaction_read(r) for r in found])
