"""Placing an order: price, reserve, pay, record.

    placement = Placement(transactions_for(database, session), settings, cipher, gateways,
                          session=session)
    placed = await place_order(placement, data)

An order is placed one of two ways, by its gateway:

- **At once**, in the request's own transaction (`Placement.session`), when its gateway is
  local (`PaymentGateway.local`: the test and manual gateways, whose calls have no effect
  anywhere else) or nothing is to be paid: read the lines and allocate them (a sold-out line
  is refused before anything else is read), quote, take a number, redeem the discount, pay
  (before the order is written, so it is written once, with its status; after it when gift
  cards must be debited first), write the order, its transactions, events and confirmation
  job (one statement) and fulfillment orders, and commit its stock last, so that orders for
  the same variant queue on its row for their last statements only (the stamps' bump and the
  commit; the Idempotency-Key's stored response is written before). Any refusal raises and the
  request rolls back with everything, the Idempotency-Key's claim included: there is nothing
  to undo at a gateway that keeps nothing. One transaction of about 17 statements (the
  hottest through asyncpg's prepared statements: kit.prepared.fetch_in_transaction), no
  reservation, no release job.
- **In steps**, for a remote gateway (Stripe), which must never be called while rows are
  locked or left charged for an order that was not written:

1. Quote (reads only, in a transaction of its own): catalog prices, the discount's
   preview, the shipping rate, the tax. Nothing is locked.
2. Reserve (one short transaction): each line is allocated to a location, its units moved
   from available to committed (inventory.stock.commit_stock: guarded UPDATEs in ascending
   (item, location) order, so orders sharing variants never deadlock, and 409
   INSUFFICIENT_INVENTORY naming the variant when a `deny` variant lacks units); the
   discount code's use is counted (atomically); the order is written with its number and
   `reserved_until`; gift cards are debited (atomically); a job is queued to release the
   reservation should nothing else. Committed: its locks are gone before the gateway is
   called.
3. Pay, outside any transaction: `authorize` when `payment.capture` is false, else `sale`,
   with an idempotency key derived from the order id (a retry of this order never charges
   twice; payments.py). Declined (402 PAYMENT_DECLINED) or failed (502
   PAYMENT_GATEWAY_ERROR, after one retry with the same key): the reservation is released in
   one transaction (reservations.py) and no order is left.
4. Record (one transaction): the order becomes placed (guarded: still a reservation), its
   fulfillment orders are opened (one per location its lines are committed at), its
   transactions are written (order_transactions, the source of truth, with their mirrors in
   payments/transactions), the `orders/create` (and `orders/paid`) events and the
   confirmation email job. If this fails after the gateway took the money, the payment is
   voided (an authorization) or refunded (a sale), then the reservation is released; if
   the gateway cannot be reached for that either, the order keeps the payment's reference
   and the release job voids it later, before releasing.

Where each step's transaction comes from is the caller's choice (`transactions_for`): on
PostgreSQL each is a unit of work of its own, from the Database; on SQLite, which has one
writer at a time and whose request already holds the write lock (its Idempotency-Key claim,
its authentication), each is a savepoint of the request's session, committed with the
request (a refused payment then rolls the whole request back, which leaves nothing either).

A placement under an Idempotency-Key holds two pooled connections at once (its claim's and
each step's): pool.py bounds how many run at once.

Under an Idempotency-Key the order carries `idempotency_token` (idempotency_token(): a hash
of the caller and the key, never the key itself), unique among orders. On PostgreSQL the
order commits in its own transactions and the key's stored response later, with the
request: if that later commit fails, the key is gone but the order is not. A retry with the
same key then finds the order by its token before doing anything (`keyed_order`): placed,
it is the result again (the same 201 body); still a reservation (its payment under way, or
to be voided by the release job), 409 IDEMPOTENCY_KEY_IN_USE. A duplicate that passes that
check concurrently meets the unique index when it writes its reservation, and gets the same
answer. A released reservation is deleted (reservations.py), token and all: a declined
attempt does not block a retry with the key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.companies.terms import hold_credit, terms_for_order
from shopdb.config import Settings
from shopdb.customers.pii import CUSTOMER_EMAIL
from shopdb.db import Database
from shopdb.errors import ValidationFailed
from shopdb.events.service import new_event
from shopdb.idempotency.errors import IdempotencyKeyInUse
from shopdb.inventory.errors import InsufficientInventory
from shopdb.inventory.stock import StockLine, commit_stock
from shopdb.jobs.kinds import ORDERS_CONFIRMATION_EMAIL, ORDERS_RELEASE_RESERVATION
from shopdb.jobs.queue import enqueue, new_job
from shopdb.kit.crypto import FieldCipher, normalise_email, seal_email
from shopdb.kit.models import write_rows
from shopdb.kit.types import utcnow
from shopdb.markets.pricing import apply_presentment
from shopdb.models import Order, OrderLineItem, OrderTransaction
from shopdb.models.orders import ORDER_EMAIL
from shopdb.orders.errors import (
    PaymentDeclined,
    PaymentGatewayError,
    ReservationExpired,
    VariantOutOfStock,
)
from shopdb.orders.fulfillments.service import (
    open_fulfillment_orders,
    reopen_fulfillment_orders,
)
from shopdb.orders.payments import (
    GatewayFor,
    financial_status,
    numbered_payment_key,
    pay,
    undo_gateway_payment,
)
from shopdb.orders.pricing import ZERO, CatalogLine
from shopdb.orders.quoting import Quote, catalog_lines, quote_order, redeem_discount
from shopdb.orders.repository import OrderRepository, StockCandidate
from shopdb.orders.reservations import GIFT_CARD_GATEWAY, release_reservation
from shopdb.orders.schemas import OrderCreate, PaymentInput
from shopdb.payments.gateways.base import GatewayResult, PaymentGateway

log = structlog.get_logger(__name__)

Transactions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def transactions_for(database: Database, session: AsyncSession) -> Transactions:
    """Each placement step's transaction: its own unit of work on PostgreSQL, a savepoint of
    the request's `session` on SQLite (see the module docstring)."""
    if database.primary.dialect.name != "sqlite":
        return database.session
    return savepoints_of(session)


