"""Issue 12's check, as a test: a couple of hundred placements race on PostgreSQL (in
transactions that really commit) for scarce stock, a code limited to 10 uses and one gift
card of 100.00; some are retried with their Idempotency-Key, some concurrently with the first;
the gateway declines, errors, and its voids fail; the record step fails for some, and the
process "dies" before releasing for others. Afterwards every total, count, balance and stock
level is summed from the database (and from what the gateway was asked) and must reconcile
to the cent, before and after the release job has run."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from shopdb.kit.types import utcnow
from shopdb.models import (
    DiscountCode,
    Event,
    GiftCard,
    IdempotencyKey,
    InventoryAdjustment,
    InventoryLevel,
    Job,
    Order,
    OrderLineItem,
    OrderTransaction,
    Payment,
    Transaction,
)
from shopdb.models.discounts import GiftCardTransaction
from shopdb.orders import placement
from shopdb.payments.gateways.base import GatewayResult
from tests.fixtures.database import Backend
from tests.idempotency.helpers import keyed
from tests.orders.conftest import Live
from tests.orders.gateways import ScriptedGateway, use_gateway
from tests.orders.helpers import (
    APPROVE,
    DECLINE,
    GATEWAY_ERROR,
    INSUFFICIENT_FUNDS,
    make_locations,
    make_variant,
    order_body,
)
from tests.orders.test_adjustments import discount_code, gift_card, shipping_rate, tax_rate
from tests.orders.test_failures import release_now

pytestmark = pytest.mark.postgres_only

BUYERS = 220
SCARCE_UNITS = 20
CODE = "RECON10"
CODE_LIMIT = 10
CARD_VALUE = Decimal("100.00")
DOOMED = "the record step fails"
CENT = Decimal("0.01")
ADDRESS = {"address1": "1 Main St", "city": "Austin", "countryCode": "US"}
FAILING_CARDS = {
    0: DECLINE,
    1: DECLINE,
    2: INSUFFICIENT_FUNDS,
    9: INSUFFICIENT_FUNDS,
    3: GATEWAY_ERROR,
    12: GATEWAY_ERROR,
}
_ORDER_IN_KEY = re.compile(r"^shopdb-order-(\d+)-")


class RecordingGateway(ScriptedGateway):
    """The scripted test gateway, also keeping each call's answer, and which orders paid with
    the card that marks a process dying before it releases."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[str, dict[str, Any], GatewayResult]] = []
        self.crashing_orders: set[int] = set()

    async def _call(self, operation: str, **arguments: Any) -> GatewayResult:
        if arguments.get("token") == INSUFFICIENT_FUNDS:
            found = _ORDER_IN_KEY.match(arguments["idempotency_key"])
            assert found is not None
            self.crashing_orders.add(int(found.group(1)))
        result = await super()._call(operation, **arguments)
        self.answers.append((operation, arguments, result))
        return result

    def kept_payments(self) -> dict[str, Decimal]:
        """Reference -> amount of every payment taken and not voided or refunded."""
        taken: dict[str, Decimal] = {}
        undone: set[str] = set()
        for operation, arguments, result in self.answers:
            if not result.succeeded:
                continue
            if operation in ("authorize", "sale"):
                assert result.reference is not None
                # The same order's retry carries the same key: the same payment, not another.
                assert taken.get(result.reference, result.amount) == result.amount
                taken[result.reference] = result.amount
            elif operation in ("void", "refund"):
                undone.add(arguments["reference"])
        assert undone <= set(taken), "undid a payment that was never taken"
        return {ref: amount for ref, amount in taken.items() if ref not in undone}


@dataclass
class Request:
    body: dict[str, Any]
    token: str
    key: str | None = None
    answers: list[httpx.Response] = field(default_factory=list)


@dataclass(frozen=True)
class Shop:
    scarce: int
    scarce_item: int
    plenty: int
    backorder: int
    untracked: int
    deny_items: set[int]
    start: dict[tuple[int, int], int]  # (item, location) -> available at the start
    card_id: int
    card_code: str
    code_id: int
    rate_id: int


