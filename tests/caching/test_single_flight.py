"""A miss storm (many concurrent requests for one cold key) reaches the database once per
worker: the first request builds what missed, the others await its build (DocumentCache.
read_through for documents, fill_page for pages, value for settings).

Each test fires STORM concurrent requests at one cold key through the app (one worker) and
counts the statements that build it (tests/fixtures/queries.py).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from shopdb.catalog.read_model.cache import DocumentCache
from shopdb.tax.service import compute_tax
from tests.caching.conftest import Live, cache_or_skip
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import make_locations, make_variant, order_body, place

STORM = 50


async def storm(live: Live, path: str) -> list[httpx.Response]:
    return await asyncio.gather(
        *(live.client.get(path, headers=live.headers) for _ in range(STORM))
    )


def counted(statements: list[str], marker: Callable[[str], bool]) -> int:
    return sum(1 for statement in statements if marker(statement))


def builds_a_document(statement: str) -> bool:
    return "json_build_object" in statement


def reads_a_page(statement: str) -> bool:
    return (
        "FROM products" in statement and "LIMIT" in statement and not builds_a_document(statement)
    )


class TestDocuments:
    async def test_a_cold_product_is_built_once_for_a_storm(self, live: Live) -> None:
        cache_or_skip(live.services.product_cache)
        created = await live.client.post(
            "/api/v1/products",
            json={"title": f"Storm Tee {uuid.uuid4().hex[:6]}", "variants": [{"price": "5.00"}]},
            headers=live.headers,
        )
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]

        with statements_sent(live.database.primary) as sent:
            answers = await storm(live, f"/api/v1/products/{product_id}")

        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1
        assert answers[0].json()["id"] == product_id
        assert counted(sent, builds_a_document) == 1

    async def test_a_cold_order_is_built_once_for_a_storm(self, live: Live) -> None:
        cache_or_skip(live.services.order_cache)
        [location] = await make_locations(live.database, "Storm")
        stocked = await make_variant(live.database, "12.00", {location: 5})
        placed = await place(live.client, live.headers, order_body((stocked.variant_id, 1)))
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]

        with statements_sent(live.database.primary) as sent:
            answers = await storm(live, f"/api/v1/orders/{order_id}")

        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1
        assert answers[0].json()["email"] == "buyer@example.com"
        assert counted(sent, builds_a_document) == 1

    async def test_a_cold_location_is_read_once_for_a_storm(self, live: Live) -> None:
        cache_or_skip(live.services.location_cache)
        created = await live.client.post(
            "/api/v1/locations", json={"name": "Storm depot"}, headers=live.headers
        )
        assert created.status_code == 201, created.text
        location_id = created.json()["id"]

        with statements_sent(live.database.primary) as sent:
            answers = await storm(live, f"/api/v1/locations/{location_id}")

        assert {a.status_code for a in answers} == {200}
        assert {a.json()["name"] for a in answers} == {"Storm depot"}
        assert counted(sent, lambda s: "FROM locations" in s) == 1


class TestPages:
    async def test_a_cold_collection_page_is_read_once_for_a_storm(self, live: Live) -> None:
        cache_or_skip(live.services.collection_cache)
        vendor = f"Storm{uuid.uuid4().hex[:6]}"
        for n in range(3):
            made = await live.client.post(
                "/api/v1/products",
                json={"title": f"Storm {n}", "vendor": vendor, "variants": [{"price": "5.00"}]},
                headers=live.headers,
            )
            assert made.status_code == 201, made.text
        collection = await live.client.post(
            "/api/v1/smart-collections",
            json={
                "title": f"Storm {vendor}",
                "rules": [{"column": "vendor", "relation": "equals", "condition": vendor}],
                "sortOrder": "alpha-asc",
            },
            headers=live.headers,
        )
        assert collection.status_code == 201, collection.text
        path = f"/api/v1/smart-collections/{collection.json()['id']}/products"

        with statements_sent(live.database.primary) as sent:
            answers = await storm(live, path)

        assert {a.status_code for a in answers} == {200}
        assert {tuple(i["title"] for i in a.json()["items"]) for a in answers} == {
            ("Storm 0", "Storm 1", "Storm 2")
        }
        # The collection row once for its description, once for the page; the page once.
        assert counted(sent, lambda s: "FROM smart_collections" in s) == 2
        assert counted(sent, reads_a_page) == 1
        assert counted(sent, builds_a_document) == 1  # the three products' documents


class TestSettings:
    async def test_cold_tax_settings_are_read_once_for_a_storm(self, live: Live) -> None:
        cache = cache_or_skip(live.services.settings_cache)
        assert isinstance(cache, DocumentCache)
        created = await live.client.post(
            "/api/v1/tax-rates",
            json={"country": "DE", "name": "MwSt", "rate": "0.19"},
            headers=live.headers,
        )
        assert created.status_code == 201, created.text

        async def tax() -> Decimal:
            async with live.database.sessionmaker() as session:
                result = await compute_tax(
                    session,
                    country="DE",
                    province=None,
                    taxable_amount=Decimal("100.00"),
                    shipping_amount=Decimal("0"),
                    currency="EUR",
                )
                return result.total

        with statements_sent(live.database.primary) as sent:
            totals = await asyncio.gather(*(tax() for _ in range(STORM)))

        assert set(totals) == {Decimal("19.00")}
        assert counted(sent, lambda s: "FROM tax_rates" in s) == 1
        assert counted(sent, lambda s: "FROM market_regions" in s) == 1


pytestmark = pytest.mark.postgres_only