def savepoints_of(session: AsyncSession) -> Transactions:
    @asynccontextmanager
    async def savepoint() -> AsyncIterator[AsyncSession]:
        async with session.begin_nested():
            yield session

    return savepoint


def at_once(placement: Placement, payment: PaymentInput | None) -> Placement | None:
    """`placement` with every step in the request's own transaction, when an order paid with
    `payment` is placed at once (a local gateway, or no payment); else None. What a caller
    writes around the placement (a checkout's claim) then commits or rolls back with it."""
    if placement.session is None:
        return None
    if payment is not None and not placement.gateway_for(payment.gateway).local:
        return None
    return replace(placement, transactions=savepoints_of(placement.session))


@dataclass(frozen=True)
class Placement:
    transactions: Transactions
    settings: Settings
    cipher: FieldCipher
    gateway_for: GatewayFor
    actor: str | None = None
    # The request's own unit of work: a placement paid through a local gateway (or not paid
    # at all) runs entirely in it (see the module docstring). None: always in steps.
    session: AsyncSession | None = None


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    email: str
    lines: list[OrderLineItem]
    transactions: list[OrderTransaction]


@dataclass(frozen=True)
class _Buyer:
    email: str
    sealed_email: str
    email_hash: str
    tax_exempt: bool


@dataclass
class _Reservation:
    order: Order
    lines: list[OrderLineItem]
    transactions: list[OrderTransaction] = field(default_factory=list)
    gift_cards_paid: Decimal = ZERO

    @property
    def amount_due(self) -> Decimal:
        return self.order.total_price - self.gift_cards_paid


# Called in the transaction that records the order, so what the caller writes with it (a
# checkout marked completed) commits with the order or not at all.
OnRecord = Callable[[AsyncSession, Order], Awaitable[None]]
# Called with the order as it will commit, just before its stock rows are locked (placed at
# once only; again if a line had to move to another location meanwhile): what the caller must
# still write in the transaction (its answer under an Idempotency-Key) goes before the locks,
# so that the orders waiting on the same variants wait for the stock's UPDATE and the commit
# alone.
BeforeStock = Callable[[PlacedOrder], Awaitable[None]]


