"""`orders/release_expired_reservations`: give back what a placement reserved and never paid.

Each placement queues one, in its reserving transaction, due when its reservation expires: if
the process died before the payment was recorded (or recording it and undoing it both
failed), the reservation is still there then, and this releases it. For a placed order it does
nothing. Each run also sweeps up to SWEEP other expired reservations, so one lost job row
cannot leave a reservation forever.

A reservation that holds an unsettled payment (an authorization or sale the placement could
not undo) is voided (or refunded) first, outside any transaction; if the gateway still cannot
do it, the job fails and is retried (with backoff), and the reservation waits for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from shopdb.jobs.kinds import ORDERS_RELEASE_RESERVATION
from shopdb.jobs.queue import RunningJob, enqueue
from shopdb.jobs.runner import JobContext, Registration
from shopdb.kit.types import utcnow
from shopdb.orders.payments import registry_gateways, undo_gateway_payment
from shopdb.orders.repository import OrderRepository
from shopdb.orders.reservations import release_reservation

SWEEP = 100

log = structlog.get_logger(__name__)


class PaymentNotUndone(Exception):
    """The gateway did not void (or refund) an unsettled payment: retry the job later."""


async def release_expired_reservations(
    context: JobContext, job: RunningJob
) -> Mapping[str, Any] | None:
    database = context.database
    now = utcnow()
    order_id = job.payload.get("orderId")
    async with database.session() as session:
        repository = OrderRepository(session)
        due = await repository.expired_reservations(now, SWEEP)
        if isinstance(order_id, int) and order_id not in due:
            reserved_until = await repository.reserved_until(order_id)
            if reserved_until is not None:
                # Ran before the reservation expired (another host's clock): come back then.
                await enqueue(
                    session,
                    ORDERS_RELEASE_RESERVATION,
                    {"orderId": order_id},
                    run_after=reserved_until,
                )
    released, unsettled = 0, []
    for expired in due:
        if not await _settle_payment(context, expired):
            unsettled.append(expired)  # the others are released all the same
            continue
        async with database.session() as session:
            if await release_reservation(session, expired, actor="worker"):
                released += 1
    if unsettled:
        raise PaymentNotUndone(f"orders {unsettled}: the gateway did not undo their payments")
    return {"released": released}


async def _settle_payment(context: JobContext, order_id: int) -> bool:
    """Void (or refund) the reservation's unsettled payment, if it has one; False when the
    gateway did not."""
    async with context.database.session() as session:
        unsettled = await OrderRepository(session).unsettled_payment(order_id)
    if unsettled is None:
        return True
    gateway = registry_gateways(context.settings)(unsettled.gateway)
    try:
        return await undo_gateway_payment(
            gateway,
            order_id,
            unsettled.kind,
            unsettled.reference,
            unsettled.amount,
            unsettled.currency,
        )
    except Exception:
        log.exception("order_payment_undo_failed", order_id=order_id)
        return False


RELEASE_EXPIRED_RESERVATIONS = Registration(
    ORDERS_RELEASE_RESERVATION, release_expired_reservations
)
