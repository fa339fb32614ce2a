"""The scenarios, in the order they run. Adding one is adding an entry (and its request file).

Most run wrk over a request file (bench/fixtures.py writes them). `flash_sale` is driven by
the runner itself (bench/checker.py, FlashSale): it must see every response and count what
was sold in the database afterwards, which wrk cannot. So is `order_lifecycle`
(bench/lifecycle.py): three dependent requests per order, then a reconciliation of each.
`webhook_fanout` runs wrk over order_place's requests, with a webhook receiver, subscriptions
and `shopdb worker` around it (bench/fanout.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.fanout import SUBSCRIPTIONS, TOPIC


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    requests: str  # the request file bench/fixtures.py writes
    needs: tuple[str, ...]  # capabilities bench/fixtures.py probed
    length: Literal["standard", "mixed"] = "standard"
    track_status: bool = False
    stale_check: bool = False
    connections: int | None = None  # wrk's connections; None: --connections
    driver: Literal["wrk", "flash_sale", "order_lifecycle", "webhook_fanout"] = "wrk"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("ceiling", "GET /api/v1/bench/ceiling (HTTP-stack ceiling)", "ceiling", ("ceiling",)),
    Scenario(
        "product_detail",
        "GET /api/v1/products/{id}, random ids",
        "detail",
        ("product_detail",),
    ),
    Scenario(
        "product_list",
        "GET /api/v1/products?pageSize=50, random pages and filters",
        "list",
        ("product_list",),
    ),
    Scenario(
        "cursor_first",
        "GET /api/v1/products?pageSize=50, page 1",
        "cursor_first",
        ("product_cursor",),
    ),
    Scenario(
        "cursor_deep",
        "GET /api/v1/products?pageSize=50&cursor=<position 9,950>",
        "cursor_deep",
        ("product_cursor",),
    ),
    Scenario(
        "search",
        "GET /api/v1/products?q=<word from the data set>",
        "search",
        ("product_search",),
    ),
    Scenario(
        "inventory_adjust",
        "POST /api/v1/inventory-levels/adjust, random items, +1/-1",
        "adjust",
        ("inventory_adjust",),
        track_status=True,
    ),
    Scenario(
        "order_place",
        "POST /api/v1/orders: 1-3 random in-stock lines, test gateway, fresh Idempotency-Key",
        "orders",
        ("order_create",),
        track_status=True,
        connections=16,
    ),
    # Right after order_place, whose req/s is its rate without subscriptions (bench/fanout.py).
    Scenario(
        "webhook_fanout",
        f"POST /api/v1/orders as order_place, {SUBSCRIPTIONS} webhook subscriptions to "
        f"{TOPIC} on a local receiver, `shopdb worker` sending",
        "orders",
        ("order_create",),
        track_status=True,
        connections=16,
        driver="webhook_fanout",
    ),
    Scenario(
        "order_detail",
        "GET /api/v1/orders/{id}, random seeded orders",
        "order_detail",
        ("order_detail",),
    ),
    Scenario(
        "order_list",
        "GET /api/v1/orders?pageSize=50, random pages, filters and sorts",
        "order_list",
        ("order_list",),
    ),
    Scenario(
        "order_lifecycle",
        "capture -> fulfil -> partial refund of seeded authorized orders (POST "
        "/api/v1/orders/{id}/transactions, /fulfillments, /refunds), then reconciled",
        "",
        ("order_lifecycle",),
        track_status=True,
        connections=16,
        driver="order_lifecycle",
    ),
    Scenario(
        "flash_sale",
        "200 buyers at once for the last 50 units of one variant (POST /api/v1/orders)",
        "",
        ("order_create",),
        track_status=True,
        connections=200,
        driver="flash_sale",
    ),
    Scenario(
        "mixed",
        "80% reads / 10% catalog and inventory writes / 10% order placements, with the "
        "stale-read check",
        "mixed",
        ("product_detail",),
        length="mixed",
        track_status=True,
        stale_check=True,
    ),
    # The ceiling again, last: the ratios use the mean of both, which evens out drift.
    Scenario(
        "ceiling_repeat", "GET /api/v1/bench/ceiling, again at the end", "ceiling", ("ceiling",)
    ),
)


def by_name(names: list[str] | None) -> list[Scenario]:
    if not names:
        return list(SCENARIOS)
    known = {s.name for s in SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; known: {sorted(known)}")
    return [s for s in SCENARIOS if s.name in names]
