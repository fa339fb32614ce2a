"""Payment transactions on a placed order: authorization, capture, sale, void and refund.

Every operation locks the order first (OrderRepository.lock_placed: FOR UPDATE on
PostgreSQL, the request's write lock on SQLite) and checks its amounts against the order's
transactions read fresh under that lock (ledger.py), so two concurrent captures of one
authorization, or two refunds of one capture, are serialised: the second sees the first's
row and is refused if nothing is left.

The gateway is called while the order's row lock is held. This is deliberate: the lock is
what makes "check what is left, ask the gateway, record the answer" one step, so that
concurrent captures can never together exceed the authorization, including at gateways that
do not enforce it themselves (the test and manual gateways keep no state). The price is
that a slow gateway delays other operations on the *same order* only (other orders, stock
and gift cards are not locked meanwhile: a gift card is credited after every gateway call
of the operation, so its row lock is never held across the network). Releasing the lock
around the call would need a pending row committed before it and settled after, in three
transactions, which the request-is-the-unit-of-work model does not give.

Each gateway call carries an idempotency key derived from the order, the kind, the parent
and how many transactions the order had (all read under the lock): a request that dies
after the gateway answered and before its transaction committed is retried with the same
key, and the gateway answers with the first call's outcome instead of moving money twice.
A call answered `error` (nothing decided, or the outcome unknown) is asked once more with
the same key, as at placement (orders.payments.pay).

A decline or a gateway error is recorded as the transaction (status failure or error, its
error code and message) and the financial status does not move, as Shopify does. Each
operation records one order event: `orders/paid` when the order becomes paid, else
`orders/updated`. A refund asked for here belongs to a refund of its own (no line items),
written with the refunds' own code (refund_records.py), with its `refunds/create`. Nothing
here commits: the request does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.companies.terms import price_terms_payment, settle_payment_terms
from shopdb.events.service import record_event
from shopdb.kit.types import round_money
from shopdb.models import Order, OrderRefund, OrderTransaction
from shopdb.orders.errors import OrderNotFound
from shopdb.orders.payments import GatewayFor
from shopdb.orders.repository import OrderRepository
from shopdb.orders.reservations import GIFT_CARD_GATEWAY
from shopdb.orders.transactions.errors import (
    AmountExceedsOutstanding,
    AuthorizationVoided,
    CaptureExceedsAuthorized,
    CurrencyMismatch,
    GatewayMismatch,
    GatewayRequired,
    InvalidAmount,
    NothingToCapture,
    NothingToVoid,
    OrderCancelled,
    ParentInvalid,
    PaymentTokenRequired,
    RefundExceedsCaptured,
    VoidCapturedAuthorization,
)
from shopdb.orders.transactions.ledger import (
    ZERO,
    Ledger,
    authorized_uncaptured,
    captured_amount,
    financial_status_of,
    refundable_amount,
)
from shopdb.orders.transactions.refund_records import close_refund, new_refund, open_refund
from shopdb.orders.transactions.schemas import TransactionRead
from shopdb.payments.gateways.amounts import iso_exponent
from shopdb.payments.gateways.base import GatewayResult, PaymentGateway

__all__ = [
    "NewTransaction",
    "RecordedTransaction",
    "authorized_uncaptured",
    "captured_amount",
    "create_transaction",
    "financial_status_of",
    "list_transactions",
    "refund_payments",
    "refundable_amount",
    "spread_refund",
    "transaction_read",
    "void_authorizations",
]

# Money columns keep cents: no amount finer than that, whatever the currency allows.
MAX_DECIMALS = 2
MANUAL_GATEWAY = "manual"


@dataclass(frozen=True)
class NewTransaction:
    """What POST /orders/{id}/transactions asks for (transactions/schemas.TransactionCreate)."""

    kind: str
    amount: Decimal | None = None
    parent_id: int | None = None
    currency: str | None = None
    gateway: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class RecordedTransaction:
    transaction: OrderTransaction
    message: str | None


@dataclass
class _Operation:
    """One operation's context: the locked order and what it has recorded so far."""

    session: AsyncSession
    gateway_for: GatewayFor
    order: Order
    now: datetime
    actor: str | None
    recorded: list[RecordedTransaction]

    @property
    def repository(self) -> OrderRepository:
        return OrderRepository(self.session)

    def key(self, kind: str, parent: OrderTransaction | None) -> str:
        # Read under the order's lock: the same state gives the same key (see the docstring).
        sequence = len(self.order.transactions)
        parent_id = parent.id if parent is not None else 0
        return f"shopdb-order-{self.order.id}-{kind}-{parent_id}-{sequence}"


