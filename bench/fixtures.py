"""Request files for wrk, built from the seeded database and what the running API answers.

Each file holds one request per line, `METHOD<TAB>PATH[<TAB>JSON body[<TAB>K]]`; requests.lua
picks lines at random, and gives a line ending in `K` a fresh `Idempotency-Key` each time it
sends it. Which scenarios can run depends on which endpoints answer (the catalog and inventory
endpoints arrive in their own issue): `capabilities` records what was found.
"""

from __future__ import annotations

import json
import math
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx

from bench import lifecycle
from bench.env import log
from shopdb.bench.words import search_words
from shopdb.kit.pagination import MAX_OFFSET

API = "/api/v1"
PRODUCTS = f"{API}/products"
ADJUST = f"{API}/inventory-levels/adjust"
INVENTORY_SET = f"{API}/inventory-levels/set"
ORDERS = f"{API}/orders"
CEILING = f"{API}/bench/ceiling"
LIST_PAGE_SIZE = 50
CURSOR_POSITION = 9_950
ADJUST_REASON = "correction"
APPROVED_CARD = "4242424242424242"  # the `test` gateway approves it
# Marks a request line whose every sending gets a new Idempotency-Key (requests.lua).
FRESH_KEY = "K"
ORDER_LINES = 5_000
FLASH_SALE_STOCK = 50


@dataclass
class Fixtures:
    directory: Path
    files: dict[str, Path] = field(default_factory=dict)
    capabilities: dict[str, str] = field(default_factory=dict)  # name -> "ok" or why not
    product_ids: list[int] = field(default_factory=list)
    checker_product_ids: list[int] = field(default_factory=list)
    location_ids: list[int] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    orders: OrderData | None = None
    # The seeded orders order_lifecycle captures, fulfils and refunds (bench/lifecycle.py).
    lifecycle_orders: list[lifecycle.LifecycleOrder] = field(default_factory=list)

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


def post_line(path: str, body: dict[str, Any], *, fresh_key: bool = False) -> str:
    line = f"POST\t{path}\t{json.dumps(body, separators=(',', ':'))}"
    return f"{line}\t{FRESH_KEY}" if fresh_key else line


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


@dataclass
class Buyer:
    customer_id: int
    address: dict[str, str]


@dataclass
class FlashSale:
    """The variant a flash sale sells out, and where its stock is."""

    variant_id: int
    product_id: int
    inventory_item_id: int
    location_ids: list[int]


@dataclass
class OrderData:
    """What order bodies and order reads are built from (the seeded database)."""

    variants: list[tuple[int, int]]  # (variant, product) of active products, 20+ units each
    buyers: list[Buyer]
    shipping_rate_ids: list[int]
    order_ids: list[int]
    customers_with_orders: list[int]
    first_order_at: datetime | None
    last_order_at: datetime | None
    flash: FlashSale | None = None


async def load_order_data(dsn: str, excluded_products: set[int]) -> OrderData:
    connection = await asyncpg.connect(dsn)
    try:
        variants = [
            (r["variant_id"], r["product_id"])
            for r in await connection.fetch(
                "SELECT v.id AS variant_id, v.product_id FROM product_variants v "
                "JOIN products p ON p.id = v.product_id "
                "JOIN inventory_items i ON i.product_variant_id = v.id "
                "WHERE p.status = 'active' AND p.deleted_at IS NULL AND i.tracked "
                # 20+ units at every level: a run's orders (a few thousand units spread over
                # the catalog) never run a level out, so no order is refused for stock.
                "AND NOT EXISTS (SELECT 1 FROM inventory_levels l "
                "WHERE l.inventory_item_id = i.id AND l.available < 20) ORDER BY v.id"
            )
            if r["product_id"] not in excluded_products
        ]
        buyers = [
            Buyer(
                r["id"],
                {
                    "firstName": r["first_name"],
                    "lastName": r["last_name"],
                    "address1": r["address1"],
                    "city": r["city"],
                    "province": r["province"],
                    "countryCode": r["country"],
                    "provinceCode": r["province"],
                    "zip": r["zip"],
                },
            )
            for r in await connection.fetch(
                "SELECT c.id, c.first_name, c.last_name, a.address1, a.city, a.province, "
                "a.country, a.zip FROM customers c JOIN customer_addresses a "
                "ON a.customer_id = c.id AND a.is_default WHERE c.deleted_at IS NULL "
                "ORDER BY c.id"
            )
        ]
        rates = [
            r["id"] for r in await connection.fetch("SELECT id FROM shipping_rates ORDER BY id")
        ]
        orders = [
            r["id"]
            for r in await connection.fetch(
                "SELECT id FROM orders WHERE reserved_until IS NULL AND deleted_at IS NULL "
                "ORDER BY id"
            )
        ]
        with_orders = [
            r["customer_id"]
            for r in await connection.fetch(
                "SELECT DISTINCT customer_id FROM orders WHERE customer_id IS NOT NULL "
                "ORDER BY customer_id"
            )
        ]
        span = await connection.fetchrow("SELECT min(created_at), max(created_at) FROM orders")
    finally:
        await connection.close()
    return OrderData(variants, buyers, rates, orders, with_orders, span[0], span[1])