async def place_order(
    placement: Placement,
    data: OrderCreate,
    *,
    now: datetime | None = None,
    on_record: OnRecord | None = None,
    idempotency_token: str | None = None,
    before_stock: BeforeStock | None = None,
) -> PlacedOrder:
    """Place `data` (see the module docstring); under an Idempotency-Key's
    `idempotency_token` (keyed.idempotency_token), the order already placed under it if
    there is one (409 IDEMPOTENCY_KEY_IN_USE while it is still a reservation).
    `before_stock` (BeforeStock) is called only where the order is placed at once, and not
    with `on_record` or payment terms, whose writes come after the stock."""
    now = now or utcnow()
    currency = placement.settings.order_currency
    gateway = placement.gateway_for(data.payment.gateway) if data.payment else None
    if placement.session is not None and (gateway is None or gateway.local):
        return await _place_at_once(
            placement,
            placement.session,
            data,
            gateway,
            now,
            on_record,
            idempotency_token,
            before_stock,
        )
    # The quote reads in a transaction of its own too: no connection is held from one step
    # to the next (a request holding one while waiting for another could starve the pool).
    async with placement.transactions() as tx:
        if idempotency_token is not None:
            # Before the quote: the first order is the answer even if its prices changed.
            placed = await keyed_order(tx, placement.cipher, idempotency_token)
            if placed is not None:
                return placed
        buyer = await _buyer(placement.cipher, tx, data)
        quote = await quote_order(tx, data, currency=currency, now=now, tax_exempt=buyer.tax_exempt)
    if gateway is None and not data.gift_card_codes and quote.totals.total > 0:
        raise ValidationFailed.on("payment", "is required")
    try:
        async with placement.transactions() as tx:
            reservation = await _reserve(placement, tx, data, quote, buyer, now, idempotency_token)
    except IntegrityError as exc:
        if idempotency_token is None or not _token_taken(exc):
            raise
        # A duplicate got past the check above and wrote its reservation first; this
        # transaction (stock, code, number) is rolled back.
        async with placement.transactions() as tx:
            placed = await keyed_order(tx, placement.cipher, idempotency_token)
        if placed is None:
            raise IdempotencyKeyInUse from exc  # released meanwhile: a retry runs again
        return placed
    result = None
    if reservation.amount_due > 0:
        payment = data.payment
        assert gateway is not None
        assert payment is not None  # a gateway was found for it
        try:
            result = await pay(
                gateway,
                order_id=reservation.order.id,
                amount=reservation.amount_due,
                currency=reservation.order.currency,
                token=payment.token or "",
                capture=payment.capture,
            )
        except Exception:
            # A gateway answers everything it can with a result; raising is a bug of the
            # call (an amount it refuses): nothing was charged, so nothing is kept either.
            await _release(placement, reservation.order.id)
            raise
        if result.status in ("failure", "error"):
            await _release(placement, reservation.order.id)
            if result.status == "failure":
                raise PaymentDeclined(result.error_code, result.message)
            raise PaymentGatewayError(result.error_code)
    try:
        async with placement.transactions() as tx:
            placed = await _record(placement, tx, data, reservation, result, buyer, now)
            if on_record is not None:
                await on_record(tx, placed.order)
            return placed
    except Exception:
        undone = True
        if result is not None and result.succeeded and result.reference:
            undone = await _undo_payment(placement, gateway, reservation, data, result)
        if undone:
            await _release(placement, reservation.order.id)
        # else the reservation keeps the payment's reference: the release job voids it first
        raise