# --- the Python API the refunds and cancellation use -----------------------------------------


async def refund_payments(
    session: AsyncSession,
    gateway_for: GatewayFor,
    order: Order,
    amount: Decimal,
    *,
    now: datetime,
    actor: str | None,
    shares: Sequence[tuple[int, Decimal]] | None = None,
) -> list[OrderTransaction]:
    """Refund `amount` of what `order` captured and has not refunded, spread over its
    successful captures and sales newest first: cards through their gateway, gift cards
    credited back (after every gateway call, so no gift card row stays locked across the
    network). `order` must come from OrderRepository.lock_placed in this transaction.
    `shares`, (parent transaction id, amount) pairs adding up to `amount`, refund those
    parents instead of the newest first (422 TRANSACTION_PARENT_INVALID for a parent that
    took no money, REFUND_EXCEEDS_CAPTURED beyond one's rest).

    422 REFUND_EXCEEDS_CAPTURED above the refundable amount, INVALID_AMOUNT when not
    positive or finer than cents. Every planned refund is attempted and recorded; a gateway
    that declines or fails is recorded as such (status failure/error) and the others still
    go through: the caller reads each transaction's status. Recomputes the financial status
    and records the order's event (orders/updated)."""
    amount = _checked_amount(amount, order.currency)
    ledger = Ledger(order)
    refundable = ledger.refundable()
    if amount > refundable:
        raise RefundExceedsCaptured(amount, refundable)
    plan = _spread(ledger, amount) if shares is None else _shares(ledger, amount, shares)
    operation = _Operation(session, gateway_for, order, now, actor, [])
    cards = [(p, a) for p, a in plan if p.gateway != GIFT_CARD_GATEWAY]
    gift_cards = [(p, a) for p, a in plan if p.gateway == GIFT_CARD_GATEWAY]
    for parent, share in cards + gift_cards:
        await _refund(operation, parent, share)
    await _settle(operation)
    return [r.transaction for r in operation.recorded]


def spread_refund(
    order: Order, amount: Decimal, *, taken: Mapping[int, Decimal] | None = None
) -> list[tuple[OrderTransaction, Decimal]]:
    """How refund_payments spreads `amount` when no shares are given: over the captures and
    sales with money left to refund, newest first (less what `taken`, {parent id: amount},
    already asks of each). What is left over when they run out is not planned: the caller
    compares the sum (refunds' calculation suggests this, refunds' create plans the
    transactions given without a parent with it)."""
    return _spread(Ledger(order), amount, taken or {})


def _spread(
    ledger: Ledger, amount: Decimal, taken: Mapping[int, Decimal] | None = None
) -> list[tuple[OrderTransaction, Decimal]]:
    plan: list[tuple[OrderTransaction, Decimal]] = []
    remaining = amount
    for parent in ledger.refundables():
        if remaining <= 0:
            break
        take = min(ledger.refundable_of(parent) - (taken or {}).get(parent.id, ZERO), remaining)
        if take <= 0:
            continue
        plan.append((parent, take))
        remaining -= take
    return plan


def _shares(
    ledger: Ledger, amount: Decimal, shares: Sequence[tuple[int, Decimal]]
) -> list[tuple[OrderTransaction, Decimal]]:
    plan: list[tuple[OrderTransaction, Decimal]] = []
    asked: dict[int, Decimal] = {}
    for parent_id, share in shares:
        share = _checked_amount(share, ledger.order.currency)
        parent = _parent(ledger, parent_id)
        if not ledger.took_money(parent):
            raise ParentInvalid(f"Transaction {parent_id} is not a capture or sale that took money")
        asked[parent_id] = asked.get(parent_id, ZERO) + share
        if asked[parent_id] > ledger.refundable_of(parent):
            raise RefundExceedsCaptured(asked[parent_id], ledger.refundable_of(parent))
        plan.append((parent, share))
    if sum((share for _, share in plan), ZERO) != amount:
        raise InvalidAmount(f"The shares do not add up to {amount}")
    return plan


async def void_authorizations(
    session: AsyncSession,
    gateway_for: GatewayFor,
    order: Order,
    *,
    now: datetime,
    actor: str | None,
) -> list[OrderTransaction]:
    """Void every authorization of `order` with nothing captured (granted, or pending: a
    manual payment not yet received), newest first; each void recorded with its outcome.
    `order` must come from OrderRepository.lock_placed in this transaction. Nothing to void:
    [] and no event; else the financial status is recomputed and the event recorded."""
    operation = _Operation(session, gateway_for, order, now, actor, [])
    for authorization in Ledger(order).voidables():
        await _void(operation, authorization)
    if operation.recorded:
        await _settle(operation)
    return [r.transaction for r in operation.recorded]


