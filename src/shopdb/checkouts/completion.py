"""Completing a checkout: it becomes an order through the orders' own placement workflow.

1. The checkout is taken for this completion (one guarded UPDATE, its own transaction):
   a concurrent second completion is refused (409) instead of placing a second order.
2. orders.placement.place_order places the order exactly as POST /api/v1/orders does:
   catalog prices, stock committed, discount and gift cards used, payment, events, the
   confirmation job. A refusal (stock, payment) gives the checkout back, untouched.
3. The checkout records its order and `completed_at` (and `recovered_at`, in both abandoned
   tables too, if it had been abandoned) in the transaction that records the order
   (place_order's `on_record`): both commit, or neither.

Each step's transaction comes from the placement (`transactions_for`): a unit of work of its
own on PostgreSQL, a savepoint of the request's session on SQLite, and on both when the order
is paid through a local gateway, which places it in the request's own transaction.

Under an Idempotency-Key, the order placed under it (orders.placement.keyed_order) is the
answer before anything else: a retry whose key's stored response was lost gets its order
again rather than 409 CHECKOUT_COMPLETED. An order placed under the key for another checkout
(or by POST /api/v1/orders) is 422 IDEMPOTENCY_KEY_REUSED, as the key's row would have said.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.checkouts.abandonment import recover_abandoned
from shopdb.checkouts.errors import CheckoutCompleted, CheckoutCompletionInProgress
from shopdb.checkouts.pricing import cart_of
from shopdb.checkouts.repository import CheckoutRepository
from shopdb.checkouts.schemas import CheckoutComplete
from shopdb.checkouts.service import check_open, load_checkout
from shopdb.idempotency.errors import IdempotencyKeyReused
from shopdb.kit.types import utcnow
from shopdb.models import Order
from shopdb.orders.placement import PlacedOrder, Placement, at_once, keyed_order, place_order

# A completion holds its checkout at most this long beyond the placement's own reservation:
# a process that died mid-completion does not lock the checkout forever.
CLAIM_MARGIN_SECONDS = 60.0

log = structlog.get_logger(__name__)


async def complete_checkout(
    placement: Placement,
    token: str,
    data: CheckoutComplete,
    *,
    now: datetime | None = None,
    idempotency_token: str | None = None,
) -> PlacedOrder:
    """Turn the checkout `token` into an order (see the module docstring)."""
    now = now or utcnow()
    # Paid through a local gateway, the order is placed in the request's transaction: the
    # checkout's steps go there too, so that a refusal or a lost response rolls the claim
    # back with the order, and a retry finds the checkout as it was.
    placement = at_once(placement, data.payment) or placement
    async with placement.transactions() as tx:
        checkout = await load_checkout(tx, token)
        if idempotency_token is not None:
            placed = await keyed_order(tx, placement.cipher, idempotency_token)
            if placed is not None:
                if placed.order.id != checkout.order_id:
                    raise IdempotencyKeyReused
                return placed
        check_open(checkout, now)
        cart = cart_of(placement.cipher, checkout)
        checkout_id = checkout.id
    assert cart.email is not None  # a checkout always has its buyer's email
    order_data = cart.as_order(cart.email, data.payment)
    until = now + timedelta(
        seconds=placement.settings.order_reservation_seconds + CLAIM_MARGIN_SECONDS
    )
    async with placement.transactions() as tx:
        claimed = await CheckoutRepository(tx).claim_completion(checkout_id, now, until)
    if not claimed:
        async with placement.transactions() as tx:
            again = await CheckoutRepository(tx).get(checkout_id)
        if again is not None and again.completed_at is not None:
            raise CheckoutCompleted(again.order_id)
        raise CheckoutCompletionInProgress

    async def mark_completed(tx: AsyncSession, order: Order) -> None:
        # In the order's own record transaction: the checkout is completed if and only if
        # its order is placed.
        totals = {
            "subtotal_price": order.subtotal_price,
            "total_discounts": order.total_discounts,
            "total_shipping": order.total_shipping,
            "total_tax": order.total_tax,
            "total_price": order.total_price,
        }
        done = utcnow()
        marked = await CheckoutRepository(tx).mark_completed(checkout_id, order.id, done, totals)
        if marked is not None and marked[1] is not None:
            await recover_abandoned(tx, marked[0], done)

    try:
        return await place_order(
            placement, order_data, on_record=mark_completed, idempotency_token=idempotency_token
        )
    except BaseException:
        await _give_back(placement, checkout_id)
        raise


async def _give_back(placement: Placement, checkout_id: int) -> None:
    try:
        async with placement.transactions() as tx:
            await CheckoutRepository(tx).release_completion(checkout_id)
    except Exception:
        # The claim lapses by itself (CLAIM_MARGIN_SECONDS after the reservation would).
        log.exception("checkout_release_failed", checkout_id=checkout_id)