async def _place_at_once(
    placement: Placement,
    session: AsyncSession,
    data: OrderCreate,
    gateway: PaymentGateway | None,
    now: datetime,
    on_record: OnRecord | None,
    idempotency_token: str | None,
    before_stock: BeforeStock | None = None,
) -> PlacedOrder:
    """Place `data` in `session`'s one transaction: paid through a local gateway, or not
    paid at all (see the module docstring). A refusal at any step raises and the request
    rolls back with everything it wrote, the Idempotency-Key's claim included.

    No reservation, no release job, no check for an order under the key: the key's claim
    commits in this same transaction, so a retry finds the stored response (or the claim
    still running), never an order without one. The stock's rows are locked last, after the
    payment, so that orders for the same variant wait on each other only for their last few
    statements and the commit.
    """
    currency = placement.settings.order_currency
    lines = await catalog_lines(session, data, currency)
    repository = OrderRepository(session)
    # Sold out is told first, before the buyer, the shipping and the taxes are read: in a
    # flash sale most buyers are refused, and the sooner the cheaper for the others.
    locations = await _allocate(repository, lines, data.location_id, refuse_short=True)
    buyer = await _buyer(placement.cipher, session, data)
    quote = await quote_order(
        session, data, currency=currency, now=now, tax_exempt=buyer.tax_exempt, lines=lines
    )
    # B2B: an order on a company's payment terms is paid later (companies/terms.py).
    terms = await terms_for_order(
        session,
        company_id=data.company_id,
        payment_terms_id=data.payment_terms_id,
        paying=data.payment is not None,
        gift_cards=bool(data.gift_card_codes),
    )
    if gateway is None and not data.gift_card_codes and quote.totals.total > 0 and not terms:
        raise ValidationFailed.on("payment", "is required")
    number = await repository.next_order_number()
    quote = await _redeemed(session, data, quote, buyer, now)
    capture = _captures(data)
    result = None
    if not data.gift_card_codes and terms is None:
        # Paid before the order is written, so that it is written once, with its status.
        key = numbered_payment_key(number, "sale" if capture else "authorize")
        result = await _pay_at_once(gateway, data, quote.totals.total, quote, key=key)
    status = financial_status(quote.totals.total, ZERO, result, capture)
    reservation = await _write_order(
        session, data, quote, buyer, now, idempotency_token, number, locations, None, status
    )
    order = reservation.order
    if data.gift_card_codes:
        result = await _pay_at_once(gateway, data, reservation.amount_due, quote, order=order)
        order.financial_status = financial_status(
            order.total_price, reservation.gift_cards_paid, result, capture
        )
    placed = await _record_payment(placement, session, data, order, reservation, result, buyer, now)
    # Opened (and the caller's answer written) before the stock is committed: every statement
    # after the stock's holds its rows' locks, which the other orders for the same variants
    # wait on (a flash sale's queue).
    await open_fulfillment_orders(session, order, reservation.lines)
    answer = before_stock if terms is None and on_record is None else None
    if answer is not None:
        await answer(placed)
    committed = await _commit_stock(
        placement, session, quote.lines, data.location_id, allocated=locations
    )
    if committed != locations:  # the first choice ran out meanwhile: written elsewhere
        _allocate_lines(reservation.lines, quote, committed)
        await session.flush()
        await reopen_fulfillment_orders(session, order, reservation.lines)
        if answer is not None:
            await answer(placed)  # the lines' locations changed
    if terms is not None:  # the company's row last, after the stock (companies/terms.py)
        await hold_credit(session, order, terms)
    if on_record is not None:
        await on_record(session, order)
    return placed


async def _pay_at_once(
    gateway: PaymentGateway | None,
    data: OrderCreate,
    amount: Decimal,
    quote: Quote,
    *,
    key: str | None = None,
    order: Order | None = None,
) -> GatewayResult | None:
    """Pay `amount` (None when nothing is due) through a local gateway; a refusal raises, and
    the request's rollback leaves nothing behind (nothing was charged anywhere)."""
    if amount <= 0:
        return None
    assert gateway is not None
    assert data.payment is not None  # a gateway was found for it
    result = await pay(
        gateway,
        order_id=order.id if order is not None else 0,
        amount=amount,
        currency=quote.totals.currency,
        token=data.payment.token or "",
        capture=data.payment.capture,
        idempotency_key=key,
    )
    if result.status == "failure":
        raise PaymentDeclined(result.error_code, result.message)
    if result.status == "error":
        raise PaymentGatewayError(result.error_code)
    return result