# --- POST and GET /orders/{id}/transactions --------------------------------------------------


async def create_transaction(
    session: AsyncSession,
    gateway_for: GatewayFor,
    order_id: int,
    data: NewTransaction,
    *,
    now: datetime,
    actor: str | None,
) -> RecordedTransaction:
    """One transaction of `data.kind` on the placed order `order_id`, under its lock."""
    order = await OrderRepository(session).lock_placed(order_id)
    if order is None:
        raise OrderNotFound(order_id)
    if data.currency is not None and data.currency.upper() != order.currency:
        raise CurrencyMismatch(data.currency, order.currency)
    if data.amount is not None:
        data = replace(data, amount=_checked_amount(data.amount, order.currency))
    operation = _Operation(session, gateway_for, order, now, actor, [])
    ledger = Ledger(order)
    refund: OrderRefund | None = None
    if data.kind == "capture":
        await _capture_requested(operation, ledger, data)
    elif data.kind == "void":
        authorization = _void_parent(ledger, data.parent_id)
        _same_gateway(data, authorization)
        await _void(operation, authorization)
    elif data.kind == "refund":
        refund = await _refund_requested(operation, ledger, data)
    else:
        # B2B terms: an early-payment discount or a late fee changes what is due.
        price_terms_payment(order, now)
        await _pay_requested(operation, ledger, data)
    await _settle(operation)
    (recorded,) = operation.recorded
    if refund is not None:
        await close_refund(session, refund, [], [recorded.transaction], actor=actor)
    return recorded


def transaction_read(transaction: OrderTransaction, message: str | None) -> TransactionRead:
    """A transaction as the API answers it (here and in a refund's `transactions`)."""
    t = transaction
    return TransactionRead(
        id=t.id,
        order_id=t.order_id,
        kind=t.kind,
        gateway=t.gateway,
        status=t.status,
        amount=t.amount,
        currency=t.currency,
        parent_id=t.parent_id,
        authorization_code=t.authorization_code,
        transaction_id=t.transaction_id,
        error_code=t.error_code,
        message=message,
        card_brand=t.card_brand,
        card_last4=t.card_last4,
        processed_at=t.processed_at,
        created_at=t.created_at,
    )


async def list_transactions(session: AsyncSession, order_id: int) -> list[RecordedTransaction]:
    """The placed order's transactions, oldest first, with their gateways' messages."""
    repository = OrderRepository(session)
    transactions = await repository.placed_transactions(order_id)
    if transactions is None:
        raise OrderNotFound(order_id)
    messages = await repository.transaction_messages(order_id) if transactions else {}
    return [RecordedTransaction(t, messages.get(t.id)) for t in transactions]


# --- the rules -------------------------------------------------------------------------------


def _checked_amount(amount: Decimal, currency: str) -> Decimal:
    """`amount` in cents (5.000 is 5.00); 422 INVALID_AMOUNT when not positive or finer
    than the currency (and the money columns) allow."""
    if not amount.is_finite() or amount <= 0:
        raise InvalidAmount(f"The amount must be above zero, not {amount}")
    decimals = min(MAX_DECIMALS, iso_exponent(currency))
    if amount != amount.quantize(Decimal(1).scaleb(-decimals)):
        raise InvalidAmount(f"The amount {amount} has more than {decimals} decimals ({currency})")
    return round_money(amount)


def _parent(ledger: Ledger, parent_id: int) -> OrderTransaction:
    parent = ledger.by_id(parent_id)
    if parent is None:
        raise ParentInvalid(f"Transaction {parent_id} is not one of this order's")
    return parent


def _same_gateway(data: NewTransaction, parent: OrderTransaction) -> None:
    if data.gateway is not None and data.gateway != parent.gateway:
        raise GatewayMismatch(data.gateway, parent.gateway)


def _capture_parent(ledger: Ledger, parent_id: int | None) -> OrderTransaction:
    if parent_id is None:
        candidates = ledger.capturable()
        if not candidates:
            raise NothingToCapture
        return candidates[0]
    parent = _parent(ledger, parent_id)
    if not ledger.takes_captures(parent):
        raise ParentInvalid(
            f"Transaction {parent_id} is a {parent.status} {parent.kind}: only a granted or "
            "pending authorization (or a pending manual sale) is captured"
        )
    if ledger.voided(parent):
        raise AuthorizationVoided
    return parent