@pytest.fixture(autouse=True)
def postgres_only(backend: Backend) -> None:
    if backend.name != "postgresql":
        pytest.skip("needs real concurrent transactions")


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> RecordingGateway:
    recording = RecordingGateway()
    use_gateway(monkeypatch, recording)
    return recording


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch, gateway: RecordingGateway) -> None:
    """The record step fails (after writing everything) for orders noted DOOMED; the release
    after a refused payment never happens for orders paid with INSUFFICIENT_FUNDS (the
    process died): the release job must find them."""
    record, release = placement._record, placement._release

    async def failing_record(*args: Any, **kwargs: Any) -> Any:
        placed = await record(*args, **kwargs)
        data = args[2]
        if data.note == DOOMED:
            raise RuntimeError("the database went away before the commit")
        return placed

    async def dying_release(target: Any, order_id: int) -> None:
        if order_id in gateway.crashing_orders:
            return
        await release(target, order_id)

    monkeypatch.setattr(placement, "_record", failing_record)
    monkeypatch.setattr(placement, "_release", dying_release)


@pytest.fixture
async def shop(live: Live) -> Shop:
    east, west = await make_locations(live.database, "East", "West")
    scarce = await make_variant(live.database, "19.99", {east: 12, west: 8}, title="Scarce")
    plenty = await make_variant(live.database, "7.33", {east: 600, west: 600}, title="Plenty")
    backorder = await make_variant(
        live.database, "4.10", {east: 3}, policy="continue", title="Backorder"
    )
    untracked = await make_variant(
        live.database, "2.55", {east: 0}, tracked=False, title="Untracked"
    )
    code = await discount_code(live.client, live.headers, CODE, usageLimit=CODE_LIMIT)
    card = await gift_card(live.client, live.headers, str(CARD_VALUE))
    rate_id = await shipping_rate(live.client, live.headers, "4.95")
    await tax_rate(live.client, live.headers, "0.0825")
    start = {
        (scarce.item_id, east): 12,
        (scarce.item_id, west): 8,
        (plenty.item_id, east): 600,
        (plenty.item_id, west): 600,
        (backorder.item_id, east): 3,
        (untracked.item_id, east): 0,
    }
    return Shop(
        scarce=scarce.variant_id,
        scarce_item=scarce.item_id,
        plenty=plenty.variant_id,
        backorder=backorder.variant_id,
        untracked=untracked.variant_id,
        deny_items={scarce.item_id, plenty.item_id},
        start=start,
        card_id=card["id"],
        card_code=card["code"],
        code_id=code["id"],
        rate_id=rate_id,
    )


def requests_for(shop: Shop) -> list[Request]:
    """BUYERS placements (half of them after the scarce variant), then the concurrent
    retries of some of the keyed ones."""
    rng = random.Random(12)  # a fixed mix of requests
    made: list[Request] = []
    for n in range(BUYERS):
        lines: list[tuple[int, int]] = []
        if n % 2 == 0:
            lines.append((shop.scarce, 2 if n % 6 == 0 else 1))
        lines.append((shop.plenty, rng.randint(1, 3)))
        if n % 4 == 0:
            lines.reverse()  # another line order: the lock order must not depend on it
        if n % 9 == 3:
            lines.append((shop.backorder, 1))
        if n % 11 == 4:
            lines.append((shop.untracked, 2))
        # Each failure falls on buyers of the scarce variant (even n) and on others (odd n).
        token = FAILING_CARDS.get(n % 20, APPROVE)
        fields: dict[str, Any] = {"shippingRateId": shop.rate_id, "shippingAddress": ADDRESS}
        if n % 5 == 1:
            fields["discountCode"] = CODE
        if n % 7 == 2:
            fields["giftCardCodes"] = [shop.card_code]
        if n % 20 in (4, 15):
            fields["note"] = DOOMED
        body = order_body(*lines, **fields)
        body["payment"] = {"gateway": "test", "token": token, "capture": n % 3 != 0}
        key = f"recon-{n}" if n % 12 == 5 else None
        made.append(Request(body, token, key))
    duplicates = [r for r in made if r.key and int(r.key[6:]) % 24 == 5]
    made.extend(Request(r.body, r.token, r.key) for r in duplicates)
    return made