async def keyed_order(session: AsyncSession, cipher: FieldCipher, token: str) -> PlacedOrder | None:
    """The order placed under the Idempotency-Key `token`, as placing it returned it; None
    if there is none. Still a reservation (its payment under way, or left for the release
    job to undo): 409 IDEMPOTENCY_KEY_IN_USE, as for a request with the key still running."""
    order = await OrderRepository(session).by_idempotency_token(token)
    if order is None:
        return None
    if order.reserved_until is not None:
        raise IdempotencyKeyInUse
    # Every order placed under a token was placed sealed (the hash is null only for rows
    # from before sealing, which have no token).
    email = cipher.decrypt(order.email, context=ORDER_EMAIL)
    return PlacedOrder(order, email, list(order.line_items), list(order.transactions))


def _token_taken(exc: IntegrityError) -> bool:
    # The index's name (PostgreSQL) or its column (SQLite) is in the driver's message.
    return "idempotency_token" in str(exc.orig)


async def _buyer(cipher: FieldCipher, session: AsyncSession, data: OrderCreate) -> _Buyer:
    """Who the order is for: its email sealed for orders.email with the customers' blind
    index (the same address has the same index in both tables)."""
    tax_exempt = False
    email = data.email
    if data.customer_id is not None:
        facts = await OrderRepository(session).customer_facts(data.customer_id)
        if facts is None:
            raise ValidationFailed.on("customerId", "does not exist")
        tax_exempt = facts.tax_exempt
        if email is None:
            email = cipher.decrypt(facts.email, context=CUSTOMER_EMAIL)
    assert email is not None  # the schema requires customerId or email
    sealed, email_hash = seal_email(cipher, email, context=ORDER_EMAIL)
    return _Buyer(normalise_email(email), sealed, email_hash, tax_exempt)


# --- 2. reserve ------------------------------------------------------------------------------


async def _reserve(
    placement: Placement,
    session: AsyncSession,
    data: OrderCreate,
    quote: Quote,
    buyer: _Buyer,
    now: datetime,
    idempotency_token: str | None,
) -> _Reservation:
    locations = await _commit_stock(placement, session, quote.lines, data.location_id)
    # After the stock: an order refused for lack of it takes no number (fewer gaps).
    number = await OrderRepository(session).next_order_number()
    reserved_until = now + timedelta(seconds=placement.settings.order_reservation_seconds)
    quote = await _redeemed(session, data, quote, buyer, now)
    reservation = await _write_order(
        session, data, quote, buyer, now, idempotency_token, number, locations, reserved_until
    )
    await enqueue(
        session,
        ORDERS_RELEASE_RESERVATION,
        {"orderId": reservation.order.id},
        run_after=reserved_until,
        actor=placement.actor,
    )
    return reservation


async def _write_order(
    session: AsyncSession,
    data: OrderCreate,
    quote: Quote,
    buyer: _Buyer,
    now: datetime,
    idempotency_token: str | None,
    number: int,
    locations: list[int | None],
    reserved_until: datetime | None,
    status: str = "pending",
) -> _Reservation:
    """The order and its lines (financial status `status`), its gift cards debited
    (atomically); a reservation until `reserved_until`, or placed when that is None. The
    quote's discount must be redeemed already (`_redeemed`)."""
    repository = OrderRepository(session)
    order = _new_order(data, quote, buyer, number, now, reserved_until)
    order.financial_status = status
    order.idempotency_token = idempotency_token
    lines = _new_lines(quote, locations)
    apply_presentment(quote.presentment, order, lines)  # priced in a market's currency
    await repository.add(order, lines)
    reservation = _Reservation(order, lines)
    if data.gift_card_codes:
        await _debit_gift_cards(repository, data, reservation, now)
    if reservation.amount_due > 0 and data.payment is None and data.company_id is None:
        raise ValidationFailed.on("payment", "is required: the gift cards do not cover the total")
    return reservation


