"""Request files for wrk, built from the seeded database and what the running API answers.

Each file holds one request per line, `METHOD<TAB>PATH[<TAB>JSON body]`; requests.lua picks
lines at random. Which scenarios can run depends on which endpoints answer (the catalog and
inventory endpoints arrive in their own issue): `capabilities` records what was found.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx

from bench.env import log
from shopdb.bench.words import search_words

API = "/api/v1"
PRODUCTS = f"{API}/products"
ADJUST = f"{API}/inventory-levels/adjust"
CEILING = f"{API}/bench/ceiling"
LIST_PAGE_SIZE = 50
CURSOR_POSITION = 9_950
ADJUST_REASON = "correction"


@dataclass
class Fixtures:
    directory: Path
    files: dict[str, Path] = field(default_factory=dict)
    capabilities: dict[str, str] = field(default_factory=dict)  # name -> "ok" or why not
    product_ids: list[int] = field(default_factory=list)
    checker_product_ids: list[int] = field(default_factory=list)
    location_ids: list[int] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def has(self, capability: str) -> bool:
        return self.capabilities.get(capability) == "ok"

    def write(self, name: str, lines: list[str]) -> None:
        path = self.directory / f"{name}.txt"
        path.write_text("\n".join(lines) + "\n")
        self.files[name] = path


def get_line(path: str, params: dict[str, Any] | None = None) -> str:
    return f"GET\t{path}{'?' + urlencode(params) if params else ''}"


def post_line(path: str, body: dict[str, Any]) -> str:
    return f"POST\t{path}\t{json.dumps(body, separators=(',', ':'))}"


def adjust_body(item_id: int, location_id: int, delta: int) -> dict[str, Any]:
    return {
        "inventoryItemId": item_id,
        "locationId": location_id,
        "availableAdjustment": delta,
        "reason": ADJUST_REASON,
    }


def new_product_body(rng: random.Random, number: int) -> dict[str, Any]:
    """A product for POST: no handle and no SKU, so repeating a line never conflicts."""
    sizes = ["S", "M", "L"]
    return {
        "title": f"Bench Created Tote {number}",
        "bodyHtml": "<p>Created during the mixed benchmark.</p>",
        "vendor": "Bench Vendor",
        "productType": "Bags",
        "status": "draft",
        "tags": "bench, created",
        "options": [{"name": "Size", "values": sizes}],
        "variants": [{"price": f"{rng.randint(10, 90)}.00", "option1": size} for size in sizes],
    }


def update_body(detail: dict[str, Any], title: str) -> dict[str, Any]:
    """The product as GET returned it, with a new title, in the shape PUT accepts."""
    return {
        "title": title,
        "handle": detail.get("handle"),
        "bodyHtml": detail.get("bodyHtml"),
        "vendor": detail.get("vendor"),
        "productType": detail.get("productType"),
        "status": detail.get("status"),
        "tags": detail.get("tags"),
        "options": [
            {"name": option["name"], "values": option.get("values", [])}
            for option in detail.get("options", [])
        ],
        "variants": [
            {
                key: variant.get(key)
                for key in (
                    "id",
                    "price",
                    "compareAtPrice",
                    "sku",
                    "barcode",
                    "option1",
                    "option2",
                    "option3",
                    "weight",
                    "weightUnit",
                )
                if key in variant
            }
            for variant in detail.get("variants", [])
        ],
    }


async def load_ids(dsn: str) -> tuple[list[int], list[tuple[int, int, int]], list[int]]:
    """Product ids, (product, inventory item, location) of every level, and location ids."""
    connection = await asyncpg.connect(dsn)
    try:
        products = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM products WHERE deleted_at IS NULL ORDER BY id"
            )
        ]
        levels = [
            (r["product_id"], r["inventory_item_id"], r["location_id"])
            for r in await connection.fetch(
                "SELECT v.product_id, l.inventory_item_id, l.location_id FROM inventory_levels l "
                "JOIN inventory_items i ON i.id = l.inventory_item_id "
                "JOIN product_variants v ON v.id = i.product_variant_id "
                # Products created by an earlier mixed run (--reuse-database) start at 0:
                # a -1 there is rightly refused, and would count as an error.
                "WHERE l.available >= 20 ORDER BY l.id"
            )
        ]
        locations = [
            r["id"] for r in await connection.fetch("SELECT id FROM locations ORDER BY id")
        ]
    finally:
        await connection.close()
    return products, levels, locations


async def _probe(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> str:
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        return f"request failed: {type(exc).__name__}"
    if response.status_code >= 300:
        return f"{method} {path.split('?')[0]} answered {response.status_code}"
    return "ok"


async def _probe_update(client: httpx.AsyncClient, product_id: int) -> str:
    """PUT the product back as GET shows it (same title), with its ETag as If-Match."""
    read = await client.get(f"{PRODUCTS}/{product_id}")
    if read.status_code != 200:
        return f"GET {PRODUCTS}/{{id}} answered {read.status_code}"
    etag = read.headers.get("etag")
    return await _probe(
        client,
        "PUT",
        f"{PRODUCTS}/{product_id}",
        json=update_body(read.json(), read.json()["title"]),
        headers={"If-Match": etag} if etag else {},
    )


async def _list_lines(
    client: httpx.AsyncClient, rng: random.Random
) -> tuple[list[str], dict[str, Any]]:
    """Random pages of filtered and sorted lists, each page within its filter's page count."""
    from shopdb.bench import words

    filters: list[dict[str, str]] = [{}]
    filters += [{"vendor": v} for v in words.VENDORS[:6]]
    filters += [{"productType": t} for t in sorted({t for _, t in words.NOUNS})[:4]]
    filters += [{"status": "active"}, {"tag": "sale"}, {"tag": "eco"}]
    filters += [{"sortBy": "title", "sortDirection": "asc"}, {"sortBy": "created"}]
    filters += [{"status": "active", "vendor": words.VENDORS[7]}]
    lines, pages = [], {}
    for extra in filters:
        params: dict[str, str | int] = {"pageSize": LIST_PAGE_SIZE, **extra}
        filters_only = {k: v for k, v in extra.items() if k not in ("sortBy", "sortDirection")}
        # Lists carry no total: the count endpoint (exact up to the offset pages' reach).
        response = await client.get(f"{PRODUCTS}/count", params=filters_only)
        if response.status_code != 200:
            continue
        total = int(response.json().get("count", 0))
        count = max(1, math.ceil(total / LIST_PAGE_SIZE))
        pages[urlencode(extra) or "(none)"] = count
        for _ in range(200):
            lines.append(get_line(PRODUCTS, {**params, "page": rng.randint(1, count)}))
    rng.shuffle(lines)
    return lines, {"filters": pages}