def outcome(response: httpx.Response) -> str:
    if response.status_code == 201:
        return "201"
    return f"{response.status_code} {response.json().get('code')}"


REFUSED = {
    "409 INSUFFICIENT_INVENTORY",
    "409 DISCOUNT_USAGE_LIMIT_REACHED",
    "422 GIFT_CARD_EMPTY",
}


def allowed(request: Request) -> set[str]:
    """What a request may answer: a business refusal before payment, else its card's answer;
    a gift card may cover the whole total, and then the card is never asked."""
    found = set(REFUSED)
    if request.key is not None:
        found.add("409 IDEMPOTENCY_KEY_IN_USE")  # a retry that waited longer than its bound
    doomed = request.body.get("note") == DOOMED
    by_card = {
        APPROVE: "201",
        DECLINE: "402 PAYMENT_DECLINED",
        INSUFFICIENT_FUNDS: "402 PAYMENT_DECLINED",
        GATEWAY_ERROR: "502 PAYMENT_GATEWAY_ERROR",
    }[request.token]
    found.add("500 INTERNAL_ERROR" if doomed and by_card == "201" else by_card)
    if "giftCardCodes" in request.body:
        found.add("500 INTERNAL_ERROR" if doomed else "201")
    return found


async def send(live: Live, request: Request) -> None:
    headers = live.headers if request.key is None else keyed(live.headers, request.key)
    response = await live.client.post("/api/v1/orders", json=request.body, headers=headers)
    request.answers.append(response)


async def expire_reservations(live: Live) -> None:
    async with live.database.session() as session:
        await session.execute(
            update(Order)
            .where(Order.reserved_until.is_not(None))
            .values(reserved_until=utcnow() - timedelta(seconds=1))
        )


class TestReconciliation:
    async def test_hundreds_of_racing_orders_reconcile_to_the_cent(
        self, live: Live, shop: Shop, gateway: RecordingGateway, failures: None
    ) -> None:
        gateway.errors.add("void")  # a void fails: the authorization waits for the job
        requests = requests_for(shop)
        assert 220 <= len(requests) <= 300
        # Keyed requests hold their claim's connection throughout: fewer than the pool (40).
        assert sum(r.key is not None for r in requests) <= 30

        await asyncio.wait_for(asyncio.gather(*(send(live, r) for r in requests)), timeout=50)
        # Retried after the race: a finished key replays, a failed one runs again.
        retried = list({r.key: r for r in requests if r.key}.values())
        await asyncio.wait_for(asyncio.gather(*(send(live, r) for r in retried)), timeout=30)

        unexpected = [
            (r.body, outcome(a), a.text)
            for r in requests
            for a in r.answers
            if outcome(a) not in allowed(r)
        ]
        assert unexpected == []
        seen = Counter(outcome(a) for r in requests for a in r.answers)
        for expected in (
            "201",
            "402 PAYMENT_DECLINED",
            "502 PAYMENT_GATEWAY_ERROR",
            "500 INTERNAL_ERROR",
            "409 INSUFFICIENT_INVENTORY",
            "409 DISCOUNT_USAGE_LIMIT_REACHED",
        ):
            assert seen[expected] > 0, (expected, seen)
        for r in requests:
            for a in r.answers:
                if outcome(a) == "409 INSUFFICIENT_INVENTORY":
                    assert str(shop.scarce) in a.json()["details"][0]["message"], a.text

        # A key answers 201 with one order, byte for byte the same every time.
        by_key: dict[str, set[bytes]] = defaultdict(set)
        answered: dict[int, dict[str, Any]] = {}
        for r in requests:
            for a in r.answers:
                if a.status_code == 201:
                    answered[a.json()["id"]] = a.json()
                    if r.key is not None:
                        by_key[r.key].add(a.content)
        assert by_key
        assert all(len(bodies) == 1 for bodies in by_key.values()), by_key
        replays = [a for r in requests for a in r.answers if a.headers.get("Idempotent-Replayed")]
        assert replays

        # Before the job: what is left reserved is exactly what the failures left behind.
        async with live.database.session() as session:
            reserved = list(
                await session.scalars(
                    select(Order.id).where(Order.reserved_until.is_not(None)).order_by(Order.id)
                )
            )
            rows = await session.execute(
                select(Order.id, Order.unsettled_payment_reference).where(
                    Order.unsettled_payment_kind == "authorization"
                )
            )
            unsettled = {row[0]: row[1] for row in rows}
        assert set(reserved) == gateway.crashing_orders | set(unsettled)
        assert unsettled, "no void failed: the job's part was not exercised"
        await check_books(live, shop, gateway, answered)

        gateway.errors.clear()
        await expire_reservations(live)
        await release_now(live)

        async with live.database.session() as session:
            left = await session.scalar(
                select(func.count()).select_from(Order).where(Order.reserved_until.is_not(None))
            )
        assert left == 0
        voided = {
            a["reference"] for op, a, res in gateway.answers if op == "void" and res.succeeded
        }
        assert set(unsettled.values()) <= voided
        await check_books(live, shop, gateway, answered)
        await check_what_is_left_sells_exactly(live, shop)