async def _capture_requested(operation: _Operation, ledger: Ledger, data: NewTransaction) -> None:
    if operation.order.cancelled_at is not None:
        raise OrderCancelled
    parent = _capture_parent(ledger, data.parent_id)
    _same_gateway(data, parent)
    capturable = ledger.capturable_of(parent)
    amount = data.amount if data.amount is not None else capturable
    if capturable <= 0 or amount > capturable:
        raise CaptureExceedsAuthorized(amount, capturable)
    gateway = operation.gateway_for(parent.gateway)
    assert parent.transaction_id is not None  # a granted or pending payment has its reference
    key = operation.key("capture", parent)
    result = await _asked(
        lambda: gateway.capture(
            reference=parent.transaction_id or "",
            amount=amount,
            currency=operation.order.currency,
            idempotency_key=key,
        )
    )
    await _record(operation, "capture", parent.gateway, amount, result, parent=parent)


def _void_parent(ledger: Ledger, parent_id: int | None) -> OrderTransaction:
    if parent_id is None:
        candidates = ledger.voidables()
        if candidates:
            return candidates[0]
        if any(
            t.kind == "authorization" and ledger.children(t, "capture") for t in ledger.transactions
        ):
            raise VoidCapturedAuthorization
        raise NothingToVoid
    parent = _parent(ledger, parent_id)
    if parent.kind != "authorization" or parent.gateway == GIFT_CARD_GATEWAY:
        raise ParentInvalid(f"Transaction {parent_id} is a {parent.kind}: only an authorization")
    if ledger.voided(parent):
        raise AuthorizationVoided
    if ledger.children(parent, "capture"):
        raise VoidCapturedAuthorization
    if not ledger.voidable(parent):
        raise ParentInvalid(f"Transaction {parent_id} is a {parent.status} authorization")
    return parent


async def _void(operation: _Operation, authorization: OrderTransaction) -> None:
    gateway = operation.gateway_for(authorization.gateway)
    key = operation.key("void", authorization)
    reference = authorization.transaction_id or ""
    result = await _asked(lambda: gateway.void(reference=reference, idempotency_key=key))
    # A void releases the whole authorization, whatever the gateway says it was.
    await _record(
        operation, "void", authorization.gateway, authorization.amount, result, parent=authorization
    )


def _refund_parent(ledger: Ledger, data: NewTransaction) -> tuple[OrderTransaction, Decimal]:
    """The capture or sale a refund takes from, and the amount (default: all it has left)."""
    if data.parent_id is None:
        candidates = ledger.refundables()
        if not candidates:
            raise RefundExceedsCaptured(data.amount or ZERO, ZERO)
        parent = candidates[0]
    else:
        parent = _parent(ledger, data.parent_id)
        if not ledger.took_money(parent):
            raise ParentInvalid(
                f"Transaction {data.parent_id} is a {parent.status} {parent.kind}: only a "
                "successful capture or sale is refunded"
            )
    refundable = min(ledger.refundable_of(parent), ledger.refundable())
    amount = data.amount if data.amount is not None else refundable
    if refundable <= 0 or amount > refundable:
        raise RefundExceedsCaptured(amount, refundable)
    return parent, amount


async def _refund_requested(
    operation: _Operation, ledger: Ledger, data: NewTransaction
) -> OrderRefund:
    """A refund transaction asked for by itself belongs to a refund of its own, with no line
    items (Shopify's Transaction API makes one), written as the refunds write theirs
    (refund_records): the refund before the gateway call, closed after the order's event.
    A declined one is linked too (its refund gave back 0.00)."""
    parent, amount = _refund_parent(ledger, data)
    _same_gateway(data, parent)
    refund = new_refund(operation.order, now=operation.now)
    await open_refund(operation.session, refund, [])
    await _refund(operation, parent, amount)
    return refund


async def _refund(operation: _Operation, parent: OrderTransaction, amount: Decimal) -> None:
    if parent.gateway == GIFT_CARD_GATEWAY:
        await _credit_gift_card(operation, parent, amount)
        return
    gateway = operation.gateway_for(parent.gateway)
    key = operation.key("refund", parent)
    reference = parent.transaction_id or ""
    result = await _asked(
        lambda: gateway.refund(
            reference=reference,
            amount=amount,
            currency=operation.order.currency,
            idempotency_key=key,
        )
    )
    await _record(operation, "refund", parent.gateway, amount, result, parent=parent)


