"""Every write that changes what a cached read shows is read back at once: locations, smart
collections' product pages and the shop's settings (tax rates, shipping rates).

On both databases: SQLite has no cache, and the same tests check the reads are right; with
PostgreSQL and SHOPDB_TEST_REDIS_URL every read below goes through the caches, so each test
also checks that no write left a stale entry behind. The `TestCachedForReal` class (PostgreSQL)
shows the reads are cached at all: a change made behind the caches' back is not seen until
something invalidates.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.read_model.cache import DocumentCache
from shopdb.db import Database
from shopdb.models import Location, SmartCollection, TaxRate
from shopdb.services import services_of
from shopdb.tax.service import compute_tax
from tests.caching.conftest import cache_or_skip
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import Backend
from tests.orders.helpers import make_locations, make_variant, order_body, place
from tests.shipping.conftest import QUOTE, create_rate, create_zone

LOCATIONS = "/api/v1/locations"
COLLECTIONS = "/api/v1/smart-collections"
TAX_RATES = "/api/v1/tax-rates"


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def location_names(client: httpx.AsyncClient, admin: Headers, **params: Any) -> list[str]:
    page = await ok(await client.get(LOCATIONS, params={"pageSize": 250, **params}, headers=admin))
    return [item["name"] for item in page["items"]]


async def collection_titles(
    client: httpx.AsyncClient, admin: Headers, collection_id: int
) -> list[str]:
    page = await ok(await client.get(f"{COLLECTIONS}/{collection_id}/products", headers=admin))
    return [item["title"] for item in page["items"]]


async def make_collection(
    client: httpx.AsyncClient, admin: Headers, rules: list[dict[str, Any]], **fields: Any
) -> int:
    body = {"title": unique("Coll "), "rules": rules, "sortOrder": "alpha-asc", **fields}
    created = await ok(await client.post(COLLECTIONS, json=body, headers=admin), 201)
    collection_id: int = created["id"]
    return collection_id


def vendor_rule(vendor: str) -> dict[str, str]:
    return {"column": "vendor", "relation": "equals", "condition": vendor}


class TestLocations:
    async def test_an_edit_is_read_back_in_the_detail_and_the_list(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        created = await ok(await client.post(LOCATIONS, json={"name": "Depot"}, headers=admin), 201)
        path = f"{LOCATIONS}/{created['id']}"
        assert (await ok(await client.get(path, headers=admin)))["name"] == "Depot"
        assert "Depot" in await location_names(client, admin)

        await ok(await client.put(path, json={"name": "Depot North"}, headers=admin))

        assert (await ok(await client.get(path, headers=admin)))["name"] == "Depot North"
        names = await location_names(client, admin)
        assert "Depot North" in names
        assert "Depot" not in names

    async def test_creation_deactivation_and_deletion_move_the_lists(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        before = await location_names(client, admin, active="true")
        created = await ok(
            await client.post(LOCATIONS, json={"name": "Pop-up"}, headers=admin), 201
        )
        assert await location_names(client, admin, active="true") == [*before, "Pop-up"]

        path = f"{LOCATIONS}/{created['id']}"
        await ok(await client.put(path, json={"active": False}, headers=admin))
        assert await location_names(client, admin, active="true") == before
        assert "Pop-up" in await location_names(client, admin, active="false")

        await ok(await client.delete(path, headers=admin), 204)
        assert (await client.get(path, headers=admin)).status_code == 404
        assert "Pop-up" not in await location_names(client, admin)

    async def test_a_missing_location_is_404(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        missing = await client.get(f"{LOCATIONS}/987654321", headers=admin)
        assert missing.status_code == 404
        assert missing.json()["code"] == "NOT_FOUND"


class TestCollectionPages:
    async def test_a_product_edit_moves_it_into_and_out_of_a_collection(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        vendor = unique("V")
        product = await make_product("Alpha", vendor="Elsewhere")
        collection_id = await make_collection(client, admin, [vendor_rule(vendor)])
        assert await collection_titles(client, admin, collection_id) == []

        path = f"/api/v1/products/{product['id']}"
        await ok(await client.put(path, json={"vendor": vendor}, headers=admin))
        assert await collection_titles(client, admin, collection_id) == ["Alpha"]

        await ok(await client.put(path, json={"title": "Beta"}, headers=admin))
        assert await collection_titles(client, admin, collection_id) == ["Beta"]

        await ok(await client.delete(path, headers=admin), 204)
        assert await collection_titles(client, admin, collection_id) == []

    async def test_a_price_change_moves_a_product_into_a_price_rule(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        vendor = unique("V")
        product = await make_product("Cheap soon", vendor=vendor)
        rules = [
            vendor_rule(vendor),
            {"column": "variant_price", "relation": "less_than", "condition": "1.00"},
        ]
        collection_id = await make_collection(client, admin, rules)
        assert await collection_titles(client, admin, collection_id) == []

        for variant in product["variants"]:
            path = f"/api/v1/variants/{variant['id']}"
            await ok(await client.put(path, json={"price": "0.50"}, headers=admin))

        assert await collection_titles(client, admin, collection_id) == ["Cheap soon"]

    async def test_rule_sort_and_manual_order_edits_are_read_back(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        vendor = unique("V")
        first = await make_product("Apple", vendor=vendor)
        second = await make_product("Banana", vendor=vendor)
        collection_id = await make_collection(client, admin, [vendor_rule(vendor)])
        path = f"{COLLECTIONS}/{collection_id}"
        assert await collection_titles(client, admin, collection_id) == ["Apple", "Banana"]

        await ok(await client.put(path, json={"sortOrder": "alpha-desc"}, headers=admin))
        assert await collection_titles(client, admin, collection_id) == ["Banana", "Apple"]

        order = {"productIds": [first["id"], second["id"]]}
        await ok(await client.put(f"{path}/order", json=order, headers=admin))
        assert await collection_titles(client, admin, collection_id) == ["Apple", "Banana"]

        title_rule = {"column": "title", "relation": "starts_with", "condition": "Ban"}
        rules = [vendor_rule(vendor), title_rule]
        await ok(await client.put(path, json={"rules": rules}, headers=admin))
        assert await collection_titles(client, admin, collection_id) == ["Banana"]

        await ok(await client.delete(path, headers=admin), 204)
        gone = await client.get(f"{path}/products", headers=admin)
        assert gone.status_code == 404

    async def test_stock_moves_a_stock_rule_page(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        [location] = await make_locations(database, "Stock rule")
        title = unique("Stocked ")
        stocked = await make_variant(database, "10.00", {location: 1}, title=title)
        rules = [
            {"column": "title", "relation": "equals", "condition": title},
            {"column": "variant_inventory", "relation": "greater_than", "condition": "0"},
        ]
        collection_id = await make_collection(client, admin, rules)
        assert await collection_titles(client, admin, collection_id) == [title]

        adjust = {
            "inventoryItemId": stocked.item_id,
            "locationId": location,
            "availableAdjustment": -1,
        }
        await ok(await client.post("/api/v1/inventory-levels/adjust", json=adjust, headers=admin))

        assert await collection_titles(client, admin, collection_id) == []

    async def test_a_sale_reorders_a_best_selling_page(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        [location] = await make_locations(database, "Best selling")
        vendor = unique("Seller")
        first = await make_variant(database, "10.00", {location: 5}, title=f"{vendor} one")
        second = await make_variant(database, "10.00", {location: 5}, title=f"{vendor} two")
        rules = [{"column": "title", "relation": "starts_with", "condition": vendor}]
        collection_id = await make_collection(client, admin, rules, sortOrder="best-selling")
        assert await collection_titles(client, admin, collection_id) == [
            f"{vendor} one",
            f"{vendor} two",
        ]
        assert first.variant_id < second.variant_id

        placed = await place(client, admin, order_body((second.variant_id, 2)))
        assert placed.status_code == 201, placed.text

        assert await collection_titles(client, admin, collection_id) == [
            f"{vendor} two",
            f"{vendor} one",
        ]


async def tax_on_100(session: AsyncSession, country: str) -> Decimal:
    result = await compute_tax(
        session,
        country=country,
        province=None,
        taxable_amount=Decimal("100.00"),
        shipping_amount=Decimal("0"),
        currency="EUR",
    )
    return result.total


class TestSettings:
    async def test_a_tax_rate_change_is_used_by_the_next_computation(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        body = {"country": "FR", "name": "TVA", "rate": "0.20"}
        created = await ok(await client.post(TAX_RATES, json=body, headers=admin), 201)
        async with database.sessionmaker() as session:
            assert await tax_on_100(session, "FR") == Decimal("20.00")

        path = f"{TAX_RATES}/{created['id']}"
        await ok(await client.put(path, json={**body, "rate": "0.055"}, headers=admin))
        async with database.sessionmaker() as session:
            assert await tax_on_100(session, "FR") == Decimal("5.50")

        await ok(await client.delete(path, headers=admin), 204)
        async with database.sessionmaker() as session:
            assert await tax_on_100(session, "FR") == Decimal("0.00")

    async def test_a_transaction_that_changed_a_rate_reads_its_own_change(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        body = {"country": "IT", "name": "IVA", "rate": "0.22"}
        await ok(await client.post(TAX_RATES, json=body, headers=admin), 201)
        async with database.sessionmaker() as session:
            assert await tax_on_100(session, "IT") == Decimal("22.00")
            await session.execute(
                update(TaxRate).where(TaxRate.country == "IT").values(rate=Decimal("0.10"))
            )
            assert await tax_on_100(session, "IT") == Decimal("10.00")
            await session.rollback()
        async with database.sessionmaker() as session:
            assert await tax_on_100(session, "IT") == Decimal("22.00")

    async def test_shipping_rate_and_zone_changes_are_quoted_at_once(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        zone = await create_zone(client, admin, unique("Zone "), [{"code": "NZ"}])
        rate = await create_rate(client, admin, zone["id"], name="Kiwi post", price="6.00")
        quote = {
            "address": {"country": "NZ"},
            "weightGrams": "500",
            "subtotal": "20.00",
            "currency": "USD",
        }

        async def quoted() -> list[tuple[str, str]]:
            found = await ok(await client.post(QUOTE, json=quote, headers=admin))
            return [(r["name"], r["price"]) for r in found["rates"]]

        assert await quoted() == [("Kiwi post", "6.00")]
        rate_path = f"/api/v1/shipping-zones/{zone['id']}/rates/{rate['id']}"
        changed = {"name": "Kiwi post", "price": "4.00", "currency": "USD"}
        await ok(await client.put(rate_path, json=changed, headers=admin))
        assert await quoted() == [("Kiwi post", "4.00")]

        zone_path = f"/api/v1/shipping-zones/{zone['id']}"
        await ok(
            await client.put(
                zone_path, json={"name": zone["name"], "countries": [{"code": "AU"}]}, headers=admin
            )
        )
        assert await quoted() == []


@pytest.mark.postgres_only
class TestCachedForReal:
    """Changes made behind the caches' back (no journal note) are not seen: the reads above
    did go through the caches; then an invalidation brings the change."""

    async def test_locations(
        self,
        app: FastAPI,
        backend: Backend,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
    ) -> None:
        cache = self._cache(app, backend, "location_cache")
        created = await ok(
            await client.post(LOCATIONS, json={"name": "Hidden"}, headers=admin), 201
        )
        path = f"{LOCATIONS}/{created['id']}"
        await ok(await client.get(path, headers=admin))
        await db_session.execute(
            update(Location).where(Location.id == created["id"]).values(name="Behind")
        )
        assert (await ok(await client.get(path, headers=admin)))["name"] == "Hidden"
        await cache.invalidate([created["id"]])
        assert (await ok(await client.get(path, headers=admin)))["name"] == "Behind"

    async def test_collection_pages(
        self,
        app: FastAPI,
        backend: Backend,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        cache = self._cache(app, backend, "collection_cache")
        vendor = unique("V")
        await make_product("Kept", vendor=vendor)
        collection_id = await make_collection(client, admin, [vendor_rule(vendor)])
        assert await collection_titles(client, admin, collection_id) == ["Kept"]
        # A session that never commits: its note never reaches the cache.
        await db_session.execute(
            update(SmartCollection)
            .where(SmartCollection.id == collection_id)
            .values(rules=[vendor_rule("nobody")])
        )
        assert await collection_titles(client, admin, collection_id) == ["Kept"]
        await cache.invalidate([], listing=True, membership=True)
        assert await collection_titles(client, admin, collection_id) == []

    async def test_settings(
        self,
        app: FastAPI,
        backend: Backend,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
    ) -> None:
        cache = self._cache(app, backend, "settings_cache")
        body = {"country": "ES", "name": "IVA", "rate": "0.21"}
        await ok(await client.post(TAX_RATES, json=body, headers=admin), 201)
        async with database.sessionmaker() as session:
            assert await tax_on_100(session, "ES") == Decimal("21.00")
        async with database.sessionmaker() as session:
            await session.execute(
                update(TaxRate).where(TaxRate.country == "ES").values(rate=Decimal("0.04"))
            )
            session.info.clear()  # behind the cache's back: its note forgotten
            await session.commit()
        async with database.sessionmaker() as session:
            assert await tax_on_100(session, "ES") == Decimal("21.00")
        await cache.invalidate([], listing=True, membership=True)
        async with database.sessionmaker() as session:
            assert await tax_on_100(session, "ES") == Decimal("4.00")

    async def test_a_transaction_asks_redis_once_for_the_settings_it_has_seen(
        self,
        app: FastAPI,
        backend: Backend,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        cache = self._cache(app, backend, "settings_cache")
        body = {"country": "PT", "name": "IVA", "rate": "0.23"}
        created = await ok(await client.post(TAX_RATES, json=body, headers=admin), 201)
        asked: list[list[str]] = []
        mget = cache.redis.mget

        async def counted(keys: list[str]) -> Any:
            asked.append(keys)
            return await mget(keys)

        monkeypatch.setattr(cache.redis, "mget", counted)
        async with database.sessionmaker() as session:  # both families read and stored
            assert await tax_on_100(session, "PT") == Decimal("23.00")
        asked.clear()

        async with database.sessionmaker() as session:
            await session.execute(text("SELECT 1"))  # a transaction, as a placement's quote has
            # compute_tax reads two families (the rates, tax-inclusive pricing): one MGET.
            assert await tax_on_100(session, "PT") == Decimal("23.00")
            assert await tax_on_100(session, "PT") == Decimal("23.00")
            assert len(asked) == 1
            await ok(
                await client.put(
                    f"{TAX_RATES}/{created['id']}", json={**body, "rate": "0.13"}, headers=admin
                )
            )
            # The same transaction goes on with what it has seen; the next one asks again.
            assert await tax_on_100(session, "PT") == Decimal("23.00")
            await session.commit()
            await session.execute(text("SELECT 1"))
            assert await tax_on_100(session, "PT") == Decimal("13.00")
        assert len(asked) >= 2
        asked.clear()
        async with database.sessionmaker() as session:  # outside a transaction: each asks
            assert await tax_on_100(session, "PT") == Decimal("13.00")
        assert len(asked) == 2

    @staticmethod
    def _cache(app: FastAPI, backend: Backend, name: str) -> DocumentCache:
        if backend.name != "postgresql":
            pytest.skip("the caches run on PostgreSQL only")
        found: DocumentCache | None = getattr(services_of(app), name)
        return cache_or_skip(found)