async def check_books(
    live: Live, shop: Shop, gateway: RecordingGateway, answered: dict[int, dict[str, Any]]
) -> None:
    """Every placed order, its lines, payments and mirrors, the stock, the code and the card,
    summed from the database."""
    async with live.database.session() as session:
        orders = list(
            await session.scalars(
                select(Order).where(Order.reserved_until.is_(None)).order_by(Order.id)
            )
        )
        placed = {o.id for o in orders}
        reservations = set(
            await session.scalars(select(Order.id).where(Order.reserved_until.is_not(None)))
        )
        every_line = list(await session.scalars(select(OrderLineItem)))
        transactions = list(await session.scalars(select(OrderTransaction)))
        mirrors = (
            await session.execute(
                select(
                    Transaction.order_transaction_id,
                    Transaction.type,
                    Transaction.status,
                    Transaction.amount,
                    Transaction.reference,
                    Payment.order_id,
                    Payment.gateway,
                ).join(Payment, Payment.id == Transaction.payment_id)
            )
        ).all()
        levels = (
            await session.execute(
                select(
                    InventoryLevel.inventory_item_id,
                    InventoryLevel.location_id,
                    InventoryLevel.available,
                    InventoryLevel.committed,
                )
            )
        ).all()
        logged = (
            await session.execute(
                select(
                    InventoryAdjustment.inventory_item_id,
                    InventoryAdjustment.location_id,
                    InventoryAdjustment.quantity_name,
                    func.sum(InventoryAdjustment.quantity_adjustment),
                ).group_by(
                    InventoryAdjustment.inventory_item_id,
                    InventoryAdjustment.location_id,
                    InventoryAdjustment.quantity_name,
                )
            )
        ).all()
        used = await session.scalar(
            select(DiscountCode.used_count).where(DiscountCode.id == shop.code_id)
        )
        balance = await session.scalar(select(GiftCard.balance).where(GiftCard.id == shop.card_id))
        ledger = (
            await session.execute(
                select(GiftCardTransaction.order_id, GiftCardTransaction.amount).where(
                    GiftCardTransaction.gift_card_id == shop.card_id
                )
            )
        ).all()
        created = Counter(
            await session.scalars(select(Event.subject_id).where(Event.topic == "orders/create"))
        )
        emails = Counter(
            await session.scalars(
                select(Job.payload["orderId"].as_integer()).where(
                    Job.kind == "orders/confirmation_email"
                )
            )
        )
        keys = (
            await session.execute(
                select(IdempotencyKey.key, IdempotencyKey.response_body).where(
                    IdempotencyKey.response_status == 201
                )
            )
        ).all()

    # Orders: exactly those answered 201, numbered uniquely; no line or payment of any other.
    assert placed == set(answered)
    assert len({o.order_number for o in orders}) == len(orders)
    numbers = [o.order_number for o in orders]
    assert all(n is not None and n >= 1001 for n in numbers)
    assert all(o.number == f"#{o.order_number}" for o in orders)
    assert not placed & reservations
    assert {line.order_id for line in every_line} <= placed | reservations
    assert {t.order_id for t in transactions} <= placed | reservations
    assert {m.order_id for m in mirrors} <= placed | reservations
    lines = [line for line in every_line if line.order_id in placed]
    reserved_lines = [line for line in every_line if line.order_id in reservations]
    stored_orders = [json.loads(saved["body"])["id"] for _, saved in keys]
    assert len(stored_orders) == len(set(stored_orders))  # one key, one order, and vice versa
    assert set(stored_orders) <= placed

    # Totals, to the cent.
    lines_of: dict[int, list[OrderLineItem]] = defaultdict(list)
    for line in lines:
        lines_of[line.order_id].append(line)
    paid_of: dict[int, Decimal] = defaultdict(Decimal)
    for t in transactions:
        if t.status == "success":
            paid_of[t.order_id] += t.amount
    for o in orders:
        mine = lines_of[o.id]
        assert mine, o.id
        amounts = [
            o.subtotal_price,
            o.total_discounts,
            o.total_shipping,
            o.total_tax,
            o.total_price,
        ]
        assert all(a == a.quantize(CENT) and a >= 0 for a in amounts), (o.id, amounts)
        assert sum(line.price * line.quantity for line in mine) == o.subtotal_price
        assert sum(line.total_discount for line in mine) == o.total_discounts
        assert not o.taxes_included
        assert (
            o.subtotal_price - o.total_discounts + o.total_shipping + o.total_tax == o.total_price
        )
        assert paid_of[o.id] == o.total_price, o.id
        assert o.financial_status in ("paid", "authorized"), o.id
        assert o.total_price == Decimal(answered[o.id]["totalPrice"])
        assert created[o.id] == 1
        assert emails[o.id] == 1
    assert set(created) <= placed
    assert set(emails) <= placed

    # The payments mirror (payments/transactions) agrees with order_transactions, row by row.
    truth = sorted(
        (t.id, t.kind, t.status, t.amount, t.transaction_id, t.order_id, t.gateway)
        for t in transactions
    )
    assert sorted(tuple(m) for m in mirrors) == truth

    # The gateway kept exactly the payments of placed orders; everything else was undone.
    cards: dict[str | None, Decimal] = {
        t.transaction_id: t.amount
        for t in transactions
        if t.gateway == "test" and t.status == "success"
    }
    kept = gateway.kept_payments()
    unsettled_refs: dict[str | None, Decimal] = {}
    async with live.database.session() as session:
        for ref, total, order_id in await session.execute(
            select(Order.unsettled_payment_reference, Order.total_price, Order.id).where(
                Order.unsettled_payment_reference.is_not(None), Order.reserved_until.is_not(None)
            )
        ):
            unsettled_refs[ref] = total - sum(
                (t.amount for t in transactions if t.order_id == order_id and t.gift_card_id),
                Decimal(0),
            )
    assert kept == {**cards, **unsettled_refs}

    # Stock: every level moved only between available and committed, committed is what placed
    # orders hold, deny variants never below zero, and the adjustment log sums to each move.
    held: dict[tuple[int, int], int] = defaultdict(int)
    for line in [*lines, *reserved_lines]:
        if line.inventory_item_id is not None and line.location_id is not None:
            held[(line.inventory_item_id, line.location_id)] += line.quantity
    moves = {(item, loc, name): int(total) for item, loc, name, total in logged}
    for item, loc, available, committed in levels:
        if (item, loc) not in shop.start:
            continue
        start = shop.start[(item, loc)]
        assert available + committed == start, (item, loc)
        assert committed == held[(item, loc)], (item, loc)
        if item in shop.deny_items:
            assert available >= 0, (item, loc)
        assert moves.get((item, loc, "available"), 0) == available - start
        assert moves.get((item, loc, "committed"), 0) == committed
    scarce_sold = sum(
        line.quantity for line in lines if line.product_variant_id == shop.scarce
    ) + sum(line.quantity for line in reserved_lines if line.product_variant_id == shop.scarce)
    assert 0 < scarce_sold <= SCARCE_UNITS

    # The code: counted once per order that carries it, never past its limit.
    discounted = [o for o in orders if o.discount_code_id == shop.code_id]
    async with live.database.session() as session:
        reserved_with_code = await session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.reserved_until.is_not(None), Order.discount_code_id == shop.code_id)
        )
    assert used == len(discounted) + int(reserved_with_code or 0)
    assert 0 < len(discounted) <= CODE_LIMIT
    assert all(o.total_discounts > 0 for o in discounted)
    assert all(o.total_discounts == 0 for o in orders if o.discount_code_id is None)

    # The card: its balance is what placed orders (and live reservations) took from it, and its
    # ledger says the same; an order that was not placed took nothing in the end.
    assert balance is not None
    debited = sum(
        (
            t.amount
            for t in transactions
            # A live reservation's debit is counted once, from the ledger, below.
            if t.gift_card_id == shop.card_id
            and t.status == "success"
            and t.order_id not in reservations
        ),
        Decimal(0),
    )
    reserved_debit = sum(
        (-amount for order_id, amount in ledger if order_id in reservations), Decimal(0)
    )
    assert balance == CARD_VALUE - debited - reserved_debit
    assert balance >= 0
    assert sum((amount for _, amount in ledger), Decimal(0)) == balance
    net: dict[int | None, Decimal] = defaultdict(Decimal)
    for owner, change in ledger:
        net[owner] += change
    for owner, change in net.items():
        if owner is None:
            assert change == CARD_VALUE  # the card's issue
        elif owner in placed:
            assert -change == sum(
                (t.amount for t in transactions if t.order_id == owner and t.gift_card_id),
                Decimal(0),
            )
        elif owner not in reservations:
            assert change == 0, owner