async def _credit_gift_card(
    operation: _Operation, parent: OrderTransaction, amount: Decimal
) -> None:
    from shopdb.gift_cards.service import credit_gift_card

    assert parent.gift_card_id is not None
    order = operation.order
    await credit_gift_card(
        operation.session,
        parent.gift_card_id,
        amount,
        order_id=order.id,
        reason=f"refund of order {order.number}",
    )
    result = GatewayResult(
        status="success",
        amount=amount,
        currency=order.currency,
        reference=f"gift_card:{parent.gift_card_id}",
    )
    await _record(operation, "refund", GIFT_CARD_GATEWAY, amount, result, parent=parent)


async def _pay_requested(operation: _Operation, ledger: Ledger, data: NewTransaction) -> None:
    """A new authorization or sale on the order (its balance, or part of it)."""
    order = operation.order
    if order.cancelled_at is not None:
        raise OrderCancelled
    if data.parent_id is not None:
        raise ParentInvalid(f"An {data.kind} has no parent transaction")
    name = data.gateway or order.gateway
    if name is None:
        raise GatewayRequired("The order has no gateway: name one")
    if name == GIFT_CARD_GATEWAY:
        raise GatewayRequired("Gift cards are charged when the order is placed")
    outstanding = ledger.outstanding()
    amount = data.amount if data.amount is not None else outstanding
    if outstanding <= 0 or amount > outstanding:
        raise AmountExceedsOutstanding(amount, outstanding)
    if not data.token and name != MANUAL_GATEWAY:
        raise PaymentTokenRequired(name)
    gateway: PaymentGateway = operation.gateway_for(name)
    call = gateway.authorize if data.kind == "authorization" else gateway.sale
    key = operation.key(data.kind, None)
    token = data.token or ""
    result = await _asked(
        lambda: call(amount=amount, currency=order.currency, token=token, idempotency_key=key)
    )
    await _record(operation, data.kind, name, amount, result, parent=None)


# --- recording -------------------------------------------------------------------------------


async def _asked(call: Callable[[], Awaitable[GatewayResult]]) -> GatewayResult:
    """The gateway's answer; an `error` is asked once more (the same key: see the docstring)."""
    result = await call()
    if result.status == "error":
        result = await call()
    return result


async def _record(
    operation: _Operation,
    kind: str,
    gateway: str,
    amount: Decimal,
    result: GatewayResult,
    *,
    parent: OrderTransaction | None,
) -> None:
    """The transaction as the gateway answered it, with its mirrors (add_transaction)."""
    order = operation.order
    if parent is None:
        # A new payment: its reference is what later captures, voids and refunds name.
        authorization = result.reference if kind == "authorization" else None
        brand, last4 = result.card_brand, result.card_last4
    else:
        authorization = parent.authorization_code
        brand, last4 = parent.card_brand, parent.card_last4
    transaction = OrderTransaction(
        order_id=order.id,
        kind=kind,
        gateway=gateway,
        status=result.status,
        amount=amount,
        currency=order.currency,
        parent_id=parent.id if parent is not None else None,
        authorization_code=authorization,
        transaction_id=result.reference,
        error_code=result.error_code,
        card_brand=brand,
        card_last4=last4,
        gift_card_id=parent.gift_card_id if parent is not None else None,
        processed_at=operation.now,
    )
    repository = operation.repository
    payment_method = (
        "gift_card" if gateway == GIFT_CARD_GATEWAY else "card" if last4 is not None else gateway
    )
    await repository.add_transaction(
        transaction, payment_method=payment_method, message=result.message or None
    )
    order.transactions.append(transaction)
    operation.recorded.append(RecordedTransaction(transaction, result.message))


async def _settle(operation: _Operation) -> None:
    """The financial status from the transactions, and the operation's one event."""
    order = operation.order
    status = financial_status_of(order)
    became_paid = status == "paid" and order.financial_status != "paid"
    if status != order.financial_status:
        order.financial_status = status
        order.updated_at = operation.now
    await settle_payment_terms(operation.session, order)  # B2B terms: release paid credit
    body: dict[str, Any] = {
        "id": order.id,
        "number": order.number,
        "totalPrice": str(order.total_price),
        "currency": order.currency,
        "financialStatus": status,
        "transactions": [
            {
                "id": r.transaction.id,
                "kind": r.transaction.kind,
                "status": r.transaction.status,
                "amount": str(r.transaction.amount),
            }
            for r in operation.recorded
        ],
    }
    record_event(
        operation.session,
        topic="orders/paid" if became_paid else "orders/updated",
        subject_type="Order",
        subject_id=order.id,
        body=body,
        actor=operation.actor,
    )