async def _redeemed(
    session: AsyncSession, data: OrderCreate, quote: Quote, buyer: _Buyer, now: datetime
) -> Quote:
    """The quote with its discount code's use counted (atomically): priced again with what was
    redeemed if the code changed since the quote previewed it."""
    if quote.discount is None:
        return quote
    currency = quote.totals.currency
    redeemed = await redeem_discount(session, data, quote.totals.subtotal, currency, now)
    assert redeemed is not None
    if (redeemed.amount, redeemed.free_shipping) == (
        quote.discount.amount,
        quote.discount.free_shipping,
    ):
        return quote
    return await quote_order(
        session,
        data,
        currency=currency,
        now=now,
        tax_exempt=buyer.tax_exempt,
        lines=quote.lines,
        discount=redeemed,
    )


# How many times a line is moved to another location whose stock it read, when the one it
# was allocated to ran out between that read and the commit (concurrent orders took it).
ALLOCATION_ATTEMPTS = 4


async def _commit_stock(
    placement: Placement,
    session: AsyncSession,
    lines: list[CatalogLine],
    location_id: int | None,
    allocated: list[int | None] | None = None,
) -> list[int | None]:
    """Allocate the lines (unless `allocated` already did) and commit their units, all or
    nothing; the locations chosen.

    The allocation reads levels without locks; the commit's guarded UPDATEs decide. When
    they refuse, the levels are read again and, if another location now fits, the commit is
    tried there: a refusal means the whole order cannot be served, not that its first choice
    ran out. A refused commit changed nothing (inventory.service.change_levels).
    """
    repository = OrderRepository(session)
    tried: list[list[int | None]] = []
    refusal: InsufficientInventory | None = None
    for _ in range(ALLOCATION_ATTEMPTS):
        if allocated is not None:
            locations, allocated = allocated, None
        else:
            locations = await _allocate(repository, lines, location_id)
        if locations in tried:
            break  # nowhere else to go: the refusal stands
        tried.append(locations)
        stock = [
            StockLine(line.inventory_item_id, location, line.quantity, f"{line.field}.quantity")
            for line, location in zip(lines, locations, strict=True)
            if line.inventory_item_id is not None and location is not None
        ]
        try:
            await commit_stock(session, stock, note="order placed", actor=placement.actor)
        except InsufficientInventory as exc:
            refusal = exc
            if location_id is not None:
                break
            continue
        return locations
    assert refusal is not None
    raise _out_of_stock(lines, refusal) from refusal


async def _allocate(
    repository: OrderRepository,
    lines: list[CatalogLine],
    location_id: int | None,
    *,
    refuse_short: bool = False,
) -> list[int | None]:
    """The location each line's units are committed at (None: an untracked item, not
    counted): the requested location, else the first active location (by id) that has
    enough available units left for the line, else the first that stocks the item (a
    `continue` variant sells beyond its stock there; a `deny` one is refused by the commit).

    `refuse_short`: a `deny` line that no location had enough units for when its levels were
    read is refused now (409), before the placement does any work: in a flash sale most
    buyers are refused, and cheaply. The commit's guarded UPDATE still decides for the rest."""
    if location_id is not None:
        active = await repository.location_active(location_id)
        if active is None:
            raise ValidationFailed.on("locationId", "does not exist")
        if not active:
            raise ValidationFailed.on("locationId", "is deactivated")
    stocked = {line.inventory_item_id for line in lines if line.stocked}
    options: dict[int, list[StockCandidate]] = {}
    for candidate in await repository.stock_candidates(
        {i for i in stocked if i is not None}, location_id
    ):
        options.setdefault(candidate.inventory_item_id, []).append(candidate)
    taken: dict[tuple[int, int], int] = {}
    chosen: list[int | None] = []
    for line in lines:
        if not line.stocked or line.inventory_item_id is None:
            chosen.append(None)
            continue
        found = options.get(line.inventory_item_id)
        if not found:
            raise VariantOutOfStock(line.variant_id, line.field)
        pick = next(
            (
                c
                for c in found
                if c.available - taken.get((c.inventory_item_id, c.location_id), 0) >= line.quantity
            ),
            None,
        )
        if pick is None:
            if refuse_short and not line.oversells:
                raise VariantOutOfStock(line.variant_id, line.field)
            pick = found[0]
        key = (pick.inventory_item_id, pick.location_id)
        taken[key] = taken.get(key, 0) + line.quantity
        chosen.append(pick.location_id)
    return chosen


