"""The stale-read check of the mixed scenario, and the flash sale.

wrk cannot tie a read to the write before it (its Lua state is per thread, not per
connection), so a few asyncio loops do it beside wrk's load: each owns products no wrk write
touches, reads one, writes it (an inventory adjustment, a title change with If-Match, or an
order for one of its variants), and reads it again at once. Any read that does not show the
write is a stale read: after an order, the variant's inventoryQuantity must be down by the
units ordered.

The flash sale (FlashSale) needs every response and the database's count afterwards, which
wrk cannot give either: 200 asyncio buyers at once, each ordering one unit until told the
variant is sold out.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench.fixtures import (
    ADJUST,
    FLASH_SALE_STOCK,
    INVENTORY_SET,
    ORDERS,
    PRODUCTS,
    FlashSale,
    OrderData,
    adjust_body,
    order_body,
    update_body,
)
from bench.lean_http import LeanClient

_SUFFIX = re.compile(r" \(check \d+\)$")


@dataclass
class CheckerStats:
    checks: int = 0
    inventory_checks: int = 0
    catalog_checks: int = 0
    order_checks: int = 0
    stale_reads: int = 0
    reads: int = 0
    writes: int = 0
    status_5xx: int = 0
    unexpected: int = 0
    conflicts: int = 0
    examples: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def note(self, message: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(message)

    def summary(self, wall_s: float, cpu_s: float) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return (
                round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)
                if ordered
                else 0.0
            )

        return {
            "checks": self.checks,
            "inventory_checks": self.inventory_checks,
            "catalog_checks": self.catalog_checks,
            "order_checks": self.order_checks,
            "stale_reads": self.stale_reads,
            "requests": self.reads + self.writes,
            "reads": self.reads,
            "writes": self.writes,
            "status_5xx": self.status_5xx,
            "unexpected_status": self.unexpected,
            "conflicts_409_412": self.conflicts,
            "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99)},
            "examples": self.examples,
            "cpu_cores": round(cpu_s / wall_s, 3),
        }


class Checker:
    def __init__(
        self,
        client: httpx.AsyncClient,
        product_ids: list[int],
        location_ids: list[int],
        *,
        adjust: bool,
        update: bool,
        seed: int,
        orders: OrderData | None = None,
    ) -> None:
        self.client = client
        self.product_ids = product_ids
        self.location_ids = location_ids
        self.adjust = adjust
        self.update = update
        self.orders = orders  # None: orders are not placed (POST /orders did not answer)
        self.rng = random.Random(seed)
        self.stats = CheckerStats()
        # Per run: a title a previous run left (--reuse-database) is never written again, or
        # its PUT would change nothing, keep the ETag, and count as a stale read.
        self.counter = itertools.count(time.time_ns() // 1_000_000)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.stats.unexpected += 1
            self.stats.note(f"{method} {path}: {type(exc).__name__}")
            return None
        self.stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        if method == "GET":
            self.stats.reads += 1
        else:
            self.stats.writes += 1
        if response.status_code >= 500:
            self.stats.status_5xx += 1
            self.stats.note(f"{method} {path}: {response.status_code} {response.text[:200]}")
        elif response.status_code in (409, 412):
            self.stats.conflicts += 1
        elif response.status_code >= 300:
            self.stats.unexpected += 1
            self.stats.note(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response

    async def _read(self, product_id: int) -> tuple[dict[str, Any], str | None] | None:
        response = await self._call("GET", f"{PRODUCTS}/{product_id}")
        if response is None or response.status_code != 200:
            return None
        return response.json(), response.headers.get("etag")

    async def _check_inventory(self, product_id: int, detail: dict[str, Any]) -> None:
        variant = self.rng.choice(detail["variants"])
        delta = self.rng.choice((1, -1))
        location = self.rng.choice(self.location_ids)
        body = adjust_body(variant["inventoryItemId"], location, delta)
        written = await self._call("POST", ADJUST, json=body)
        if written is None or written.status_code >= 300:
            return
        after = await self._read(product_id)
        if after is None:
            return
        self.stats.checks += 1
        self.stats.inventory_checks += 1
        expected = variant["inventoryQuantity"] + delta
        seen = next((v for v in after[0]["variants"] if v["id"] == variant["id"]), None)
        if seen is None or seen["inventoryQuantity"] != expected:
            self.stats.stale_reads += 1
            got = None if seen is None else seen["inventoryQuantity"]
            self.stats.note(f"product {product_id}: inventoryQuantity {got}, expected {expected}")

    async def _check_title(self, product_id: int, detail: dict[str, Any], etag: str | None) -> None:
        title = f"{_SUFFIX.sub('', detail['title'])} (check {next(self.counter)})"
        headers = {"If-Match": etag} if etag else {}
        written = await self._call(
            "PUT", f"{PRODUCTS}/{product_id}", json=update_body(detail, title), headers=headers
        )
        if written is None or written.status_code >= 300:
            return
        after = await self._read(product_id)
        if after is None:
            return
        self.stats.checks += 1
        self.stats.catalog_checks += 1
        stale_etag = etag is not None and after[1] == etag
        if after[0]["title"] != title or stale_etag:
            self.stats.stale_reads += 1
            self.stats.note(
                f"product {product_id}: title {after[0]['title']!r}, expected {title!r}"
            )

    async def _check_order(self, product_id: int, detail: dict[str, Any]) -> None:
        assert self.orders is not None
        stocked = [v for v in detail["variants"] if v.get("inventoryQuantity", 0) >= 10]
        if not stocked:
            return
        variant = self.rng.choice(stocked)
        quantity = self.rng.choice((1, 2))
        body = order_body(self.rng, self.orders, [(variant["id"], quantity)], shipping=False)
        headers = {"Idempotency-Key": f"bench-check-{secrets.token_hex(12)}"}
        written = await self._call("POST", ORDERS, json=body, headers=headers)
        if written is None or written.status_code >= 300:
            return
        after = await self._read(product_id)
        if after is None:
            return
        self.stats.checks += 1
        self.stats.order_checks += 1
        expected = variant["inventoryQuantity"] - quantity
        seen = next((v for v in after[0]["variants"] if v["id"] == variant["id"]), None)
        if seen is None or seen["inventoryQuantity"] != expected:
            self.stats.stale_reads += 1
            got = None if seen is None else seen["inventoryQuantity"]
            self.stats.note(
                f"product {product_id}: inventoryQuantity {got} after an order of {quantity}, "
                f"expected {expected}"
            )

    async def _loop(self, owned: list[int], deadline: float) -> None:
        kinds = [
            k
            for k, on in (
                ("inventory", self.adjust),
                ("catalog", self.update),
                ("order", self.orders is not None),
            )
            if on
        ]
        if not kinds or not owned:
            return
        for step in itertools.count():
            if time.monotonic() >= deadline:
                return
            product_id = owned[step % len(owned)]
            before = await self._read(product_id)
            if before is None:
                continue
            detail, etag = before
            kind = kinds[step % len(kinds)]
            if kind == "inventory":
                await self._check_inventory(product_id, detail)
            elif kind == "order":
                await self._check_order(product_id, detail)
            else:
                await self._check_title(product_id, detail, etag)

    async def run(self, duration_s: float, loops: int) -> None:
        deadline = time.monotonic() + duration_s
        await asyncio.gather(
            *(self._loop(self.product_ids[i::loops], deadline) for i in range(loops))
        )


FLASH_SALE_BUYERS = 200
FLASH_SALE_ROUNDS = 3


def _percentile(ordered: list[float], p: float) -> float:
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)


class FlashSaleRun:
    """200 buyers at once for the last 50 units of one variant, in rounds.

    Each round sets the variant's stock to 50 units at its first location and 0 elsewhere
    (through the API, so caches follow), then every buyer orders one unit at a time, each
    order with its own Idempotency-Key (unless `idempotency_keys` is off), until an answer
    says it is sold out (409) or fails.
    Afterwards the database says how many units the round's placed orders hold (it must be
    exactly 50) and that no level went below zero.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        dsn: str,
        orders: OrderData,
        flash: FlashSale,
        *,
        seed: int,
        buyers: int = FLASH_SALE_BUYERS,
        rounds: int = FLASH_SALE_ROUNDS,
        idempotency_keys: bool = True,
    ) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.dsn = dsn
        self.orders = orders
        self.flash = flash
        self.rng = random.Random(seed)
        self.buyers = buyers
        self.rounds = rounds
        self.idempotency_keys = idempotency_keys
        self.latencies_ms: list[float] = []
        self.statuses: dict[str, int] = {}
        self.socket_errors = 0
        self.examples: list[str] = []

    async def _restock(self, client: LeanClient) -> None:
        for index, location in enumerate(self.flash.location_ids):
            response = await client.post(
                INVENTORY_SET,
                json={
                    "inventoryItemId": self.flash.inventory_item_id,
                    "locationId": location,
                    "available": FLASH_SALE_STOCK if index == 0 else 0,
                },
            )
            if response.status_code >= 300:
                raise RuntimeError(
                    f"setting the flash sale's stock: {response.status_code} {response.text[:200]}"
                )

    async def _buyer(self, client: LeanClient, start: asyncio.Event) -> None:
        await start.wait()
        while True:
            body = order_body(self.rng, self.orders, [(self.flash.variant_id, 1)])
            headers = (
                {"Idempotency-Key": f"bench-flash-{secrets.token_hex(12)}"}
                if self.idempotency_keys
                else {}
            )
            began = time.perf_counter()
            try:
                response = await client.post(ORDERS, json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.socket_errors += 1
                if len(self.examples) < 10:
                    self.examples.append(f"{type(exc).__name__}: {exc}")
                return
            self.latencies_ms.append((time.perf_counter() - began) * 1000)
            status = str(response.status_code)
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if response.status_code >= 300:
                if response.status_code != 409 and len(self.examples) < 10:
                    self.examples.append(f"{status} {response.text[:200]}")
                return

    async def _sold_since(self, order_id: int) -> dict[str, int]:
        connection = await asyncpg.connect(self.dsn)
        try:
            row = await connection.fetchrow(
                "SELECT coalesce(sum(li.quantity), 0) AS sold, count(DISTINCT o.id) AS orders "
                "FROM order_line_items li JOIN orders o ON o.id = li.order_id "
                "WHERE li.product_variant_id = $1 AND o.id > $2 "
                "AND o.reserved_until IS NULL AND o.deleted_at IS NULL",
                self.flash.variant_id,
                order_id,
            )
            pending = await connection.fetchval(
                "SELECT count(*) FROM orders o WHERE o.id > $1 AND o.reserved_until IS NOT NULL",
                order_id,
            )
            levels = await connection.fetchrow(
                "SELECT coalesce(sum(available), 0) AS available, min(available) AS lowest "
                "FROM inventory_levels WHERE inventory_item_id = $1",
                self.flash.inventory_item_id,
            )
        finally:
            await connection.close()
        return {
            "sold": int(row["sold"]),
            "orders": int(row["orders"]),
            "reservations_left": int(pending),
            "available_after": int(levels["available"]),
            "lowest_level": int(levels["lowest"]),
        }

    async def _settled(self, order_id: int, limit_s: float = 90.0) -> dict[str, int]:
        """The round's count once the server has finished it: a buyer that gave up (a client
        timeout) leaves its order running on the server, and the next round's restock must
        not overlap it. Settled: no reservation left and the same count twice, 1 s apart."""
        deadline = time.monotonic() + limit_s
        counted = await self._sold_since(order_id)
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            again = await self._sold_since(order_id)
            if again == counted and again["reservations_left"] == 0:
                break
            counted = again
        return counted

    async def _last_order_id(self) -> int:
        connection = await asyncpg.connect(self.dsn)
        try:
            return int(await connection.fetchval("SELECT coalesce(max(id), 0) FROM orders"))
        finally:
            await connection.close()

    async def run(self) -> dict[str, Any]:
        rounds: list[dict[str, Any]] = []
        cpu_before = os.times()
        wall = 0.0
        for _ in range(self.rounds):
            # A new crowd each round, on new connections: kept-alive ones would have been
            # closed by the server while the last round settled (a ReadError on reuse).
            async with LeanClient(
                self.base_url, headers=self.headers, timeout=30.0, max_connections=self.buyers
            ) as client:
                await self._restock(client)
                before = await self._last_order_id()
                start = asyncio.Event()
                tasks = [
                    asyncio.create_task(self._buyer(client, start)) for _ in range(self.buyers)
                ]
                began = time.monotonic()
                start.set()
                await asyncio.gather(*tasks)
                took = time.monotonic() - began
            wall += took
            counted: dict[str, Any] = dict(await self._settled(before))
            counted["seconds"] = round(took, 2)
            counted["settle_s"] = round(time.monotonic() - began - took, 2)
            rounds.append(counted)
        cpu_after = os.times()
        ordered = sorted(self.latencies_ms)
        requests = len(ordered)
        status_5xx = sum(c for s, c in self.statuses.items() if s.startswith("5"))
        non_2xx = sum(c for s, c in self.statuses.items() if not s.startswith("2"))
        runner_cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
        return {
            "requests": requests,
            "duration_s": round(wall, 2),
            "rps": round(requests / wall, 1) if wall else 0.0,
            "latency_ms": {
                "p50": _percentile(ordered, 50),
                "p75": _percentile(ordered, 75),
                "p90": _percentile(ordered, 90),
                "p95": _percentile(ordered, 95),
                "p99": _percentile(ordered, 99),
                "max": round(ordered[-1], 2) if ordered else 0.0,
                "mean": round(sum(ordered) / requests, 2) if requests else 0.0,
            },
            "errors": {
                # A 409 is the sold-out answer every buyer ends with: not an error here.
                "non_2xx": non_2xx,
                "status_5xx": status_5xx,
                "socket": self.socket_errors,
                "timeout": 0,
                "total": non_2xx - self.statuses.get("409", 0) + self.socket_errors,
            },
            "statuses": dict(sorted(self.statuses.items())),
            "load_generator": {
                "cpu_cores": round(runner_cpu / wall, 3) if wall else 0.0,
                "machine_share": round(runner_cpu / wall / (os.cpu_count() or 1), 3)
                if wall
                else 0.0,
            },
            "flash_sale": {
                "buyers": self.buyers,
                "idempotency_keys": self.idempotency_keys,
                "stock": FLASH_SALE_STOCK,
                "variant_id": self.flash.variant_id,
                "rounds": rounds,
                "examples": self.examples,
            },
        }
