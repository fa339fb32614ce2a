"""The order_lifecycle scenario: capture -> fulfil -> partial refund of seeded authorized
orders, and the reconciliation of every order it touched.

wrk cannot chain three dependent requests per order (its Lua state is per thread, not per
connection, so a response cannot tell which order's next step to send), so the runner drives
it with asyncio and httpx, like the flash sale: `connections` workers each take the next
order and send, in sequence,

1. `POST /orders/{id}/transactions` `{"kind": "capture", "parentId": <authorization>}` (the
   whole authorization: no amount),
2. `POST /orders/{id}/fulfillments` every unit of every line at the order's one location,
3. `POST /orders/{id}/refunds` one unit of the first line (restock `return` for odd order ids,
   `no_restock` for even ones; the suggested refund transactions), which leaves the order
   partially refunded,

each with a fresh `Idempotency-Key`, as a back office would. A step that fails ends its
order's chain. One op is one of these requests: the scenario's rate is ops/s (its orders/s is
reported beside it), compared with pgbench's tpcb-like tps (also one transaction each).

Afterwards `reconcile` reads every touched order back from the database (bench/seed.py made
them: tagged `lifecycle`, their lines' units committed at one location) and checks what the
issue's "how it will be checked" asks: the transactions add up to the financial status,
captured <= authorized and refunded <= captured, no line over-fulfilled or over-removed and the
fulfillment status follows the lines, what the API answered is what the database holds (and a
refused step left nothing behind), and per stock level, the stock moved equals the
`inventory_adjustments` written meanwhile and what the orders explain (committed down by the
units fulfilled, available up by the units returned).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import httpx
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bench.lean_http import Poster

ORDERS = "/api/v1/orders"  # bench.fixtures.ORDERS (which imports this module)

LIFECYCLE_TAGS = "bench, lifecycle"  # shopdb.bench.seed.LifecycleOrderGenerator.TAGS
Step = Literal["capture", "fulfil", "refund"]
STEPS: tuple[Step, ...] = ("capture", "fulfil", "refund")
CHUNK = 500  # ids per IN list (SQLite's variable limit is far above; statements stay small)
ZERO = Decimal(0)
CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    """A money column as read by raw SQL: SQLite hands back floats, PostgreSQL Decimals."""
    return Decimal(str(value)).quantize(CENT)


@dataclass(frozen=True)
class LifecycleLine:
    line_id: int
    quantity: int
    inventory_item_id: int
    location_id: int


@dataclass(frozen=True)
class LifecycleOrder:
    order_id: int
    authorization_id: int
    total: Decimal
    lines: tuple[LifecycleLine, ...]

    @property
    def location_id(self) -> int:
        return self.lines[0].location_id

    @property
    def restock_type(self) -> str:
        return "return" if self.order_id % 2 else "no_restock"


def _chunks(values: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


async def load_orders(connection: AsyncConnection) -> list[LifecycleOrder]:
    """The seeded lifecycle orders still as seeded: authorized, nothing captured, nothing
    fulfilled, not cancelled (a --reuse-database run skips what an earlier run drove)."""
    rows = (
        await connection.execute(
            text(
                "SELECT o.id, o.total_price, t.id AS authorization_id FROM orders o "
                "JOIN order_transactions t ON t.order_id = o.id AND t.kind = 'authorization' "
                "AND t.status = 'success' "
                "WHERE o.tags = :tags AND o.financial_status = 'authorized' "
                "AND o.cancelled_at IS NULL AND o.deleted_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM order_transactions c WHERE c.order_id = o.id "
                "AND c.kind <> 'authorization') "
                "AND NOT EXISTS (SELECT 1 FROM order_line_items f WHERE f.order_id = o.id "
                "AND (f.fulfilled_quantity > 0 OR f.removed_quantity > 0 "
                "OR f.inventory_item_id IS NULL)) "
                "ORDER BY o.id"
            ),
            {"tags": LIFECYCLE_TAGS},
        )
    ).all()
    heads = {int(r.id): (int(r.authorization_id), money(r.total_price)) for r in rows}
    lines: dict[int, list[LifecycleLine]] = {}
    statement = text(
        "SELECT id, order_id, quantity, inventory_item_id, location_id FROM order_line_items "
        "WHERE order_id IN :ids ORDER BY id"
    ).bindparams(bindparam("ids", expanding=True))
    for ids in _chunks(sorted(heads)):
        for r in await connection.execute(statement, {"ids": ids}):
            lines.setdefault(int(r.order_id), []).append(
                LifecycleLine(
                    int(r.id), int(r.quantity), int(r.inventory_item_id), int(r.location_id)
                )
            )
    return [
        LifecycleOrder(order_id, authorization, total, tuple(lines[order_id]))
        for order_id, (authorization, total) in heads.items()
        # One location per order: one fulfillment takes every line.
        if order_id in lines and len({line.location_id for line in lines[order_id]}) == 1
    ]


def engine_for(dsn: str) -> AsyncEngine:
    """SQLAlchemy on the runner's `postgresql://` DSN (asyncpg): the loading and the
    reconciliation are written once, for PostgreSQL here and SQLite in the tests."""
    return create_async_engine(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))


async def load_from(dsn: str) -> list[LifecycleOrder]:
    engine = engine_for(dsn)
    try:
        async with engine.connect() as connection:
            return await load_orders(connection)
    finally:
        await engine.dispose()


# An order id no database of the bench has: the probe's requests reach the endpoints, which
# answer that the order does not exist, and nothing is written.
PROBE_ORDER_ID = 9_000_000_000_000


async def probe(client: httpx.AsyncClient, orders: Sequence[LifecycleOrder]) -> str:
    """ "ok" when all three endpoints answer (for an order that does not exist: their 404
    names it, where a route that is not there answers a bare "Not Found"), else why not."""
    if not orders:
        return "no seeded lifecycle order left (shopdb bench seed --lifecycle-orders)"
    sample = orders[0]
    for step in STEPS:
        path, body = request_of(sample, step)
        path = path.replace(f"/{sample.order_id}/", f"/{PROBE_ORDER_ID}/", 1)
        try:
            response = await client.post(
                path, json=body, headers={"Idempotency-Key": f"bench-probe-{secrets.token_hex(8)}"}
            )
        except httpx.HTTPError as exc:
            return f"POST {path}: {type(exc).__name__}"
        message = response.text[:300]
        if response.status_code != 404 or str(PROBE_ORDER_ID) not in message:
            return f"POST {ORDERS}/{{id}}/{path.rsplit('/', 1)[1]} answered {response.status_code}"
    return "ok"


def capture_body(order: LifecycleOrder) -> dict[str, Any]:
    return {"kind": "capture", "parentId": order.authorization_id}


def fulfil_body(order: LifecycleOrder) -> dict[str, Any]:
    return {
        "locationId": order.location_id,
        "lineItems": [{"id": line.line_id, "quantity": line.quantity} for line in order.lines],
        "trackingCompany": "UPS",
        "trackingNumbers": [f"1ZBENCH{order.order_id:010d}"],
        "notifyCustomer": False,
    }


def refund_body(order: LifecycleOrder) -> dict[str, Any]:
    line = order.lines[0]
    item: dict[str, Any] = {
        "lineItemId": line.line_id,
        "quantity": 1,
        "restockType": order.restock_type,
    }
    if order.restock_type != "no_restock":
        item["locationId"] = line.location_id
    return {"refundLineItems": [item], "note": "bench: partial refund"}


def request_of(order: LifecycleOrder, step: Step) -> tuple[str, dict[str, Any]]:
    base = f"{ORDERS}/{order.order_id}"
    if step == "capture":
        return f"{base}/transactions", capture_body(order)
    if step == "fulfil":
        return f"{base}/fulfillments", fulfil_body(order)
    return f"{base}/refunds", refund_body(order)


@dataclass
class Outcome:
    """What the API answered for one order: per step "ok", "refused" (a 4xx/5xx or a 201
    recording a failed transaction: it must have changed nothing) or "unknown" (no answer:
    a socket error or a timeout, the server may or may not have done it)."""

    order: LifecycleOrder
    steps: dict[str, str] = field(default_factory=dict)
    refunded: Decimal | None = None  # the refund's transactions, as answered

    @property
    def complete(self) -> bool:
        return all(self.steps.get(step) == "ok" for step in STEPS)


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


def latency_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50": _percentile(ordered, 50),
        "p75": _percentile(ordered, 75),
        "p90": _percentile(ordered, 90),
        "p95": _percentile(ordered, 95),
        "p99": _percentile(ordered, 99),
        "max": round(ordered[-1], 2) if ordered else 0.0,
        "mean": round(sum(ordered) / len(ordered), 2) if ordered else 0.0,
    }


@dataclass
class Recorder:
    """Latencies and statuses, per step, of the requests that count (not the warm-up's)."""

    latencies_ms: dict[str, list[float]] = field(
        default_factory=lambda: {step: [] for step in STEPS}
    )
    statuses: dict[str, dict[str, int]] = field(
        default_factory=lambda: {step: {} for step in STEPS}
    )
    socket_errors: int = 0
    timeouts: int = 0
    failed_transactions: int = 0  # 201s recording a declined or failed gateway call
    examples: list[str] = field(default_factory=list)

    def note(self, message: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(message)

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies_ms.values())


def _failed_transactions(step: Step, body: Any) -> list[str]:
    """The transactions a 201 recorded that did not succeed (a gateway decline or error is
    answered 201 with the transaction, as Shopify does)."""
    if not isinstance(body, dict):
        return []
    if step == "capture":
        transactions = [body]
    elif step == "refund":
        transactions = [t for t in body.get("transactions") or [] if isinstance(t, dict)]
    else:
        return []
    return [
        f"{t.get('kind')} {t.get('status')} {t.get('errorCode')}"
        for t in transactions
        if t.get("status") != "success"
    ]


class LifecycleRun:
    """`connections` workers over the orders, each order's three steps in sequence."""

    def __init__(
        self,
        client: Poster,
        orders: Sequence[LifecycleOrder],
        *,
        connections: int = 16,
        run_id: str | None = None,
    ) -> None:
        self.client = client
        self.queue = iter(orders)
        self.connections = connections
        self.run_id = run_id or secrets.token_hex(4)
        self.outcomes: list[Outcome] = []

    def _key(self, order: LifecycleOrder, step: Step) -> str:
        return f"bench-lifecycle-{self.run_id}-{order.order_id}-{step}"

    async def _step(
        self, order: LifecycleOrder, step: Step, outcome: Outcome, recorder: Recorder
    ) -> bool:
        path, body = request_of(order, step)
        began = time.perf_counter()
        try:
            response = await self.client.post(
                path, json=body, headers={"Idempotency-Key": self._key(order, step)}
            )
        except httpx.TimeoutException as exc:
            recorder.timeouts += 1
            recorder.note(f"{step} order {order.order_id}: {type(exc).__name__}")
            outcome.steps[step] = "unknown"
            return False
        except httpx.HTTPError as exc:
            recorder.socket_errors += 1
            recorder.note(f"{step} order {order.order_id}: {type(exc).__name__}: {exc}")
            outcome.steps[step] = "unknown"
            return False
        recorder.latencies_ms[step].append((time.perf_counter() - began) * 1000)
        status = str(response.status_code)
        recorder.statuses[step][status] = recorder.statuses[step].get(status, 0) + 1
        if response.status_code != 201:
            recorder.note(f"{step} order {order.order_id}: {status} {response.text[:200]}")
            outcome.steps[step] = "refused"
            return False
        answer = response.json()
        failed = _failed_transactions(step, answer)
        if failed:
            recorder.failed_transactions += 1
            recorder.note(f"{step} order {order.order_id}: 201 with {', '.join(failed)}")
            outcome.steps[step] = "refused"
            return False
        outcome.steps[step] = "ok"
        if step == "refund":
            outcome.refunded = sum(
                (money(t["amount"]) for t in answer.get("transactions") or []), ZERO
            )
        return True

    async def _worker(self, deadline: float, recorder: Recorder) -> None:
        while time.monotonic() < deadline:
            order = next(self.queue, None)
            if order is None:
                return
            outcome = Outcome(order)
            self.outcomes.append(outcome)
            for step in STEPS:
                if not await self._step(order, step, outcome, recorder):
                    break

    async def drive(self, seconds: float) -> tuple[Recorder, float, int]:
        """Orders are taken until `seconds` have passed; an order begun then finishes its
        chain. (the recorder, the wall time until the last one finished, orders begun)"""
        recorder = Recorder()
        before = len(self.outcomes)
        began = time.monotonic()
        deadline = began + seconds
        await asyncio.gather(*(self._worker(deadline, recorder) for _ in range(self.connections)))
        return recorder, time.monotonic() - began, len(self.outcomes) - before


def summarise(
    recorder: Recorder, wall_s: float, orders: int, runner_cpu_s: float, connections: int
) -> dict[str, Any]:
    """The scenario's row: ops/s (one op = one request), latency over all steps, errors."""
    everything = [v for values in recorder.latencies_ms.values() for v in values]
    requests = len(everything)
    statuses: dict[str, int] = {}
    for per_step in recorder.statuses.values():
        for status, count in per_step.items():
            statuses[status] = statuses.get(status, 0) + count
    non_2xx = sum(c for s, c in statuses.items() if not s.startswith("2"))
    status_5xx = sum(c for s, c in statuses.items() if s.startswith("5"))
    cores = os.cpu_count() or 1
    return {
        "requests": requests,
        "duration_s": round(wall_s, 2),
        "rps": round(requests / wall_s, 1) if wall_s else 0.0,
        "latency_ms": latency_summary(everything),
        "errors": {
            "non_2xx": non_2xx,
            "status_5xx": status_5xx,
            "socket": recorder.socket_errors,
            "timeout": recorder.timeouts,
            "failed_transactions": recorder.failed_transactions,
            "total": non_2xx
            + recorder.socket_errors
            + recorder.timeouts
            + recorder.failed_transactions,
        },
        "statuses": dict(sorted(statuses.items())),
        "load_generator": {
            "cpu_cores": round(runner_cpu_s / wall_s, 3) if wall_s else 0.0,
            "machine_share": round(runner_cpu_s / wall_s / cores, 3) if wall_s else 0.0,
        },
        "lifecycle": {
            "op": "one request (capture, fulfil or refund)",
            "connections": connections,
            "orders": orders,
            "orders_per_s": round(orders / wall_s, 1) if wall_s else 0.0,
            "steps": {
                step: {
                    "requests": len(recorder.latencies_ms[step]),
                    "statuses": dict(sorted(recorder.statuses[step].items())),
                    "latency_ms": latency_summary(recorder.latencies_ms[step]),
                }
                for step in STEPS
            },
            "examples": recorder.examples,
        },
    }


# --- reconciliation -------------------------------------------------------------------------


Level = tuple[int, int]  # (inventory item, location)


@dataclass
class StockSnapshot:
    """The levels the orders' lines name, and where the adjustments log stood."""

    levels: dict[Level, tuple[int, int]]  # (available, committed)
    last_adjustment_id: int


async def _levels(connection: AsyncConnection, keys: set[Level]) -> dict[Level, tuple[int, int]]:
    items = sorted({item for item, _ in keys})
    found: dict[Level, tuple[int, int]] = {}
    statement = text(
        "SELECT inventory_item_id, location_id, available, committed FROM inventory_levels "
        "WHERE inventory_item_id IN :ids"
    ).bindparams(bindparam("ids", expanding=True))
    for ids in _chunks(items):
        for r in await connection.execute(statement, {"ids": ids}):
            key = (int(r.inventory_item_id), int(r.location_id))
            if key in keys:
                found[key] = (int(r.available), int(r.committed))
    return found


async def snapshot(connection: AsyncConnection, orders: Sequence[LifecycleOrder]) -> StockSnapshot:
    keys = {(line.inventory_item_id, line.location_id) for o in orders for line in o.lines}
    last = (
        await connection.execute(text("SELECT coalesce(max(id), 0) FROM inventory_adjustments"))
    ).scalar_one()
    return StockSnapshot(await _levels(connection, keys), int(last))


def expected_financial_status(
    total: Decimal, authorized: Decimal, captured: Decimal, refunded: Decimal, voided: bool
) -> str:
    """Shopify's financial status from an order's successful transactions."""
    if refunded > 0:
        return "refunded" if refunded >= captured else "partially_refunded"
    if captured > 0:
        return "paid" if captured >= total else "partially_paid"
    if voided:
        return "voided"
    return "authorized" if authorized > 0 else "pending"


def expected_fulfillment_status(lines: Sequence[tuple[int, int, int]]) -> set[str | None]:
    """The statuses an order with these (quantity, fulfilled, removed) lines may show."""
    fulfilled = sum(f for _, f, _ in lines)
    fulfillable = sum(q - f - r for q, f, r in lines)
    if fulfilled == 0:
        return {None, "unfulfilled"}
    return {"fulfilled"} if fulfillable == 0 else {"partial"}


@dataclass
class Reconciliation:
    orders: int = 0
    reconciled: int = 0
    levels: int = 0
    levels_reconciled: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(message)

    def summary(self) -> dict[str, Any]:
        return {
            "orders": self.orders,
            "orders_reconciled": self.reconciled,
            "orders_not_reconciled": self.orders - self.reconciled,
            "levels": self.levels,
            "levels_reconciled": self.levels_reconciled,
            "levels_not_reconciled": self.levels - self.levels_reconciled,
            "problems": self.problems,
        }


async def _order_rows(
    connection: AsyncConnection, ids: list[int]
) -> tuple[dict[int, Any], dict[int, list[Any]], dict[int, list[Any]]]:
    orders: dict[int, Any] = {}
    transactions: dict[int, list[Any]] = {}
    lines: dict[int, list[Any]] = {}
    queries = (
        "SELECT id, total_price, financial_status, fulfillment_status FROM orders WHERE id IN :ids",
        "SELECT id, order_id, kind, status, amount, parent_id FROM order_transactions "
        "WHERE order_id IN :ids ORDER BY id",
        "SELECT id, order_id, quantity, fulfilled_quantity, removed_quantity, "
        "inventory_item_id, location_id FROM order_line_items WHERE order_id IN :ids ORDER BY id",
    )
    statements = [text(q).bindparams(bindparam("ids", expanding=True)) for q in queries]
    for chunk in _chunks(ids):
        for r in await connection.execute(statements[0], {"ids": chunk}):
            orders[int(r.id)] = r
        for r in await connection.execute(statements[1], {"ids": chunk}):
            transactions.setdefault(int(r.order_id), []).append(r)
        for r in await connection.execute(statements[2], {"ids": chunk}):
            lines.setdefault(int(r.order_id), []).append(r)
    return orders, transactions, lines


def _check_order(
    outcome: Outcome, row: Any, transactions: list[Any], lines: list[Any]
) -> list[str]:
    """What is wrong with one order (nothing: it reconciles)."""
    problems: list[str] = []
    order = outcome.order
    ok = [t for t in transactions if t.status == "success"]

    def total(*kinds: str) -> Decimal:
        return sum((money(t.amount) for t in ok if t.kind in kinds), ZERO)

    authorized, captured = total("authorization"), total("capture", "sale")
    refunded, voided = total("refund"), any(t.kind == "void" for t in ok)
    expected = expected_financial_status(
        money(row.total_price), authorized, captured, refunded, voided
    )
    if row.financial_status != expected:
        problems.append(
            f"financial status {row.financial_status}, its transactions say {expected} "
            f"(authorized {authorized}, captured {captured}, refunded {refunded})"
        )
    if total("capture") > authorized:
        problems.append(f"captured {total('capture')} > authorized {authorized}")
    for auth in (t for t in ok if t.kind == "authorization"):
        children = sum(
            (money(t.amount) for t in ok if t.kind == "capture" and t.parent_id == auth.id),
            ZERO,
        )
        if children > money(auth.amount):
            problems.append(f"authorization {auth.id}: captured {children} > {auth.amount}")
    if refunded > captured:
        problems.append(f"refunded {refunded} > captured {captured}")
    shape = [
        (int(li.quantity), int(li.fulfilled_quantity), int(li.removed_quantity)) for li in lines
    ]
    for li, (quantity, fulfilled, removed) in zip(lines, shape, strict=True):
        if fulfilled < 0 or removed < 0 or fulfilled + removed > quantity:
            problems.append(
                f"line {li.id}: fulfilled {fulfilled} + removed {removed} of {quantity}"
            )
    if row.fulfillment_status not in expected_fulfillment_status(shape):
        problems.append(
            f"fulfillment status {row.fulfillment_status}, its lines say "
            f"{sorted(map(str, expected_fulfillment_status(shape)))}"
        )
    # What the API answered is what the database holds; a refused step left nothing.
    steps = outcome.steps
    if steps.get("capture") == "ok" and total("capture") != order.total:
        problems.append(f"capture answered 201, captured {total('capture')} of {order.total}")
    if steps.get("capture") == "refused" and total("capture"):
        problems.append(f"capture refused, yet {total('capture')} captured")
    fulfilled_units = sum(f for _, f, _ in shape)
    if steps.get("fulfil") == "ok" and any(f != q for q, f, _ in shape):
        problems.append(f"fulfil answered 201, lines fulfilled {[f for _, f, _ in shape]}")
    if steps.get("fulfil") == "refused" and fulfilled_units:
        problems.append(f"fulfil refused, yet {fulfilled_units} units fulfilled")
    if steps.get("refund") == "ok" and refunded != outcome.refunded:
        problems.append(f"refund answered {outcome.refunded}, refunded {refunded}")
    if steps.get("refund") == "refused" and refunded:
        problems.append(f"refund refused, yet {refunded} refunded")
    return problems


async def reconcile(
    connection: AsyncConnection, outcomes: Sequence[Outcome], before: StockSnapshot
) -> Reconciliation:
    """Every touched order, then every stock level their lines name."""
    result = Reconciliation(orders=len(outcomes))
    ids = sorted(o.order.order_id for o in outcomes)
    orders, transactions, lines = await _order_rows(connection, ids)
    explained: dict[Level, list[int]] = {}  # level -> [committed change, available change]
    for outcome in outcomes:
        order_id = outcome.order.order_id
        row = orders.get(order_id)
        if row is None:
            result.fail(f"order {order_id}: gone")
            continue
        mine = lines.get(order_id, [])
        problems = _check_order(outcome, row, transactions.get(order_id, []), mine)
        for li in mine:
            if li.inventory_item_id is None:
                continue
            moved = explained.setdefault((int(li.inventory_item_id), int(li.location_id)), [0, 0])
            moved[0] -= int(li.fulfilled_quantity)
        if outcome.steps.get("refund") == "ok" and outcome.order.restock_type == "return":
            first = outcome.order.lines[0]
            explained.setdefault((first.inventory_item_id, first.location_id), [0, 0])[1] += 1
        if outcome.steps.get("refund") == "unknown" and outcome.order.restock_type == "return":
            problems.append("refund with restock unanswered: the stock check cannot explain it")
        if problems:
            result.fail(f"order {order_id}: " + "; ".join(problems))
        else:
            result.reconciled += 1
    touched = {
        (line.inventory_item_id, line.location_id) for o in outcomes for line in o.order.lines
    }
    await _reconcile_stock(connection, result, before, explained, touched)
    return result


async def _reconcile_stock(
    connection: AsyncConnection,
    result: Reconciliation,
    before: StockSnapshot,
    explained: dict[Level, list[int]],
    touched: set[Level],
) -> None:
    """Per level the touched orders' lines name: what moved, what the adjustments log says
    moved, and what the orders explain must be one and the same."""
    levels = {key: value for key, value in before.levels.items() if key in touched}
    after = await _levels(connection, set(levels))
    logged: dict[tuple[int, int, str], int] = {}
    rows = await connection.execute(
        text(
            "SELECT inventory_item_id, location_id, quantity_name, sum(quantity_adjustment) "
            "AS moved FROM inventory_adjustments WHERE id > :last "
            "GROUP BY inventory_item_id, location_id, quantity_name"
        ),
        {"last": before.last_adjustment_id},
    )
    for r in rows:
        logged[(int(r.inventory_item_id), int(r.location_id), str(r.quantity_name))] = int(r.moved)
    result.levels = len(levels)
    for key, (available, committed) in sorted(levels.items()):
        now_available, now_committed = after.get(key, (available, committed))
        moved = (now_committed - committed, now_available - available)
        item, location = key
        log = (
            logged.get((item, location, "committed"), 0),
            logged.get((item, location, "available"), 0),
        )
        expected = tuple(explained.get(key, [0, 0]))
        if moved == log == expected:
            result.levels_reconciled += 1
        else:
            result.fail(
                f"level item {item} at location {location}: committed/available moved {moved}, "
                f"adjustments say {log}, the orders explain {expected}"
            )


def pick(orders: list[LifecycleOrder], seed: int) -> list[LifecycleOrder]:
    """The orders in a random (seeded) order: runs spread over the catalog's levels."""
    shuffled = list(orders)
    random.Random(f"{seed}:lifecycle-run").shuffle(shuffled)
    return shuffled


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system