async def cursor_at(client: httpx.AsyncClient, position: int) -> str | None:
    """The cursor whose page starts at `position` (0-based) in the default order."""
    seen, cursor = 0, None
    while seen < position:
        params: dict[str, Any] = {"pageSize": min(250, position - seen)}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(PRODUCTS, params=params)
        if response.status_code != 200:
            return None
        body = response.json()
        seen += len(body.get("items", []))
        cursor = body.get("nextCursor")
        if not body.get("items") or not cursor:
            return None
    return cursor


async def _search_lines(
    client: httpx.AsyncClient, rng: random.Random
) -> tuple[list[str], dict[str, Any]]:
    hits: dict[str, int] = {}
    for word in search_words():
        response = await client.get(f"{PRODUCTS}/count", params={"q": word.lower()})
        if response.status_code == 200 and response.json().get("count", 0) > 0:
            hits[word.lower()] = int(response.json()["count"])
    lines = [get_line(PRODUCTS, {"q": word, "pageSize": LIST_PAGE_SIZE}) for word in sorted(hits)]
    rng.shuffle(lines)
    counts = sorted(hits.values())
    summary = {
        "words": len(hits),
        "hits_min": counts[0] if counts else 0,
        "hits_median": counts[len(counts) // 2] if counts else 0,
        "hits_max": counts[-1] if counts else 0,
    }
    return lines, summary


async def build(
    directory: Path, base_url: str, token: str, dsn: str, seed: int, checker_products: int
) -> Fixtures:
    rng = random.Random(seed)
    fixtures = Fixtures(directory)
    products, levels, locations = await load_ids(dsn)
    fixtures.product_ids, fixtures.location_ids = products, locations
    # Products the stale-read checker owns: no wrk write touches them, so it knows what to expect.
    reserved = set(rng.sample(products, min(checker_products, len(products) // 10)))
    fixtures.checker_product_ids = sorted(reserved)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0) as client:
        fixtures.capabilities["ceiling"] = await _probe(client, "GET", CEILING)
        fixtures.write("ceiling", [get_line(CEILING)])

        fixtures.capabilities["product_detail"] = await _probe(
            client, "GET", f"{PRODUCTS}/{products[0]}"
        )
        detail_lines = [get_line(f"{PRODUCTS}/{pid}") for pid in products]
        rng.shuffle(detail_lines)
        fixtures.write("detail", detail_lines)

        fixtures.capabilities["product_list"] = await _probe(
            client, "GET", PRODUCTS, params={"pageSize": LIST_PAGE_SIZE}
        )
        list_lines: list[str] = []
        if fixtures.has("product_list"):
            list_lines, fixtures.notes["list"] = await _list_lines(client, rng)
            fixtures.write("list", list_lines)
            cursor = await cursor_at(client, CURSOR_POSITION)
            fixtures.capabilities["product_cursor"] = (
                "ok" if cursor else f"no cursor reaches position {CURSOR_POSITION}"
            )
            fixtures.write("cursor_first", [get_line(PRODUCTS, {"pageSize": LIST_PAGE_SIZE})])
            if cursor:
                fixtures.write(
                    "cursor_deep",
                    [get_line(PRODUCTS, {"pageSize": LIST_PAGE_SIZE, "cursor": cursor})],
                )
        else:
            fixtures.capabilities["product_cursor"] = fixtures.capabilities["product_list"]

        search_lines: list[str] = []
        if fixtures.has("product_list"):
            search_lines, fixtures.notes["search"] = await _search_lines(client, rng)
        fixtures.capabilities["product_search"] = (
            "ok" if search_lines else "no search word found a product"
        )
        if search_lines:
            fixtures.write("search", search_lines)

        free_levels = [(item, loc) for pid, item, loc in levels if pid not in reserved]
        sample = rng.sample(free_levels, min(20_000, len(free_levels)))
        _, probe_item, probe_location = levels[0]
        plus = await _probe(client, "POST", ADJUST, json=adjust_body(probe_item, probe_location, 1))
        minus = await _probe(
            client, "POST", ADJUST, json=adjust_body(probe_item, probe_location, -1)
        )
        fixtures.capabilities["inventory_adjust"] = plus if plus != "ok" else minus
        # Levels with 20+ units, each line as likely +1 as -1: no level nears zero in a run.
        adjust_lines = [
            post_line(ADJUST, adjust_body(item, loc, delta))
            for item, loc in sample
            for delta in (1, -1)
        ]
        fixtures.write("adjust", adjust_lines)

        fixtures.capabilities["product_create"] = await _probe(
            client, "POST", PRODUCTS, json=new_product_body(rng, 0)
        )
        fixtures.capabilities["product_update"] = await _probe_update(
            client, fixtures.checker_product_ids[0] if reserved else products[0]
        )
        fixtures.write(
            "mixed",
            _mixed_lines(fixtures, rng, detail_lines, list_lines, search_lines, adjust_lines),
        )
    for name, state in fixtures.capabilities.items():
        log(f"capability {name}: {state}")
    return fixtures


def _mixed_lines(
    fixtures: Fixtures,
    rng: random.Random,
    detail: list[str],
    listing: list[str],
    search: list[str],
    adjust: list[str],
) -> list[str]:
    """10,000 lines: 90% reads (detail, list, search), 10% writes (adjustments, new products)."""
    reads: list[tuple[list[str], int]] = [(detail, 60), (listing, 20), (search, 10)]
    reads = [(pool, weight) for pool, weight in reads if pool]
    creates = [post_line(PRODUCTS, new_product_body(rng, n)) for n in range(1, 301)]
    writes: list[tuple[list[str], int]] = []
    if fixtures.has("inventory_adjust"):
        writes.append((adjust, 7 if fixtures.has("product_create") else 10))
    if fixtures.has("product_create"):
        writes.append((creates, 3 if fixtures.has("inventory_adjust") else 10))
    read_weight = sum(w for _, w in reads)
    lines: list[str] = []
    for pool, weight in reads:
        lines += rng.choices(pool, k=round(9_000 * weight / read_weight)) if read_weight else []
    write_weight = sum(w for _, w in writes)
    for pool, weight in writes:
        lines += rng.choices(pool, k=round(1_000 * weight / write_weight))
    rng.shuffle(lines)
    fixtures.notes["mixed"] = {
        "lines": len(lines),
        "write_share": round(sum(1 for line in lines if not line.startswith("GET")) / len(lines), 3)
        if lines
        else 0.0,
    }
    return lines
