"""Issue 13's check, as a test: many placed orders (paid and only authorized, lines at two
locations, tracked, oversold and untracked items) get random sequences of captures, voids,
money refunds, refunds of lines with each restock type, cancellations, fulfillments and their
cancellations, and returns opened, closed (with and without their refund) and cancelled, all
at once over HTTP on PostgreSQL, in transactions that really commit; some operations on the
same order are sent concurrently with each other. Each operation may be refused only as it
documents (422 or 409). Afterwards, for every order, from the database: the transactions add
up to its financial status, no line is over-fulfilled, over-refunded or over-returned, the
stock that came back is the stock restocked (levels and adjustment log agree with the lines),
every mirror agrees with its source of truth, every refund transaction (money refunds sent
through /transactions too) belongs to exactly one refund, and the order's fulfillment-status
events replay to its fulfillment status, each transition recording its own event once."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from shopdb.keys import field_cipher
from shopdb.models import (
    Event,
    FulfillmentEnhanced,
    FulfillmentLineItem,
    InventoryAdjustment,
    InventoryLevel,
    Order,
    OrderFulfillment,
    OrderLineItem,
    OrderRefund,
    OrderRefundLineItem,
    OrderRefundTransaction,
    OrderTransaction,
    Payment,
    Refund,
    Return,
    ReturnLineItem,
    Transaction,
    TransactionEnhanced,
)
from shopdb.orders.schemas import OrderSummary
from shopdb.orders.service import get_order
from shopdb.services import services_of
from tests.fixtures.database import Backend
from tests.orders.conftest import Live
from tests.orders.helpers import ORDERS, make_locations, make_variant, order_body

pytestmark = pytest.mark.postgres_only

ORDER_COUNT = 40
STEPS = 12
SEED = 13
ZERO = Decimal(0)
CENT = Decimal("0.01")
# What each operation may answer besides success: its documented refusals.
REFUSALS = {422, 409}
REASONS = ["customer", "fraud", "inventory", "declined", "other"]
RETURN_REASONS = ["defective", "size_too_small", "unwanted", "wrong_item", "unknown"]


@pytest.fixture(autouse=True)
def postgres_only(backend: Backend) -> None:
    if backend.name != "postgresql":
        pytest.skip("needs real concurrent transactions")


@dataclass(frozen=True)
class Shop:
    east: int
    west: int
    start: dict[tuple[int, int], int]  # (item, location) -> available at the start
    variants: list[int]
    deny_items: set[int]


@dataclass
class Sent:
    order_id: int
    operation: str
    status: int
    code: str | None
    body: dict[str, Any]
    text: str


@dataclass
class Driven:
    """One order as the driver knows it: its lines and what its answers created."""

    order: dict[str, Any]
    rng: random.Random
    fulfillments: list[int] = field(default_factory=list)
    open_returns: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.order["id"])

    @property
    def lines(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = self.order["lineItems"]
        return lines


Operation = Callable[[httpx.AsyncClient, dict[str, str], Driven], Awaitable[None]]


async def _send(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    driven: Driven,
    operation: str,
    path: str,
    body: dict[str, Any] | None,
) -> httpx.Response:
    response = await client.post(f"{ORDERS}/{driven.id}{path}", json=body, headers=headers)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    code = answer.get("code") if isinstance(answer, dict) and response.status_code >= 400 else None
    driven.sent.append(
        Sent(driven.id, operation, response.status_code, code, body or {}, response.text)
    )
    return response


def _some_lines(driven: Driven) -> list[dict[str, Any]]:
    """One to all of the order's lines, mostly one unit each (more is refused more often)."""
    rng = driven.rng
    chosen = rng.sample(driven.lines, rng.randint(1, len(driven.lines)))
    return [
        {"line": line, "quantity": 1 if rng.random() < 0.6 else rng.randint(1, line["quantity"])}
        for line in chosen
    ]


# --- the operations -----------------------------------------------------------------------


