"""Request files of `make bench-scale` (issue 18's list shapes), built from the live API.

Same format as bench/fixtures.py (`METHOD<TAB>PATH[<TAB>JSON body]`, one request per line,
replayed at random by bench/lua/requests.lua), built once per catalog size and replayed with the
cache off and on. Every page is 20 products, as in the issue's table; the deep pages start at
the same position (9,940) at every size, so their cost can be compared across sizes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx

from bench.env import log
from bench.fixtures import (
    PRODUCTS,
    Fixtures,
    _probe,
    _probe_update,
    cursor_at,
    get_line,
    update_body,
)
from shopdb.bench import words

PAGE_SIZE = 20
DEEP_POSITION = 9_940  # a page boundary at 20 per page: page 498
SEARCH_WORDS = 40  # probed for hits; each probe at 300k without the cache is a full search
PUT_PRODUCTS = 200
PUT_SHARE = 0.05
LISTS_LINES = 2_000


def deep_page(position: int = DEEP_POSITION, page_size: int = PAGE_SIZE) -> int:
    """The 1-based page number whose first product is at `position` (0-based)."""
    if position % page_size:
        raise ValueError(f"position {position} is not a multiple of the page size {page_size}")
    return position // page_size + 1


def put_line(path: str, body: dict[str, Any]) -> str:
    return f"PUT\t{path}\t{json.dumps(body, separators=(',', ':'))}"


def edit_bodies(detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Two PUT bodies for one product that differ only in `bodyHtml`: a real write each time
    one follows the other, that leaves titles, vendors and statuses (what the lists filter and
    sort on) as seeded, so a reused database keeps its shape."""
    bodies = []
    for edit in ("a", "b"):
        body = update_body(detail, str(detail["title"]))
        body["bodyHtml"] = f"<p>Edited by the scale benchmark ({edit}).</p>"
        bodies.append(body)
    return bodies


def mix_lines(
    reads: dict[str, list[str]],
    writes: list[str],
    rng: random.Random,
    *,
    total: int = LISTS_LINES,
    write_share: float = 0.0,
) -> list[str]:
    """`total` lines: the read pools in equal shares, and `write_share` of writes."""
    pools = [pool for pool in reads.values() if pool]
    if not pools:
        return []
    write_count = round(total * write_share) if writes else 0
    per_pool = (total - write_count) // len(pools)
    lines: list[str] = []
    for pool in pools:
        lines += rng.choices(pool, k=per_pool)
    if write_count:
        lines += rng.choices(writes, k=write_count)
    rng.shuffle(lines)
    return lines


def write_share(lines: list[str]) -> float:
    return (
        round(sum(1 for line in lines if not line.startswith("GET")) / len(lines), 3)
        if lines
        else 0.0
    )


async def _search_lines(
    client: httpx.AsyncClient, rng: random.Random
) -> tuple[list[str], dict[str, Any]]:
    candidates = [word.lower() for word in words.search_words()]
    hits: dict[str, int] = {}
    for word in rng.sample(candidates, min(SEARCH_WORDS, len(candidates))):
        # Lists carry no total: the count endpoint (exact up to 10,000, then "at least").
        response = await client.get(f"{PRODUCTS}/count", params={"q": word})
        if response.status_code == 200 and response.json().get("count", 0) > 0:
            hits[word] = int(response.json()["count"])
    lines = [get_line(PRODUCTS, {"q": word, "pageSize": PAGE_SIZE}) for word in sorted(hits)]
    counts = sorted(hits.values())
    return lines, {
        "words": len(hits),
        "hits_min": counts[0] if counts else 0,
        "hits_median": counts[len(counts) // 2] if counts else 0,
        "hits_max": counts[-1] if counts else 0,
    }


async def build_scale(
    directory: Path, base_url: str, token: str, product_ids: list[int], seed: int
) -> Fixtures:
    """The request files of every scale scenario, and which endpoints answered."""
    rng = random.Random(seed)
    fixtures = Fixtures(directory)
    fixtures.product_ids = product_ids
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120.0) as client:
        fixtures.capabilities["product_detail"] = await _probe(
            client, "GET", f"{PRODUCTS}/{product_ids[0]}"
        )
        detail = [
            get_line(f"{PRODUCTS}/{pid}")
            for pid in rng.sample(product_ids, min(20_000, len(product_ids)))
        ]
        fixtures.write("detail", detail)

        first = {"pageSize": PAGE_SIZE}
        fixtures.capabilities["product_list"] = await _probe(client, "GET", PRODUCTS, params=first)
        reads: dict[str, list[str]] = {}
        reads["list_first"] = [get_line(PRODUCTS, first)]
        reads["offset_deep"] = [get_line(PRODUCTS, {**first, "page": deep_page()})]
        cursor = await cursor_at(client, DEEP_POSITION) if fixtures.has("product_list") else None
        fixtures.capabilities["product_cursor"] = (
            "ok" if cursor else f"no cursor reaches position {DEEP_POSITION}"
        )
        reads["cursor_deep"] = [get_line(PRODUCTS, {**first, "cursor": cursor})] if cursor else []
        search: list[str] = []
        if fixtures.has("product_list"):
            search, fixtures.notes["search"] = await _search_lines(client, rng)
        fixtures.capabilities["product_search"] = (
            "ok" if search else "no search word found a product"
        )
        reads["search"] = search
        reads["vendor_title"] = [
            get_line(PRODUCTS, {**first, "vendor": vendor, "sortBy": "title"})
            for vendor in words.VENDORS
        ]
        reads["status_title"] = [
            get_line(PRODUCTS, {**first, "status": "active", "sortBy": "title"})
        ]
        for name, lines in reads.items():
            if lines:
                fixtures.write(name, lines)

        edited = rng.sample(product_ids, min(PUT_PRODUCTS, len(product_ids)))
        fixtures.capabilities["product_update"] = await _probe_update(client, edited[0])
        puts: list[str] = []
        if fixtures.has("product_update"):
            for product_id in edited:
                response = await client.get(f"{PRODUCTS}/{product_id}")
                if response.status_code == 200:
                    puts += [
                        put_line(f"{PRODUCTS}/{product_id}", body)
                        for body in edit_bodies(response.json())
                    ]
        lists = mix_lines(reads, [], rng)
        with_puts = mix_lines(reads, puts, rng, write_share=PUT_SHARE)
        fixtures.write("lists", lists)
        if puts:
            fixtures.write("lists_put", with_puts)
        fixtures.notes["lists"] = {
            "lines": len(lists),
            "pools": sorted(n for n, p in reads.items() if p),
        }
        fixtures.notes["lists_put"] = {
            "lines": len(with_puts),
            "write_share": write_share(with_puts),
        }
    for name, state in fixtures.capabilities.items():
        log(f"capability {name}: {state}")
    return fixtures