def _out_of_stock(lines: list[CatalogLine], exc: InsufficientInventory) -> VariantOutOfStock:
    named = {detail.get("field") for detail in exc.details}
    for line in lines:
        if f"{line.field}.quantity" in named:
            return VariantOutOfStock(line.variant_id, line.field)
    first = next(line for line in lines if line.stocked)
    return VariantOutOfStock(first.variant_id, first.field)


def _new_order(
    data: OrderCreate,
    quote: Quote,
    buyer: _Buyer,
    number: int,
    now: datetime,
    reserved_until: datetime | None,
) -> Order:
    totals = quote.totals
    shipping = quote.shipping
    return Order(
        customer_id=data.customer_id,
        email=buyer.sealed_email,
        email_hash=buyer.email_hash,
        number=f"#{number}",
        order_number=number,
        currency=totals.currency,
        subtotal_price=totals.subtotal,
        total_discounts=totals.discount,
        total_shipping=totals.shipping,
        total_tax=totals.tax,
        taxes_included=totals.taxes_included,
        total_price=totals.total,
        tax_lines=quote.tax_lines,
        discount_code=quote.discount.code if quote.discount is not None else None,
        discount_code_id=quote.discount.discount_code_id if quote.discount is not None else None,
        shipping_line=(
            None
            if shipping is None
            else {"rateId": shipping.rate_id, "title": shipping.title, "price": str(shipping.price)}
        ),
        shipping_address=_address(data.shipping_address),
        billing_address=_address(data.billing_address),
        note=data.note,
        tags=", ".join(dict.fromkeys(data.tags)) or None,
        gateway=data.payment.gateway if data.payment else None,
        financial_status="pending",
        fulfillment_status="unfulfilled",
        reserved_until=reserved_until,
        processed_at=now if reserved_until is None else None,
    )


def _address(address: Any) -> dict[str, Any] | None:
    if address is None:
        return None
    dumped: dict[str, Any] = address.model_dump(by_alias=True, exclude_none=True)
    return dumped


def _allocate_lines(lines: list[OrderLineItem], quote: Quote, locations: list[int | None]) -> None:
    """Point already written lines at the locations their units were finally committed at."""
    for line, priced, location in zip(lines, quote.totals.lines, locations, strict=True):
        line.location_id = location
        line.inventory_item_id = priced.line.inventory_item_id if location is not None else None


def _new_lines(quote: Quote, locations: list[int | None]) -> list[OrderLineItem]:
    return [
        OrderLineItem(
            product_variant_id=priced.line.variant_id,
            title=priced.line.title,
            variant_title=priced.line.variant_title,
            sku=priced.line.sku,
            quantity=priced.line.quantity,
            price=priced.line.price,
            total_discount=priced.discount,
            taxable=priced.line.taxable,
            requires_shipping=priced.line.requires_shipping,
            grams=priced.line.grams,
            inventory_item_id=priced.line.inventory_item_id if location is not None else None,
            location_id=location,
            selling_plan_id=priced.line.selling_plan_id,
        )
        for priced, location in zip(quote.totals.lines, locations, strict=True)
    ]


async def _debit_gift_cards(
    repository: OrderRepository, data: OrderCreate, reservation: _Reservation, now: datetime
) -> None:
    from shopdb.gift_cards.service import debit_gift_cards

    order = reservation.order
    debits = await debit_gift_cards(
        repository.session,
        data.gift_card_codes,
        amount_due=order.total_price,
        currency=order.currency,
        order_id=order.id,
        now=now,
    )
    for debit in debits:
        transaction = OrderTransaction(
            order_id=order.id,
            kind="sale",
            gateway=GIFT_CARD_GATEWAY,
            status="success",
            amount=debit.amount,
            currency=order.currency,
            transaction_id=f"gift_card:{debit.gift_card_id}",
            authorization_code=debit.last_characters,
            gift_card_id=debit.gift_card_id,
            processed_at=now,
        )
        await repository.add_transaction(transaction, payment_method="gift_card")
        reservation.transactions.append(transaction)
        reservation.gift_cards_paid += debit.amount


