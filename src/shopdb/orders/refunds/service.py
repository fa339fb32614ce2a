"""Refunds of a placed order: what one would be (writes nothing), and making one.

Making a refund, in the request's transaction (services never commit):

1. The order is locked (OrderRepository.lock_placed) and what earlier refunds took is read
   under the lock, so two refunds of the same line are serialised: the second sees the
   first's units as refunded and is refused (422) if the line has too few left.
2. The refund is planned (calculation.py): each line's units, restock type, location,
   subtotal and tax; the shipping and its tax; 422 for anything it cannot take.
3. Stock and quantities move first, where a refusal costs nothing: unfulfilled units are
   added to the line's removed_quantity by a guarded UPDATE (fulfilled + removed <= quantity
   whatever else runs), and restocked (`cancel`: committed -> available, `return`: back on
   sale at the location, `no_restock` of unfulfilled units: committed leaves, as those units
   will never ship); each is an inventory_adjustments row. Units that leave nothing to
   ship after the rest shipped make the order `fulfilled` (orders/fulfilled, recorded by
   fulfillments.service.follow_fulfillment_status as for a shipment).
4. The refund and its line items are written (transactions.refund_records.open_refund,
   shared with a bare refund transaction); only then is money moved
   (transactions.service.refund_payments, through the gateway, under the order's lock), so
   that nothing after the gateway's answer can fail for a reason found earlier. If every
   refund transaction was declined (or failed) and none went through, 402 REFUND_FAILED and
   the whole request rolls back: nothing was refunded, so nothing is kept either.
5. Each refund transaction is linked to the refund and mirrored as a payment-side `refunds`
   row (order_refunds is the source of truth); `refunds/create` is recorded
   (refund_records.close_refund), and
   `orders/updated` (by refund_payments when money moved, here when it did not).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import NotFound
from shopdb.events.service import record_event
from shopdb.inventory.stock import (
    FULFIL,
    RELEASE,
    RESTOCK_RETURNED,
    StockLine,
    StockMove,
    move_stock,
)
from shopdb.jobs.kinds import REFUNDS_NOTIFICATION_EMAIL
from shopdb.jobs.queue import enqueue
from shopdb.models import Order, OrderRefund, OrderRefundLineItem, OrderTransaction
from shopdb.orders.errors import OrderNotFound
from shopdb.orders.fulfillments.service import follow_fulfillment_status, settle_fulfillment_orders
from shopdb.orders.payments import GatewayFor
from shopdb.orders.refunds.calculation import PlannedLine, RefundPlan, plan_refund
from shopdb.orders.refunds.errors import (
    RefundEmpty,
    RefundFailed,
    RefundQuantityExceeded,
    RefundTransactionInvalid,
)
from shopdb.orders.refunds.repository import RefundRepository, StoredRefund
from shopdb.orders.refunds.schemas import (
    RefundCalculate,
    RefundCalculation,
    RefundCreate,
    RefundLineItemCalculated,
    RefundLineItemRead,
    RefundRead,
    RefundShippingRead,
    RefundTransactionInput,
    ShippingCalculated,
    SuggestedTransaction,
)
from shopdb.orders.repository import OrderRepository
from shopdb.orders.transactions.ledger import Ledger
from shopdb.orders.transactions.refund_records import close_refund, new_refund, open_refund
from shopdb.orders.transactions.service import (
    refund_payments,
    refundable_amount,
    spread_refund,
    transaction_read,
)

ZERO = Decimal(0)
# Statuses of a refund transaction whose money is (or may still be) on its way back.
GOING_BACK = frozenset({"success", "pending"})


@dataclass(frozen=True)
class CreatedRefund:
    refund: OrderRefund
    lines: list[OrderRefundLineItem]
    transactions: list[OrderTransaction]
    prices: dict[int, Decimal]  # order line id -> its unit price


# --- calculate -------------------------------------------------------------------------------


async def calculate_refund(
    session: AsyncSession, order_id: int, data: RefundCalculate
) -> RefundCalculation:
    """What refunding `data` would give back, and through which transactions. Reads only."""
    order = await OrderRepository(session).get_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    history = await RefundRepository(session).history(order_id)
    plan = plan_refund(order, history, data)
    return RefundCalculation(
        refund_line_items=[_line_calculated(p) for p in plan.lines],
        shipping=ShippingCalculated(
            amount=plan.shipping.amount,
            tax=plan.shipping.tax,
            maximum_refundable=plan.shipping.maximum_refundable,
        ),
        subtotal=plan.subtotal,
        total_tax=plan.total_tax,
        total_amount=plan.total_amount,
        transactions=suggested_transactions(order, plan.total_amount),
        currency=plan.currency,
    )


def suggested_transactions(order: Order, amount: Decimal) -> list[SuggestedTransaction]:
    """`amount` (at most what is refundable) over the captures and sales that took money,
    newest first, as refund_payments spreads it."""
    ledger = Ledger(order)
    return [
        SuggestedTransaction(
            parent_id=parent.id,
            gateway=parent.gateway,
            amount=take,
            maximum_refundable=ledger.refundable_of(parent),
        )
        for parent, take in spread_refund(order, min(amount, ledger.refundable()))
    ]


def _line_calculated(planned: PlannedLine) -> RefundLineItemCalculated:
    return RefundLineItemCalculated(
        line_item_id=planned.line.id,
        quantity=planned.quantity,
        restock_type=planned.restock_type,
        location_id=planned.location_id,
        price=planned.line.price,
        subtotal=planned.subtotal,
        total_tax=planned.total_tax,
    )


# --- create ----------------------------------------------------------------------------------


async def create_refund(
    session: AsyncSession,
    gateway_for: GatewayFor,
    order_id: int,
    data: RefundCreate,
    *,
    now: datetime,
    actor: str | None,
    move_stock: bool = True,
) -> CreatedRefund:
    """Refund `data` of the placed order `order_id` (see the module docstring).

    `move_stock=False`: the caller has already put the units where they go (a return
    closed with its received units restocked): the refund records each line's restock type
    and location but moves no stock itself."""
    order = await OrderRepository(session).lock_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    return await refund_locked(
        session, gateway_for, order, data, now=now, actor=actor, move_stock=move_stock
    )


async def refund_locked(
    session: AsyncSession,
    gateway_for: GatewayFor,
    order: Order,
    data: RefundCreate,
    *,
    now: datetime,
    actor: str | None,
    move_stock: bool = True,
) -> CreatedRefund:
    """create_refund for an order the caller locked (OrderRepository.lock_placed) in this
    transaction: cancelling an order refunds through here."""
    repository = RefundRepository(session)
    plan = plan_refund(order, await repository.history(order.id), data, restocked=not move_stock)
    amount, shares = _money_asked(order, plan, data.transactions)
    if not plan.lines and plan.shipping.amount == 0 and amount == 0 and not data.transactions:
        raise RefundEmpty
    await _take_units(repository, plan)
    await _fulfillment_follows(session, order, plan, now, actor)
    if move_stock:
        await _move_stock(session, plan, actor)
    refund = new_refund(
        order,
        now=now,
        reason=data.reason,
        note=data.note,
        subtotal=plan.subtotal,
        total_tax=plan.total_tax,
        shipping_amount=plan.shipping.amount,
    )
    lines = [
        OrderRefundLineItem(
            line_item_id=p.line.id,
            quantity=p.quantity,
            removed_quantity=p.removed,
            restock_type=p.restock_type,
            location_id=p.location_id,
            subtotal=p.subtotal,
            total_tax=p.total_tax,
        )
        for p in plan.lines
    ]
    await open_refund(session, refund, lines)
    transactions: list[OrderTransaction] = []
    if amount > 0:
        transactions = await refund_payments(
            session, gateway_for, order, amount, now=now, actor=actor, shares=shares
        )
        if not any(t.status in GOING_BACK for t in transactions):
            failed = transactions[0] if transactions else None
            raise RefundFailed(failed.error_code if failed else None, None)
    await close_refund(session, refund, lines, transactions, actor=actor)
    if not transactions:
        _lines_changed(session, order, refund, now=now, actor=actor)
    if data.notify:
        await enqueue(
            session,
            REFUNDS_NOTIFICATION_EMAIL,
            {"orderId": order.id, "refundId": refund.id},
            actor=actor,
        )
    await session.flush()
    return CreatedRefund(refund, lines, transactions, {p.line.id: p.line.price for p in plan.lines})


def _money_asked(
    order: Order, plan: RefundPlan, asked: list[RefundTransactionInput] | None
) -> tuple[Decimal, list[tuple[int, Decimal]] | None]:
    """What to refund: the given transactions' sum (each checked against its parent), or
    the calculated total, as far as anything captured is left to refund; and, when any
    given transaction names its parent, the (parent id, amount) shares refund_payments is
    to refund exactly (None: it spreads the money newest first)."""
    if asked is None:
        return min(plan.total_amount, refundable_amount(order)), None
    ledger = Ledger(order)
    for position, given in enumerate(asked):
        field = f"transactions[{position}]"
        if given.parent_id is None:
            continue
        parent = ledger.by_id(given.parent_id)
        if parent is None or not ledger.took_money(parent):
            raise RefundTransactionInvalid(
                f"Transaction {given.parent_id} is not a capture or sale of this order that "
                "took money",
                f"{field}.parentId",
            )
        if given.gateway is not None and given.gateway != parent.gateway:
            raise RefundTransactionInvalid(
                f"Transaction {parent.id} went through {parent.gateway}, not {given.gateway}",
                f"{field}.gateway",
            )
        if given.amount > ledger.refundable_of(parent):
            raise RefundTransactionInvalid(
                f"Transaction {parent.id} has {ledger.refundable_of(parent)} left to refund, "
                f"not {given.amount}",
                f"{field}.amount",
            )
    # refund_payments refuses (422 REFUND_EXCEEDS_CAPTURED) a sum above what is refundable.
    amount = sum((given.amount for given in asked), ZERO)
    if all(given.parent_id is None for given in asked):
        return amount, None
    return amount, _shares(order, asked)


def _shares(order: Order, asked: list[RefundTransactionInput]) -> list[tuple[int, Decimal]]:
    """The money where the caller put it: each transaction naming a parent refunds that
    parent; those naming none share what the named ones leave, newest first."""
    shares = [(given.parent_id, given.amount) for given in asked if given.parent_id is not None]
    taken: dict[int, Decimal] = {}
    for parent_id, share in shares:
        taken[parent_id] = taken.get(parent_id, ZERO) + share
    rest = sum((given.amount for given in asked if given.parent_id is None), ZERO)
    spread = spread_refund(order, rest, taken=taken)
    placed = sum((take for _, take in spread), ZERO)
    if placed < rest:
        raise RefundTransactionInvalid(
            f"The transactions naming a parent leave {placed} to refund, not {rest}, for "
            "those naming none",
            "transactions",
        )
    return shares + [(parent.id, take) for parent, take in spread]


async def _take_units(repository: RefundRepository, plan: RefundPlan) -> None:
    """Unfulfilled units taken off their lines, each by a guarded UPDATE: under the order's
    lock it cannot be refused, but nothing else keeps a concurrent writer that skipped the
    lock from overfilling the line."""
    for planned in plan.lines:
        if planned.removed == 0:
            continue
        if await repository.remove_units(planned.line.id, planned.removed) is None:
            raise RefundQuantityExceeded(
                planned.line.id, planned.quantity, 0, "refundLineItems.quantity"
            )


async def _fulfillment_follows(
    session: AsyncSession, order: Order, plan: RefundPlan, now: datetime, actor: str | None
) -> None:
    """Units taken off unshipped change what is left to ship: the fulfillment orders of
    those lines close once nothing of them is left, and the order's fulfillment status
    follows its lines (the last unshipped units refunded after a partial fulfillment make
    it `fulfilled`, with orders/fulfilled as a shipment that completes it records; an order
    none of whose units shipped stays `unfulfilled`, as Shopify shows an order whose every
    item was restocked). _take_units refreshed the lines."""
    line_ids = sorted({p.line.id for p in plan.lines if p.removed > 0})
    if not line_ids:
        return
    await settle_fulfillment_orders(session, line_ids, now)
    follow_fulfillment_status(session, order, now, actor)


async def _move_stock(session: AsyncSession, plan: RefundPlan, actor: str | None) -> None:
    """Every stock move of the refund in one all-or-nothing change (inventory.stock.move_stock,
    one lock order for all of them): cancelled units back to available, returned units back on
    sale, unfulfilled units not restocked out of committed (they will never ship)."""
    note = f"refund of order {plan.order.number}"
    moves: list[StockMove] = []
    for p in plan.lines:
        item, committed_at = p.line.inventory_item_id, p.line.location_id
        if item is None:
            continue
        field = f"lineItem {p.line.id}"
        if p.restock_type == "cancel" and committed_at is not None:
            moves.append(
                StockMove(StockLine(item, committed_at, p.removed, field), *RELEASE, note=note)
            )
        elif p.restock_type == "return" and p.location_id is not None:
            line = StockLine(item, p.location_id, p.quantity, field)
            moves.append(StockMove(line, *RESTOCK_RETURNED, note=note))
        elif p.restock_type == "no_restock" and p.removed > 0 and committed_at is not None:
            line = StockLine(item, committed_at, p.removed, field)
            moves.append(StockMove(line, *FULFIL, reason="other", note=f"{note}: not restocked"))
    if moves:
        await move_stock(session, moves, actor=actor)


def _lines_changed(
    session: AsyncSession, order: Order, refund: OrderRefund, *, now: datetime, actor: str | None
) -> None:
    """orders/updated for a refund that moved no money (refund_payments records it when money
    moves): the order's lines changed all the same."""
    order.updated_at = now
    record_event(
        session,
        topic="orders/updated",
        subject_type="Order",
        subject_id=order.id,
        body={
            "id": order.id,
            "number": order.number,
            "refundId": refund.id,
            "fulfillmentStatus": order.fulfillment_status,
        },
        actor=actor,
    )


