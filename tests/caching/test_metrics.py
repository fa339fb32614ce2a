"""`cache_requests_total{cache,level,result}` in /metrics covers every cache: the documents of
locations and of the collections' descriptions (memory and Redis levels), the list pages of
locations and collections (`<cache>_pages`, Redis), and the shop's settings (`settings`)."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from shopdb.tax.service import compute_tax
from tests.caching.conftest import Live, cache_or_skip


async def counts(live: Live) -> dict[tuple[str, str, str], float]:
    scraped = await live.client.get("/metrics", headers=live.headers)
    assert scraped.status_code == 200, scraped.text
    found: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(scraped.text):
        for sample in family.samples:
            if sample.name == "cache_requests_total":
                labels = sample.labels
                found[(labels["cache"], labels["level"], labels["result"])] = sample.value
    return found


def moved(
    before: dict[tuple[str, str, str], float], after: dict[tuple[str, str, str], float]
) -> dict[tuple[str, str, str], float]:
    return {
        key: value - before.get(key, 0.0)
        for key, value in after.items()
        if value != before.get(key, 0.0)
    }


async def test_the_new_caches_are_counted_by_level_and_result(live: Live) -> None:
    cache_or_skip(live.services.location_cache)
    created = await live.client.post(
        "/api/v1/locations", json={"name": "Counted"}, headers=live.headers
    )
    assert created.status_code == 201, created.text
    collection = await live.client.post(
        "/api/v1/smart-collections",
        json={
            "title": "Counted",
            "rules": [{"column": "vendor", "relation": "equals", "condition": "counted-none"}],
        },
        headers=live.headers,
    )
    assert collection.status_code == 201, collection.text
    before = await counts(live)

    for _ in range(2):  # a miss, then a hit
        detail = await live.client.get(
            f"/api/v1/locations/{created.json()['id']}", headers=live.headers
        )
        assert detail.status_code == 200
        listing = await live.client.get(
            "/api/v1/locations", params={"pageSize": 7}, headers=live.headers
        )
        assert listing.status_code == 200
        page = await live.client.get(
            f"/api/v1/smart-collections/{collection.json()['id']}/products", headers=live.headers
        )
        assert page.json()["items"] == []
        async with live.database.sessionmaker() as session:
            await compute_tax(
                session,
                country="PT",
                province=None,
                taxable_amount=Decimal("1.00"),
                shipping_amount=Decimal("0"),
                currency="EUR",
            )

    change = moved(before, await counts(live))
    # The location: missed in memory and Redis, then held in this worker's memory.
    assert change[("locations", "memory", "miss")] >= 1
    assert change[("locations", "redis", "miss")] >= 1
    assert change[("locations", "memory", "hit")] >= 1
    assert change[("locations_pages", "redis", "miss")] == 1
    assert change[("locations_pages", "redis", "hit")] == 1
    # The collection's description (its sort, whether stock or sales move its pages).
    assert change[("collections", "memory", "miss")] == 1
    assert change[("collections", "memory", "hit")] == 1
    assert change[("collections_pages", "redis", "miss")] == 1
    assert change[("collections_pages", "redis", "hit")] == 1
    # Two settings per tax computation (the rates, whether prices include tax).
    assert change[("settings", "redis", "miss")] == 2
    assert change[("settings", "redis", "hit")] == 2
