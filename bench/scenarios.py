"""The scenarios, in the order they run. Adding one is adding an entry (and its request file).

Order placement slots in as one more entry once POST /api/v1/orders exists:

    Scenario("order_place", "POST /api/v1/orders (one line item, random variant)",
             "orders", needs=("order_create",), track_status=True),

with an "orders" request file and an "order_create" probe in bench/fixtures.py, and its
target (>= 10% of pgbench tpcb-like tps) is already listed in bench/report.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    requests: str  # the request file bench/fixtures.py writes
    needs: tuple[str, ...]  # capabilities bench/fixtures.py probed
    length: Literal["standard", "mixed"] = "standard"
    track_status: bool = False
    stale_check: bool = False


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
        "mixed",
        "90% reads / 10% catalog and inventory writes, with the stale-read check",
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