async def capture(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    body: dict[str, Any] = {"kind": "capture"}
    if driven.rng.random() < 0.5:
        total = Decimal(driven.order["totalPrice"])
        body["amount"] = str(
            (total * Decimal(driven.rng.choice([25, 50, 60])) / 100).quantize(CENT)
        )
    await _send(client, headers, driven, "capture", "/transactions", body)


async def void(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    await _send(client, headers, driven, "void", "/transactions", {"kind": "void"})


async def money_refund(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    amount = driven.rng.choice(["1.00", "5.00", "12.34"])
    await _send(
        client,
        headers,
        driven,
        "money_refund",
        "/transactions",
        {"kind": "refund", "amount": amount},
    )


async def refund(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    rng = driven.rng
    items = []
    for chosen in _some_lines(driven):
        item: dict[str, Any] = {
            "lineItemId": chosen["line"]["id"],
            "quantity": chosen["quantity"],
            "restockType": rng.choice(["no_restock", "cancel", "return"]),
        }
        items.append(item)
    body: dict[str, Any] = {"refundLineItems": items, "note": "reconciliation"}
    if rng.random() < 0.3:
        body["shipping"] = {"fullRefund": True}
    await _send(client, headers, driven, "refund", "/refunds", body)


async def cancel(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    rng = driven.rng
    body = {
        "reason": rng.choice(REASONS),
        "restock": rng.random() < 0.8,
        "refund": rng.random() < 0.5,
    }
    await _send(client, headers, driven, "cancel", "/cancel", body)


async def fulfil(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    body: dict[str, Any] = {"trackingNumbers": [f"TRACK-{driven.id}-{len(driven.sent)}"]}
    if driven.rng.random() < 0.7:
        body["lineItems"] = [
            {"id": chosen["line"]["id"], "quantity": chosen["quantity"]}
            for chosen in _some_lines(driven)
        ]
    response = await _send(client, headers, driven, "fulfil", "/fulfillments", body)
    if response.status_code == 201:
        driven.fulfillments.append(response.json()["id"])


async def cancel_fulfillment(
    client: httpx.AsyncClient, headers: dict[str, str], driven: Driven
) -> None:
    if not driven.fulfillments:
        await fulfil(client, headers, driven)
        return
    fulfillment_id = driven.rng.choice(driven.fulfillments)
    await _send(
        client,
        headers,
        driven,
        "cancel_fulfillment",
        f"/fulfillments/{fulfillment_id}/cancel",
        None,
    )


async def open_return(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    rng = driven.rng
    body = {
        "returnLineItems": [
            {
                "lineItemId": chosen["line"]["id"],
                "quantity": chosen["quantity"],
                "reason": rng.choice(RETURN_REASONS),
            }
            for chosen in _some_lines(driven)
        ]
    }
    response = await _send(client, headers, driven, "open_return", "/returns", body)
    if response.status_code == 201:
        driven.open_returns.append(response.json())


async def close_return(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    rng = driven.rng
    if not driven.open_returns:
        await open_return(client, headers, driven)
        return
    opened = driven.open_returns.pop(rng.randrange(len(driven.open_returns)))
    body: dict[str, Any] = {"refund": rng.random() < 0.5}
    if rng.random() < 0.6:
        body["lineItems"] = [
            {"returnLineItemId": r["id"], "receivedQuantity": rng.randint(0, r["quantity"])}
            for r in opened["returnLineItems"]
        ]
    await _send(client, headers, driven, "close_return", f"/returns/{opened['id']}/close", body)


async def cancel_return(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    if not driven.open_returns:
        await open_return(client, headers, driven)
        return
    opened = driven.open_returns.pop(driven.rng.randrange(len(driven.open_returns)))
    await _send(client, headers, driven, "cancel_return", f"/returns/{opened['id']}/cancel", None)


OPERATIONS: list[tuple[Operation, int]] = [
    (capture, 3),
    (void, 1),
    (money_refund, 1),
    (refund, 3),
    (cancel, 1),
    (fulfil, 4),
    (cancel_fulfillment, 1),
    (open_return, 3),
    (close_return, 3),
    (cancel_return, 1),
]


async def drive(client: httpx.AsyncClient, headers: dict[str, str], driven: Driven) -> None:
    """STEPS random operations on one order; now and then two of them at once."""
    operations = [op for op, _ in OPERATIONS]
    weights = [w for _, w in OPERATIONS]
    for _ in range(STEPS):
        first = driven.rng.choices(operations, weights)[0]
        # A read beside each step: its document (stored.py) is stored while the order changes.
        read = read_order(client, headers, driven.id)
        if driven.rng.random() < 0.25:
            second = driven.rng.choices(operations, weights)[0]
            await asyncio.gather(
                first(client, headers, driven), second(client, headers, driven), read
            )
        else:
            await asyncio.gather(first(client, headers, driven), read)


async def read_order(client: httpx.AsyncClient, headers: dict[str, str], order_id: int) -> None:
    answer = await client.get(f"{ORDERS}/{order_id}", headers=headers)
    assert answer.status_code == 200, answer.text


# --- the shop and its orders ------------------------------------------------------------------


@pytest.fixture
async def shop(live: Live) -> Shop:
    east, west = await make_locations(live.database, "East", "West")
    tee = await make_variant(live.database, "19.99", {east: 400, west: 400}, title="Tee")
    mug = await make_variant(live.database, "7.35", {east: 300, west: 300}, title="Mug")
    backorder = await make_variant(
        live.database, "4.10", {east: 2, west: 0}, policy="continue", title="Backorder"
    )
    untracked = await make_variant(
        live.database, "2.55", {east: 0}, tracked=False, title="Untracked"
    )
    start = {
        (tee.item_id, east): 400,
        (tee.item_id, west): 400,
        (mug.item_id, east): 300,
        (mug.item_id, west): 300,
        (backorder.item_id, east): 2,
        (backorder.item_id, west): 0,
        (untracked.item_id, east): 0,
    }
    return Shop(
        east=east,
        west=west,
        start=start,
        variants=[tee.variant_id, mug.variant_id, backorder.variant_id, untracked.variant_id],
        deny_items={tee.item_id, mug.item_id},
    )


async def place_orders(live: Live, shop: Shop) -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    bodies = []
    for n in range(ORDER_COUNT):
        count = rng.randint(1, 3)
        variants = rng.sample(shop.variants, count)
        lines = [(v, rng.randint(1, 4)) for v in variants]
        body = order_body(*lines)
        body["payment"]["capture"] = n % 2 == 0
        body["locationId"] = shop.east if n % 3 else shop.west
        bodies.append(body)
    answers = await asyncio.gather(
        *(live.client.post(ORDERS, json=body, headers=live.headers) for body in bodies)
    )
    assert [a.status_code for a in answers] == [201] * ORDER_COUNT, [
        a.text for a in answers if a.status_code != 201
    ]
    return [a.json() for a in answers]


class TestLifecycleReconciliation:
    async def test_random_concurrent_lifecycles_reconcile_for_every_order(
        self, live: Live, shop: Shop
    ) -> None:
        orders = await place_orders(live, shop)
        driven = [Driven(order, random.Random(SEED * 1000 + n)) for n, order in enumerate(orders)]

        await asyncio.wait_for(
            asyncio.gather(*(drive(live.client, live.headers, d) for d in driven)), timeout=240
        )

        every = [s for d in driven for s in d.sent]
        unexpected = [
            (s.operation, s.status, s.text)
            for s in every
            if not (200 <= s.status < 300 or s.status in REFUSALS)
        ]
        assert unexpected == []
        done = Counter(s.operation for s in every if s.status < 300)
        refused = Counter(f"{s.operation} {s.status} {s.code}" for s in every if s.status >= 300)
        # The mix really exercised every operation, and each was sometimes refused.
        for operation, _ in OPERATIONS:
            assert done[operation.__name__] > 0, (operation.__name__, done, refused)
        books = await read_books(live, [d.id for d in driven])
        assert set(books.orders) == {d.id for d in driven}

        def story(order_id: int) -> str:
            """What was sent to the order, in the order the answers came."""
            told = [
                f"{s.operation} {s.status} {s.code or ''} {s.body}"
                for s in every
                if s.order_id == order_id
            ]
            return f"order {order_id}: " + " | ".join(told)

        problems = {
            "documents": await document_problems(live, [d.id for d in driven]),
            "money": money_problems(books),
            "lines": line_problems(books, story),
            "stock": stock_problems(books, shop),
            "mirrors": mirror_problems(books),
            "returns": return_problems(books, every),
            "fulfillment events": fulfillment_event_problems(books),
        }
        for kind, found in problems.items():
            print(f"{kind}: {len(found)} problem(s)", *found, sep="\n  ")  # shown on failure
        assert {kind: len(found) for kind, found in problems.items()} == dict.fromkeys(problems, 0)


async def document_problems(live: Live, order_ids: list[int]) -> list[str]:
    """Each order as GET and the list answer it (stored documents, orders/stored.py), against
    the order built from its rows now by the models: never a document older than the order."""
    found: list[str] = []
    cipher = field_cipher(services_of(live.app).settings)
    async with live.database.session() as session:
        built = {i: await get_order(session, cipher, i) for i in order_ids}
    for order_id, detail in built.items():
        answer = await live.client.get(f"{ORDERS}/{order_id}", headers=live.headers)
        if answer.content != detail.model_dump_json(by_alias=True).encode():
            found.append(f"order {order_id}: GET answered {answer.text}")
    listed = await live.client.get(
        ORDERS, params={"pageSize": 250, "sortBy": "updatedAt"}, headers=live.headers
    )
    summaries = {s["id"]: s for s in listed.json()["items"]}
    assert set(built) <= set(summaries)
    for order_id, detail in built.items():
        summary = OrderSummary.model_validate(detail.model_dump())
        if summaries[order_id] != orjson.loads(summary.model_dump_json(by_alias=True)):
            found.append(f"order {order_id}: the list answered {summaries[order_id]}")
    return found


# --- the books --------------------------------------------------------------------------------


@dataclass
class Books:
    """Everything the checks read, for the driven orders, in one session."""

    orders: dict[int, Order]
    lines: list[OrderLineItem]
    transactions: list[OrderTransaction]
    payment_mirror: list[tuple[Any, ...]]
    enhanced: list[TransactionEnhanced]
    fulfilled_units: list[tuple[Any, ...]]
    fulfillments: list[FulfillmentEnhanced]
    fulfillment_mirror: list[OrderFulfillment]
    refunds: list[OrderRefund]
    refund_lines: list[OrderRefundLineItem]
    refund_links: list[tuple[Any, ...]]
    returns: list[Return]
    return_lines: list[ReturnLineItem]
    levels: dict[tuple[int, int], tuple[int, int]]
    logged: dict[tuple[int, int, str], int]
    return_topics: Counter[str]
    # (order id, topic, body) of the orders' fulfillment-status events, in the order recorded
    fulfillment_events: list[tuple[int, str, Any]]


async def read_books(live: Live, order_ids: list[int]) -> Books:
    async with live.database.session() as session:

        async def rows(statement: Any) -> list[Any]:
            return list(await session.scalars(statement))

        async def tuples(statement: Any) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in await session.execute(statement)]

        mine = OrderRefund.order_id.in_(order_ids)
        return Books(
            orders={o.id: o for o in await rows(select(Order).where(Order.id.in_(order_ids)))},
            lines=await rows(select(OrderLineItem).where(OrderLineItem.order_id.in_(order_ids))),
            transactions=await rows(
                select(OrderTransaction)
                .where(OrderTransaction.order_id.in_(order_ids))
                .order_by(OrderTransaction.id)
            ),
            payment_mirror=await tuples(
                select(
                    Transaction.order_transaction_id,
                    Transaction.type,
                    Transaction.status,
                    Transaction.amount,
                    Transaction.reference,
                    Payment.order_id,
                    Payment.gateway,
                )
                .join(Payment, Payment.id == Transaction.payment_id)
                .where(Payment.order_id.in_(order_ids))
            ),
            enhanced=await rows(
                select(TransactionEnhanced).where(TransactionEnhanced.order_id.in_(order_ids))
            ),
            fulfilled_units=await tuples(
                select(
                    FulfillmentLineItem.line_item_id,
                    FulfillmentEnhanced.status,
                    func.sum(FulfillmentLineItem.quantity),
                )
                .join(
                    FulfillmentEnhanced,
                    FulfillmentEnhanced.id == FulfillmentLineItem.fulfillment_id,
                )
                .where(FulfillmentEnhanced.order_id.in_(order_ids))
                .group_by(FulfillmentLineItem.line_item_id, FulfillmentEnhanced.status)
            ),
            fulfillments=await rows(
                select(FulfillmentEnhanced).where(FulfillmentEnhanced.order_id.in_(order_ids))
            ),
            fulfillment_mirror=await rows(
                select(OrderFulfillment).where(OrderFulfillment.order_id.in_(order_ids))
            ),
            refunds=await rows(select(OrderRefund).where(mine)),
            refund_lines=await rows(
                select(OrderRefundLineItem)
                .join(OrderRefund, OrderRefund.id == OrderRefundLineItem.order_refund_id)
                .where(mine)
            ),
            refund_links=await tuples(
                select(
                    OrderRefundTransaction.order_refund_id,
                    OrderRefundTransaction.order_transaction_id,
                    Refund.amount,
                    Refund.status,
                )
                .join(OrderRefund, OrderRefund.id == OrderRefundTransaction.order_refund_id)
                .outerjoin(Refund, Refund.id == OrderRefundTransaction.refund_id)
                .where(mine)
            ),
            returns=await rows(select(Return).where(Return.order_id.in_(order_ids))),
            return_lines=await rows(
                select(ReturnLineItem)
                .join(Return, Return.id == ReturnLineItem.return_id)
                .where(Return.order_id.in_(order_ids))
            ),
            levels={
                (item, location): (int(available), int(committed))
                for item, location, available, committed in await tuples(
                    select(
                        InventoryLevel.inventory_item_id,
                        InventoryLevel.location_id,
                        InventoryLevel.available,
                        InventoryLevel.committed,
                    )
                )
            },
            logged={
                (item, location, name): int(total)
                for item, location, name, total in await tuples(
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
            },
            return_topics=Counter(
                await rows(select(Event.topic).where(Event.topic.like("returns/%")))
            ),
            fulfillment_events=await tuples(
                select(Event.subject_id, Event.topic, Event.body)
                .where(
                    Event.subject_type == "Order",
                    Event.subject_id.in_(order_ids),
                    Event.topic.in_(TRANSITION_TOPICS.values()),
                )
                .order_by(Event.id)
            ),
        )


def expected_financial_status(order: Order, transactions: list[OrderTransaction]) -> str:
    """Shopify's financial status from the successful transactions' sums."""
    ok = [t for t in transactions if t.status == "success"]
    captured = sum((t.amount for t in ok if t.kind in ("capture", "sale")), ZERO)
    refunded = sum((t.amount for t in ok if t.kind == "refund"), ZERO)
    voided = {t.parent_id for t in ok if t.kind == "void"}
    captured_of: dict[int | None, Decimal] = defaultdict(Decimal)
    for t in ok:
        if t.kind == "capture":
            captured_of[t.parent_id] += t.amount
    held = sum(
        (
            max(t.amount - captured_of[t.id], ZERO)
            for t in ok
            if t.kind == "authorization" and t.id not in voided
        ),
        ZERO,
    )
    if refunded > 0:
        return "refunded" if refunded >= captured else "partially_refunded"
    if captured >= order.total_price and captured > 0:
        return "paid"
    if captured > 0:
        return "partially_paid"
    if held > 0:
        return "authorized"
    if voided:
        return "voided"
    return "pending"


def money_problems(books: Books) -> list[str]:
    """The transactions add up to each order's financial status; no capture takes more than
    its authorization, no refund more than its capture; each refund is what its successful
    transactions gave back, mirrored on the payment side."""
    problems: list[str] = []
    by_order: dict[int, list[OrderTransaction]] = defaultdict(list)
    for t in books.transactions:
        by_order[t.order_id].append(t)
    for order_id, order in books.orders.items():
        mine = by_order[order_id]
        expected = expected_financial_status(order, mine)
        if order.financial_status != expected:
            told = [(t.kind, t.status, str(t.amount), t.parent_id) for t in mine]
            problems.append(f"order {order_id}: {order.financial_status}, not {expected}: {told}")
        ok = [t for t in mine if t.status == "success"]
        captured = sum((t.amount for t in ok if t.kind in ("capture", "sale")), ZERO)
        refunded = sum((t.amount for t in ok if t.kind == "refund"), ZERO)
        if not ZERO <= refunded <= captured <= order.total_price:
            problems.append(f"order {order_id}: refunded {refunded}, captured {captured}")
        for parent in ok:
            children = [t for t in ok if t.parent_id == parent.id]
            took = sum((t.amount for t in children if t.kind == "capture"), ZERO)
            back = sum((t.amount for t in children if t.kind == "refund"), ZERO)
            voided = any(t.kind == "void" for t in children)
            if took > parent.amount or (voided and took > 0):
                problems.append(f"authorization {parent.id}: captured {took}, voided {voided}")
            if back > parent.amount:
                problems.append(f"{parent.kind} {parent.id}: refunded {back} of {parent.amount}")
    by_id = {t.id: t for t in books.transactions}
    refunded_by: dict[int, Decimal] = defaultdict(Decimal)
    for refund_id, transaction_id, mirrored_amount, mirrored_status in books.refund_links:
        t = by_id[transaction_id]
        if t.kind != "refund":
            problems.append(f"refund {refund_id} links {t.kind} {t.id}")
        if t.status == "success":
            refunded_by[refund_id] += t.amount
        if t.gateway != "gift_card" and (mirrored_amount, mirrored_status) != (t.amount, t.status):
            problems.append(f"refund transaction {t.id}: mirrored {mirrored_amount}")
    for r in books.refunds:
        if r.amount != refunded_by[r.id]:
            problems.append(f"refund {r.id}: amount {r.amount}, transactions {refunded_by[r.id]}")
    # Every refund transaction, whichever request made it, belongs to exactly one refund.
    linked = Counter(transaction_id for _, transaction_id, _, _ in books.refund_links)
    for t in books.transactions:
        if t.kind == "refund" and linked[t.id] != 1:
            problems.append(f"refund transaction {t.id} belongs to {linked[t.id]} refunds")
    return problems


def line_problems(books: Books, story: Callable[[int], str]) -> list[str]:
    """No line over-fulfilled, over-refunded or over-returned, and each line's fulfilled and
    removed units are what its fulfillments and refunds say."""
    problems: list[str] = []
    fulfilled_of: dict[int, int] = defaultdict(int)
    for line_id, status, units in books.fulfilled_units:
        if status == "success":
            fulfilled_of[line_id] += int(units)
    refunded_of: dict[int, int] = defaultdict(int)
    removed_by_refunds: dict[int, int] = defaultdict(int)
    returned_by_refunds: dict[int, int] = defaultdict(int)
    # A return's own refund records the units its return received (and restocked).
    of_returns = {r.refund_id for r in books.returns if r.refund_id is not None}
    for item in books.refund_lines:
        refunded_of[item.line_item_id] += item.quantity
        removed_by_refunds[item.line_item_id] += item.removed_quantity
        if item.restock_type == "return" and item.order_refund_id not in of_returns:
            returned_by_refunds[item.line_item_id] += item.quantity - item.removed_quantity
    status_of = {r.id: r.status for r in books.returns}
    in_returns: dict[int, int] = defaultdict(int)
    for back in books.return_lines:
        status = status_of[back.return_id]
        if status == "open":
            in_returns[back.line_item_id] += back.quantity
        elif status == "closed":
            in_returns[back.line_item_id] += back.received_quantity
        elif back.received_quantity != 0:
            problems.append(f"cancelled return {back.return_id} received units")
    for line in books.lines:
        fulfilled, removed = line.fulfilled_quantity, line.removed_quantity
        refunded = refunded_of[line.id]
        refunded_shipped = refunded - removed_by_refunds[line.id]
        returned = in_returns[line.id] + returned_by_refunds[line.id]
        found = [
            (fulfilled < 0 or removed < 0, "negative units"),
            (fulfilled + removed > line.quantity, "over-fulfilled"),
            (fulfilled != fulfilled_of[line.id], f"fulfillments say {fulfilled_of[line.id]}"),
            (removed_by_refunds[line.id] > removed, "refunds removed more than the line shows"),
            (refunded > line.quantity, "over-refunded"),
            (refunded + fulfilled - refunded_shipped > line.quantity, "refunded + kept > ordered"),
            (refunded_shipped > fulfilled, "refunded more shipped units than were fulfilled"),
            (returned > fulfilled, f"{returned} returned of {fulfilled} fulfilled"),
        ]
        for broken, what in found:
            if broken:
                problems.append(f"{what}: {story(line.order_id)} (line {line.id})")
    return problems


def stock_problems(books: Books, shop: Shop) -> list[str]:
    """Committed is what the lines still have to ship; what came back (restocked on cancel
    and on return, by refunds, cancellations and returns) is exactly what the levels gained;
    the adjustment log agrees with the levels."""
    problems: list[str] = []
    held: dict[tuple[int, int], int] = defaultdict(int)
    placed: dict[tuple[int, int], int] = defaultdict(int)
    line_by_id = {line.id: line for line in books.lines}
    for line in books.lines:
        if line.inventory_item_id is None or line.location_id is None:
            continue
        key = (line.inventory_item_id, line.location_id)
        held[key] += line.quantity - line.fulfilled_quantity - line.removed_quantity
        placed[key] += line.quantity
    came_back: dict[tuple[int, int], int] = defaultdict(int)
    of_returns = {r.refund_id for r in books.returns if r.refund_id is not None}
    for item in books.refund_lines:
        line = line_by_id[item.line_item_id]
        if item.restock_type == "no_restock" or line.inventory_item_id is None:
            continue
        if item.order_refund_id in of_returns:
            continue  # the return restocked these units; its refund only records it
        if item.location_id is None:
            problems.append(f"refund line {item.id} restocked nowhere")
            continue
        came_back[(line.inventory_item_id, item.location_id)] += item.quantity
    return_by_id = {r.id: r for r in books.returns}
    for returned in books.return_lines:
        line = line_by_id[returned.line_item_id]
        if returned.received_quantity == 0 or line.inventory_item_id is None:
            continue
        location = return_by_id[returned.return_id].location_id or line.location_id
        assert location is not None
        came_back[(line.inventory_item_id, location)] += returned.received_quantity
    for key, start in shop.start.items():
        available, committed = books.levels[key]
        expected = start - placed[key] + came_back[key]
        if committed != held[key]:
            problems.append(f"level {key}: committed {committed}, lines hold {held[key]}")
        if available != expected:
            problems.append(
                f"level {key}: available {available}, expected {expected} "
                f"({start} - {placed[key]} placed + {came_back[key]} restocked)"
            )
        if key[0] in shop.deny_items and available < 0:
            problems.append(f"level {key}: a deny item below zero")
        if books.logged.get((*key, "available"), 0) != available - start:
            problems.append(f"level {key}: the log's available moves disagree")
        if books.logged.get((*key, "committed"), 0) != committed:
            problems.append(f"level {key}: the log's committed moves disagree")
    return problems


def mirror_problems(books: Books) -> list[str]:
    """Every transaction mirrored on the payment side and in transactions_enhanced, every
    fulfillment in order_fulfillments, as their sources of truth say."""
    problems: list[str] = []
    truth = sorted(
        (t.id, t.kind, t.status, t.amount, t.transaction_id, t.order_id, t.gateway)
        for t in books.transactions
    )
    if sorted(books.payment_mirror) != truth:
        problems.append("payments/transactions disagree with order_transactions")
    enhanced = sorted(
        (e.receipt["orderTransactionId"], e.kind, e.status, e.amount)
        for e in books.enhanced
        if e.receipt
    )
    if enhanced != sorted((t.id, t.kind, t.status, t.amount) for t in books.transactions):
        problems.append("transactions_enhanced disagrees with order_transactions")
    mirrored = {m.fulfillment_id: m for m in books.fulfillment_mirror}
    if len(mirrored) != len(books.fulfillments):
        problems.append("order_fulfillments is not one row per fulfillment")
    for f in books.fulfillments:
        copy = mirrored.get(f.id)
        if copy is None or (copy.order_id, copy.status, copy.tracking_number) != (
            f.order_id,
            f.status,
            (f.tracking_numbers or [None])[0],
        ):
            problems.append(f"fulfillment {f.id}: its mirror disagrees")
    return problems


# The event each fulfillment status is entered with (orders/updated: going back to unfulfilled).
TRANSITION_TOPICS = {
    "fulfilled": "orders/fulfilled",
    "partial": "orders/partially_fulfilled",
    "unfulfilled": "orders/updated",
}


def fulfillment_event_problems(books: Books) -> list[str]:
    """Replayed in the order they were recorded (under each order's lock), the transition
    events lead from `unfulfilled` to the order's fulfillment status, each from the status
    the one before it left: whichever change moved the status (a shipment, a cancelled one, a
    refund or cancellation taking the last unshipped units), it recorded the event of the
    status it entered, once. Only a shipment records one without moving the status
    (orders/partially_fulfilled, partial to partial)."""
    problems: list[str] = []
    status_of = dict.fromkeys(books.orders, "unfulfilled")
    for order_id, topic, body in books.fulfillment_events:
        if not isinstance(body, dict) or "previousFulfillmentStatus" not in body:
            continue  # an orders/updated of another change
        before, after = body["previousFulfillmentStatus"], body["fulfillmentStatus"]
        if topic == "orders/updated" and after != "unfulfilled":
            continue  # a cancelled shipment's own event, besides its transition's
        if before != status_of[order_id]:
            problems.append(f"order {order_id}: {topic} from {before}, was {status_of[order_id]}")
        if TRANSITION_TOPICS[after] != topic or (before == after and after != "partial"):
            problems.append(f"order {order_id}: {topic} for {before} -> {after}")
        status_of[order_id] = after
    for order_id, order in books.orders.items():
        if status_of[order_id] != order.fulfillment_status:
            problems.append(
                f"order {order_id}: events end at {status_of[order_id]}, "
                f"the order is {order.fulfillment_status}"
            )
    return problems


def return_problems(books: Books, sent: list[Sent]) -> list[str]:
    """One event per return transition; a return's refund refunds the units that came back."""
    problems: list[str] = []
    topics = books.return_topics
    closed = sum(r.status == "closed" for r in books.returns)
    cancelled = sum(r.status == "cancelled" for r in books.returns)
    opened = sum(s.operation == "open_return" and s.status == 201 for s in sent)
    if (topics["returns/create"], topics["returns/close"], topics["returns/cancel"]) != (
        len(books.returns),
        closed,
        cancelled,
    ):
        problems.append(f"return events {dict(topics)} for {len(books.returns)} returns")
    if len(books.returns) < opened:
        problems.append(f"{opened} returns answered 201, {len(books.returns)} stored")
    refund_lines: dict[int, list[OrderRefundLineItem]] = defaultdict(list)
    for item in books.refund_lines:
        refund_lines[item.order_refund_id].append(item)
    received: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for back in books.return_lines:
        if back.received_quantity:
            received[back.return_id].append((back.line_item_id, back.received_quantity))
    for r in books.returns:
        if r.refund_id is None:
            continue
        refunded = sorted(
            (i.line_item_id, i.quantity)
            for i in refund_lines[r.refund_id]
            if i.restock_type == "return" and i.removed_quantity == 0
        )
        if refunded != sorted(received[r.id]):
            took = [
                (i.line_item_id, i.quantity, i.restock_type, i.removed_quantity)
                for i in refund_lines[r.refund_id]
            ]
            problems.append(f"return {r.id}: received {received[r.id]}, its refund took {took}")
    return problems