async def load_flash_sale(dsn: str, variant_id: int, product_id: int) -> FlashSale:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT i.id AS item_id, l.location_id FROM inventory_items i "
            "JOIN inventory_levels l ON l.inventory_item_id = i.id "
            "WHERE i.product_variant_id = $1 ORDER BY l.location_id",
            variant_id,
        )
    finally:
        await connection.close()
    return FlashSale(variant_id, product_id, rows[0]["item_id"], [r["location_id"] for r in rows])


def order_body(
    rng: random.Random,
    data: OrderData,
    lines: list[tuple[int, int]],
    *,
    shipping: bool = True,
) -> dict[str, Any]:
    """An order as a storefront checkout sends it: a seeded customer, their address, a
    shipping rate, the `test` gateway's approving card, captured at once."""
    buyer = rng.choice(data.buyers)
    body: dict[str, Any] = {
        "customerId": buyer.customer_id,
        "lineItems": [{"variantId": variant, "quantity": quantity} for variant, quantity in lines],
        "payment": {"gateway": "test", "token": APPROVED_CARD, "capture": True},
    }
    if shipping:
        body["shippingAddress"] = buyer.address
        body["billingAddress"] = buyer.address
        if data.shipping_rate_ids:
            body["shippingRateId"] = rng.choice(data.shipping_rate_ids)
    return body


def random_order_body(
    rng: random.Random, data: OrderData, *, shipping: bool = True
) -> dict[str, Any]:
    """1 to 3 distinct in-stock variants, 1 or 2 units each."""
    picked = rng.sample(data.variants, rng.randint(1, 3))
    lines = [(variant, rng.choice((1, 1, 1, 2))) for variant, _ in picked]
    return order_body(rng, data, lines, shipping=shipping)