async def check_what_is_left_sells_exactly(live: Live, shop: Shop) -> None:
    """The counters are exact, not merely consistent: what they say is left can be bought,
    and not one unit (or use, or cent) more."""
    async with live.database.session() as session:
        scarce_left = await session.scalar(
            select(func.sum(InventoryLevel.available)).where(
                InventoryLevel.inventory_item_id == shop.scarce_item
            )
        )
        uses = await session.scalar(
            select(DiscountCode.used_count).where(DiscountCode.id == shop.code_id)
        )
        balance = await session.scalar(select(GiftCard.balance).where(GiftCard.id == shop.card_id))
    assert scarce_left is not None
    assert uses is not None
    assert balance is not None
    for _ in range(int(scarce_left)):
        bought = await send_one(live, order_body((shop.scarce, 1)))
        assert bought.status_code == 201, bought.text
    refused = await send_one(live, order_body((shop.scarce, 1)))
    assert refused.status_code == 409, refused.text
    for _ in range(CODE_LIMIT - uses):
        bought = await send_one(live, order_body((shop.plenty, 1), discountCode=CODE))
        assert bought.status_code == 201, bought.text
    refused = await send_one(live, order_body((shop.plenty, 1), discountCode=CODE))
    assert refused.json()["code"] == "DISCOUNT_USAGE_LIMIT_REACHED", refused.text
    if balance > 0:
        spent = await send_one(live, order_body((shop.plenty, 100), giftCardCodes=[shop.card_code]))
        assert spent.status_code == 201, spent.text
        paid = [t for t in spent.json()["transactions"] if t["gateway"] == "gift_card"]
        assert [Decimal(t["amount"]) for t in paid] == [balance]
    refused = await send_one(live, order_body((shop.plenty, 1), giftCardCodes=[shop.card_code]))
    assert refused.json()["code"] == "GIFT_CARD_EMPTY", refused.text


async def send_one(live: Live, body: dict[str, Any]) -> httpx.Response:
    return await live.client.post("/api/v1/orders", json=body, headers=live.headers)