# --- read ------------------------------------------------------------------------------------


async def get_refund(session: AsyncSession, order_id: int, refund_id: int) -> RefundRead:
    repository = RefundRepository(session)
    if not await repository.order_exists(order_id):
        raise OrderNotFound(order_id)
    found = await repository.get(order_id, refund_id)
    if found is None:
        raise NotFound.resource("Refund", refund_id)
    messages = await OrderRepository(session).transaction_messages(order_id)
    return refund_read(found, messages)


async def list_refunds(session: AsyncSession, order_id: int) -> list[RefundRead]:
    repository = RefundRepository(session)
    if not await repository.order_exists(order_id):
        raise OrderNotFound(order_id)
    found = await repository.of_order(order_id)
    messages = await OrderRepository(session).transaction_messages(order_id) if found else {}
    return [refund_read(r, messages) for r in found]


async def created_read(session: AsyncSession, created: CreatedRefund) -> RefundRead:
    messages = await OrderRepository(session).transaction_messages(created.refund.order_id)
    stored = StoredRefund(created.refund, created.lines, created.transactions, created.prices)
    return refund_read(stored, messages)


def refund_read(stored: StoredRefund, messages: dict[int, str]) -> RefundRead:
    refund = stored.refund
    return RefundRead(
        id=refund.id,
        order_id=refund.order_id,
        note=refund.note,
        reason=refund.reason,
        created_at=refund.created_at,
        processed_at=refund.processed_at,
        refund_line_items=[
            RefundLineItemRead(
                id=line.id,
                line_item_id=line.line_item_id,
                quantity=line.quantity,
                removed_quantity=line.removed_quantity,
                restock_type=line.restock_type,
                location_id=line.location_id,
                price=stored.prices[line.line_item_id],
                subtotal=line.subtotal,
                total_tax=line.total_tax,
            )
            for line in stored.lines
        ],
        transactions=[transaction_read(t, messages.get(t.id)) for t in stored.transactions],
        shipping=RefundShippingRead(amount=refund.shipping_amount),
        subtotal=refund.subtotal,
        total_tax=refund.total_tax,
        total_amount=refund.amount,
        currency=refund.currency,
    )


# --- for cancellation ------------------------------------------------------------------------


async def kept_fulfilled_units(session: AsyncSession, order: Order) -> int:
    """Units of `order` that were fulfilled and not refunded since (read under its lock)."""
    history = await RefundRepository(session).history(order.id)
    kept = 0
    for line in order.line_items:
        before = history.lines.get(line.id)
        returned = 0 if before is None else before.quantity - before.removed
        kept += max((line.fulfilled_quantity or 0) - returned, 0)
    return kept


async def shipping_left(session: AsyncSession, order: Order) -> Decimal:
    """The order's shipping not refunded yet."""
    history = await RefundRepository(session).history(order.id)
    return max(order.total_shipping - history.shipping, ZERO)