async def _probe_order(
    client: httpx.AsyncClient, rng: random.Random, data: OrderData
) -> tuple[str, bool]:
    """("ok" or why not, whether bodies carry a shipping address and rate)."""
    if not data.variants or not data.buyers:
        return "no in-stock variant or no customer in the database", True
    headers = {"Idempotency-Key": f"bench-probe-{secrets.token_hex(8)}"}
    answer = await _probe(
        client, "POST", ORDERS, json=random_order_body(rng, data), headers=headers
    )
    if answer == "ok":
        return answer, True
    # A bare order (no shipping, no tax) still measures placement.
    headers = {"Idempotency-Key": f"bench-probe-{secrets.token_hex(8)}"}
    bare = await _probe(
        client, "POST", ORDERS, json=random_order_body(rng, data, shipping=False), headers=headers
    )
    return (bare, False) if bare == "ok" else (answer, True)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _order_list_lines(
    client: httpx.AsyncClient, rng: random.Random, data: OrderData
) -> tuple[list[str], dict[str, Any]]:
    """Random pages of the order list under the filters and sorts of issue 12, each page
    within its filter's page count (read once with withTotal=true)."""
    filters: list[dict[str, str]] = [{}]
    filters += [{"status": s} for s in ("open", "closed", "cancelled")]
    filters += [
        {"financialStatus": f}
        for f in ("paid", "pending", "authorized", "refunded", "partially_refunded", "voided")
    ]
    filters += [{"fulfillmentStatus": f} for f in ("fulfilled", "unfulfilled", "partial")]
    filters += [
        {"sortBy": key, "sortDirection": direction}
        for key in ("number", "totalPrice", "updatedAt")
        for direction in ("asc", "desc")
    ]
    filters += [{"status": "open", "financialStatus": "paid", "sortBy": "totalPrice"}]
    lines: list[str] = []
    pages: dict[str, int] = {}
    for extra in filters:
        response = await client.get(ORDERS, params={"pageSize": 1, "withTotal": "true", **extra})
        if response.status_code != 200:
            continue
        total = int(response.json().get("totalCount") or 0)
        # Offset pages end at MAX_OFFSET rows (deeper ones are a 400 pointing to the cursor).
        count = max(1, min(math.ceil(total / LIST_PAGE_SIZE), MAX_OFFSET // LIST_PAGE_SIZE))
        pages[urlencode(extra) or "(none)"] = count
        for _ in range(100):
            params = {"pageSize": LIST_PAGE_SIZE, **extra, "page": rng.randint(1, count)}
            lines.append(get_line(ORDERS, params))
    # A customer's orders, and orders since a date: first pages, as a back office reads them.
    for customer in rng.sample(
        data.customers_with_orders, min(300, len(data.customers_with_orders))
    ):
        lines.append(get_line(ORDERS, {"pageSize": LIST_PAGE_SIZE, "customerId": customer}))
    if data.first_order_at and data.last_order_at:
        span = (data.last_order_at - data.first_order_at).total_seconds()
        for _ in range(300):
            since = data.first_order_at + (data.last_order_at - data.first_order_at) * (
                rng.random() if span else 0
            )
            sort = rng.choice(({}, {"sortBy": "totalPrice"}, {"sortDirection": "asc"}))
            lines.append(
                get_line(
                    ORDERS,
                    {"pageSize": LIST_PAGE_SIZE, "createdAtMin": _iso(since), **sort},
                )
            )
    rng.shuffle(lines)
    return lines, {"filters": pages, "lines": len(lines)}


async def _order_fixtures(
    fixtures: Fixtures,
    client: httpx.AsyncClient,
    rng: random.Random,
    dsn: str,
    reserved: set[int],
) -> list[str]:
    """The order scenarios' request files; the order placements the mixed run gets."""
    data = await load_order_data(dsn, reserved)
    fixtures.orders = data
    state, shipping = await _probe_order(client, rng, data)
    fixtures.capabilities["order_create"] = state
    placements: list[str] = []
    if fixtures.has("order_create"):
        # The flash sale's variant: no other scenario orders it.
        flash_index = rng.randrange(len(data.variants))
        flash_variant, flash_product = data.variants.pop(flash_index)
        data.flash = await load_flash_sale(dsn, flash_variant, flash_product)
        placements = [
            post_line(ORDERS, random_order_body(rng, data, shipping=shipping), fresh_key=True)
            for _ in range(ORDER_LINES)
        ]
        fixtures.write("orders", placements)
        fixtures.notes["orders"] = {
            "lines": len(placements),
            "variants": len(data.variants),
            "with_shipping": shipping,
            "flash_sale_variant": flash_variant,
        }
    if data.order_ids:
        fixtures.capabilities["order_detail"] = await _probe(
            client, "GET", f"{ORDERS}/{data.order_ids[0]}"
        )
    else:
        fixtures.capabilities["order_detail"] = "no orders in the database"
    detail = [get_line(f"{ORDERS}/{order_id}") for order_id in data.order_ids]
    rng.shuffle(detail)
    if detail:
        fixtures.write("order_detail", detail)
    fixtures.capabilities["order_list"] = await _probe(
        client, "GET", ORDERS, params={"pageSize": LIST_PAGE_SIZE}
    )
    if fixtures.has("order_list"):
        listing, fixtures.notes["order_list"] = await _order_list_lines(client, rng, data)
        fixtures.write("order_list", listing)
    return placements


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
        placements = await _order_fixtures(fixtures, client, rng, dsn, reserved)
        fixtures.lifecycle_orders = lifecycle.pick(await lifecycle.load_from(dsn), seed)
        fixtures.capabilities["order_lifecycle"] = await lifecycle.probe(
            client, fixtures.lifecycle_orders
        )
        fixtures.notes["order_lifecycle"] = {"orders": len(fixtures.lifecycle_orders)}
        fixtures.write(
            "mixed",
            _mixed_lines(
                fixtures, rng, detail_lines, list_lines, search_lines, adjust_lines, placements
            ),
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
    orders: list[str] | None = None,
) -> list[str]:
    """10,000 lines: 90% reads (detail, list, search), 10% writes (adjustments, new products);
    with order placements, 10% of the lines are those, and reads 80%."""
    orders = orders or []
    reads_total = 8_000 if orders else 9_000
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
        lines += (
            rng.choices(pool, k=round(reads_total * weight / read_weight)) if read_weight else []
        )
    write_weight = sum(w for _, w in writes)
    for pool, weight in writes:
        lines += rng.choices(pool, k=round(1_000 * weight / write_weight))
    if orders:
        lines += rng.choices(orders, k=1_000)
    rng.shuffle(lines)
    fixtures.notes["mixed"] = {
        "lines": len(lines),
        "order_share": round(sum(1 for line in lines if f"\t{ORDERS}\t" in line) / len(lines), 3)
        if lines
        else 0.0,
        "write_share": round(sum(1 for line in lines if not line.startswith("GET")) / len(lines), 3)
        if lines
        else 0.0,
    }
    return lines
