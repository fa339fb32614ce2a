"""The stale-read check of the mixed scenario: after a write, a read of the same product shows it.

wrk cannot tie a read to the write before it (its Lua state is per thread, not per
connection), so a few asyncio loops do it beside wrk's load: each owns products no wrk write
touches, reads one, writes it (an inventory adjustment or a title change with If-Match), and
reads it again at once. Any read that does not show the write is a stale read.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.fixtures import ADJUST, PRODUCTS, adjust_body, update_body

_SUFFIX = re.compile(r" \(check \d+\)$")


@dataclass
class CheckerStats:
    checks: int = 0
    inventory_checks: int = 0
    catalog_checks: int = 0
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
    ) -> None:
        self.client = client
        self.product_ids = product_ids
        self.location_ids = location_ids
        self.adjust = adjust
        self.update = update
        self.rng = random.Random(seed)
        self.stats = CheckerStats()
        self.counter = itertools.count(1)

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

    async def _loop(self, owned: list[int], deadline: float) -> None:
        kinds = [k for k, on in (("inventory", self.adjust), ("catalog", self.update)) if on]
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
            if kinds[step % len(kinds)] == "inventory":
                await self._check_inventory(product_id, detail)
            else:
                await self._check_title(product_id, detail, etag)

    async def run(self, duration_s: float, loops: int) -> None:
        deadline = time.monotonic() + duration_s
        await asyncio.gather(
            *(self._loop(self.product_ids[i::loops], deadline) for i in range(loops))
        )