# --- 3. pay ----------------------------------------------------------------------------------


async def _undo_payment(
    placement: Placement,
    gateway: PaymentGateway | None,
    reservation: _Reservation,
    data: OrderCreate,
    result: GatewayResult,
) -> bool:
    """Void the authorization (or refund the sale) that an unrecorded order would keep; if the
    gateway cannot do it now, note it on the reservation for the release job (False)."""
    assert gateway is not None
    assert data.payment is not None
    assert result.reference is not None
    kind = "sale" if data.payment.capture else "authorization"
    order = reservation.order
    try:
        undone = await undo_gateway_payment(
            gateway, order.id, kind, result.reference, result.amount, result.currency
        )
    except Exception:
        log.exception("order_payment_undo_failed", order_id=order.id)
        undone = False
    if undone:
        return True
    try:
        async with placement.transactions() as tx:
            await OrderRepository(tx).set_unsettled_payment(order.id, kind, result.reference)
    except Exception:
        log.exception("order_unsettled_payment_unrecorded", order_id=order.id)
    return False


async def _release(placement: Placement, order_id: int) -> None:
    try:
        async with placement.transactions() as tx:
            await release_reservation(tx, order_id, actor=placement.actor)
    except Exception:
        # The reservation stays until the release job (queued with it) takes it.
        log.exception("order_release_failed", order_id=order_id)


# --- 4. record -------------------------------------------------------------------------------


async def _record(
    placement: Placement,
    session: AsyncSession,
    data: OrderCreate,
    reservation: _Reservation,
    result: GatewayResult | None,
    buyer: _Buyer,
    now: datetime,
) -> PlacedOrder:
    reserved = reservation.order
    status = financial_status(
        reserved.total_price, reservation.gift_cards_paid, result, _captures(data)
    )
    order = await OrderRepository(session).mark_placed(
        reserved.id, financial_status=status, gateway=reserved.gateway, now=now
    )
    if order is None:
        raise ReservationExpired
    await open_fulfillment_orders(session, order, reservation.lines)
    return await _record_payment(placement, session, data, order, reservation, result, buyer, now)


def _captures(data: OrderCreate) -> bool:
    return data.payment.capture if data.payment is not None else True


async def _record_payment(
    placement: Placement,
    session: AsyncSession,
    data: OrderCreate,
    order: Order,
    reservation: _Reservation,
    result: GatewayResult | None,
    buyer: _Buyer,
    now: datetime,
) -> PlacedOrder:
    """The placed order's payment transaction (with its mirrors), its events and its
    confirmation email job."""
    repository = OrderRepository(session)
    capture = _captures(data)
    status = order.financial_status
    transactions = list(reservation.transactions)
    if result is not None and data.payment is not None:
        transaction = OrderTransaction(
            order_id=order.id,
            kind="sale" if capture else "authorization",
            gateway=data.payment.gateway,
            status=result.status,
            amount=result.amount,
            currency=result.currency,
            authorization_code=None if capture else result.reference,
            transaction_id=result.reference,
            card_brand=result.card_brand,
            card_last4=result.card_last4,
            processed_at=now,
        )
        await repository.add_transaction(
            transaction, payment_method="card" if result.card_last4 else data.payment.gateway
        )
        transactions.append(transaction)
    body = {
        "id": order.id,
        "number": order.number,
        "totalPrice": str(order.total_price),
        "currency": order.currency,
        "financialStatus": order.financial_status,
        "customerId": order.customer_id,
    }
    topics = ["orders/create"] + (["orders/paid"] if status == "paid" else [])
    events = [
        new_event(
            topic=topic,
            subject_type="Order",
            subject_id=order.id,
            body=body,
            actor=placement.actor,
        )
        for topic in topics
    ]
    job = new_job(ORDERS_CONFIRMATION_EMAIL, {"orderId": order.id}, actor=placement.actor)
    # One statement on PostgreSQL for the three rows: it runs in every placement.
    await write_rows(session, [*events, job])
    return PlacedOrder(order, buyer.email, reservation.lines, transactions)
