"""Product documents cached in Redis (catalog/read_model/cache.py): served without the database,
never stale.

PostgreSQL and Redis only (the cache is off on SQLite). Without SHOPDB_TEST_REDIS_URL these
tests skip locally; under CI they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from bench.fixtures import update_body
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.read_model.cache import REDIS_TIMEOUT_SECONDS, Lookup, ProductDocumentCache
from shopdb.catalog.read_model.repository import (
    IdPage,
    ProductFilter,
    ProductPageRequest,
    ProductReadRepository,
)
from shopdb.catalog.read_model.schemas import SortBy
from shopdb.catalog.read_model.service import page_key
from shopdb.db import Database
from shopdb.kit import journal
from shopdb.kit.pagination import DEFAULT_PAGE_SIZE, Direction
from shopdb.models import Product
from shopdb.services import services_of
from shopdb.wiring import command_database
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import Backend
from tests.redis_doubles import FlakyRedis, hung_server

PRODUCTS = "/api/v1/products"


@pytest.fixture
def cache(app: FastAPI, backend: Backend) -> ProductDocumentCache:
    if backend.name != "postgresql":
        pytest.skip("the document cache runs on PostgreSQL only")
    found: ProductDocumentCache | None = services_of(app).product_cache
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("SHOPDB_TEST_REDIS_URL must be set under CI")
        pytest.skip("the document cache needs SHOPDB_TEST_REDIS_URL")
    return found


def invalidate_with(database: Database, worker: ProductDocumentCache) -> None:
    """Commits of `database` invalidate through `worker` alone (another worker's cache)."""
    rerouted = journal.Journal()
    rerouted.subscribe(journal.PRODUCT, worker.products_changed)
    database.after_commit[:] = [rerouted.deliver]


async def retitle_behind_the_cache(session: AsyncSession, product_id: int, title: str) -> None:
    """A change the cache is not told about: only a document served from Redis misses it."""
    await session.execute(update(Product).where(Product.id == product_id).values(title=title))


async def detail(client: httpx.AsyncClient, headers: Headers, product_id: int) -> httpx.Response:
    return await client.get(f"{PRODUCTS}/{product_id}", headers=headers)


class TestReads:
    async def test_a_second_read_comes_from_redis(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        created = await make_product("Cached Tee")
        first = await detail(client, admin, created["id"])
        await retitle_behind_the_cache(db_session, created["id"], "Changed in SQL")

        cached = await detail(client, admin, created["id"])
        assert cached.content == first.content
        assert cached.headers["ETag"] == first.headers["ETag"]

        await cache.invalidate([created["id"]])
        fresh = await detail(client, admin, created["id"])
        assert fresh.json()["title"] == "Changed in SQL"

    async def test_list_pages_reuse_cached_documents(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        first = await make_product("Listcache Alpha")
        second = await make_product("Listcache Beta")
        await detail(client, admin, first["id"])  # only the first is cached
        await retitle_behind_the_cache(db_session, first["id"], "Listcache Alpha renamed")
        await retitle_behind_the_cache(db_session, second["id"], "Listcache Beta renamed")

        page = await client.get(
            PRODUCTS, params={"q": "listcache", "sortBy": "created"}, headers=admin
        )
        assert page.status_code == 200, page.text
        titles = [item["title"] for item in page.json()["items"]]
        # The cached document for the first; the second was built, and is now cached too.
        assert titles == ["Listcache Alpha", "Listcache Beta renamed"]
        lookup = await cache.lookup([second["id"]])
        assert second["id"] in lookup.hits


class TestListPages:
    async def test_a_page_is_served_from_redis_until_a_listing_change(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        first = await make_product("Pagecache One")
        second = await make_product("Pagecache Two")
        query = {"q": "pagecache", "sortBy": "created"}
        before = await client.get(PRODUCTS, params=query, headers=admin)
        assert [i["id"] for i in before.json()["items"]] == [first["id"], second["id"]]
        # Deleted behind the cache's back: the cached page still names it.
        await db_session.execute(
            update(Product).where(Product.id == first["id"]).values(deleted_at=func.now())
        )
        cached = await client.get(PRODUCTS, params=query, headers=admin)
        assert [i["id"] for i in cached.json()["items"]] == [first["id"], second["id"]]

        await cache.invalidate([first["id"]])  # a listing change
        after = await client.get(PRODUCTS, params=query, headers=admin)
        assert [i["id"] for i in after.json()["items"]] == [second["id"]]

    @pytest.mark.parametrize("sort_by", ["title", "created", "updated"])
    async def test_cached_offset_pages_equal_pages_read_directly(
        self,
        sort_by: SortBy,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        for title in ["Slice C", "Slice A", "Slice E", "Slice B", "Slice D"]:
            await make_product(title)
        for page in (1, 2, 3, 4):
            params = {
                "q": "slice",
                "sortBy": sort_by,
                "pageSize": "2",
                "page": str(page),
                "withTotal": "true",
            }
            for _ in range(2):  # a miss that reads the page, then a hit
                cached = (await client.get(PRODUCTS, params=params, headers=admin)).json()
                request = ProductPageRequest(
                    ProductFilter(q="slice"),
                    sort_by,
                    DIRECTIONS[sort_by],
                    page,
                    2,
                    None,
                    with_total=True,
                )
                direct = await ProductReadRepository(db_session).list_documents(request)
                assert [item["id"] for item in cached["items"]] == [
                    orjson.loads(item)["id"] for item in direct.items
                ]
                assert cached["totalCount"] == direct.total == 5
                assert cached["nextCursor"] == direct.next_cursor

    async def test_a_deep_page_of_a_long_list_is_cached_like_the_first(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        for title in ("Deepcache One", "Deepcache Two", "Deepcache Three"):
            await make_product(title)
        query = {"q": "deepcache", "pageSize": "1", "page": "3"}
        page = (await client.get(PRODUCTS, params=query, headers=admin)).json()
        assert len(page["items"]) == 1
        assert page["totalCount"] is None
        key = page_key_of({"q": "deepcache"}, page=3, page_size=1)
        cached = (await cache.lookup_page(key, by_update=True)).page
        assert cached is not None
        assert cached.ids == [page["items"][0]["id"]]

    async def test_a_new_product_shows_in_the_next_page_read(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        await make_product("Newpage First")
        query = {"q": "newpage", "sortBy": "title"}
        assert len((await client.get(PRODUCTS, params=query, headers=admin)).json()["items"]) == 1
        await make_product("Newpage Second")
        assert len((await client.get(PRODUCTS, params=query, headers=admin)).json()["items"]) == 2

    async def test_stock_changes_keep_cached_pages(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        product = await make_product(
            "Stockpage Tee", options=[], variants=[{"price": "1", "inventoryQuantity": 5}]
        )
        query = {"q": "stockpage"}
        await client.get(PRODUCTS, params=query, headers=admin)
        key = page_key_of(query)
        assert await cached_ids(cache, key) == [product["id"]]

        adjusted = await adjust_stock(client, admin, product)
        assert adjusted.status_code == 200, adjusted.text
        assert await cached_ids(cache, key) == [product["id"]]  # the page survived
        page = await client.get(PRODUCTS, params=query, headers=admin)
        # The document did not.
        assert page.json()["items"][0]["variants"][0]["inventoryQuantity"] == 2

    async def test_a_transaction_does_not_cache_pages_after_its_own_listing_changes(
        self,
        cache: ProductDocumentCache,
        db_session: AsyncSession,
    ) -> None:
        await cache.invalidate([])
        lookup = await cache.lookup_page("uncommitted-key", by_update=False)
        journal.note(db_session, journal.PRODUCT, [None])
        await cache.store_page(db_session, "uncommitted-key", lookup, IdPage([1], 1, None))
        assert (await cache.lookup_page("uncommitted-key", by_update=False)).page is None

    async def test_a_description_edit_keeps_pages_by_title_and_retires_pages_by_update(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Twogen Tee")
        by_title = {"q": "twogen", "sortBy": "title"}
        by_update = {"q": "twogen"}
        for query in (by_title, by_update):
            await client.get(PRODUCTS, params=query, headers=admin)
        title_key = page_key_of(by_title, sort_by="title")
        update_key = page_key_of(by_update)

        edited = await client.put(
            f"{PRODUCTS}/{product['id']}", json={"bodyHtml": "<p>new</p>"}, headers=admin
        )
        assert edited.status_code == 200, edited.text
        assert (await cache.lookup_page(title_key, by_update=False)).page is not None
        by_update_lookup = await cache.lookup_page(update_key, by_update=True)
        assert by_update_lookup.stale  # only within the staleness bound (the next test)
        page = (await client.get(PRODUCTS, params=by_title, headers=admin)).json()
        assert page["items"][0]["bodyHtml"] == "<p>new</p>"  # the document is never stale

        renamed = await client.put(
            f"{PRODUCTS}/{product['id']}", json={"title": "Twogen Renamed"}, headers=admin
        )
        assert renamed.status_code == 200, renamed.text
        assert (await cache.lookup_page(title_key, by_update=False)).page is None

    async def test_a_full_put_of_what_was_read_keeps_pages_by_title(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        """Clients send back what they read with one field changed (GET, edit, PUT): the
        unchanged title, tags, options and SKUs must not retire the pages by title."""
        product = await make_product(
            "Fullput Tee",
            tags="summer, sale",
            options=[{"name": "Size", "values": ["S", "M"]}],
            variants=[
                {"price": "5.00", "option1": "S", "sku": "FP-S"},
                {"price": "5.00", "option1": "M", "sku": "FP-M"},
            ],
        )
        by_title = {"q": "fullput", "sortBy": "title"}
        await client.get(PRODUCTS, params=by_title, headers=admin)
        title_key = page_key_of(by_title, sort_by="title")
        read = (await client.get(f"{PRODUCTS}/{product['id']}", headers=admin)).json()
        body = update_body(read, read["title"])
        body["bodyHtml"] = "<p>only this changed</p>"

        written = await client.put(f"{PRODUCTS}/{product['id']}", json=body, headers=admin)
        assert written.status_code == 200, written.text
        assert (await cache.lookup_page(title_key, by_update=False)).page is not None

    async def test_a_page_by_update_time_is_served_stale_only_within_its_bound(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(cache, "list_stale_seconds", 60.0)  # a slow machine stays within
        first = await make_product("Staleorder First")
        second = await make_product("Staleorder Second")
        query = {"q": "staleorder"}  # newest update first
        before = (await client.get(PRODUCTS, params=query, headers=admin)).json()
        assert [i["id"] for i in before["items"]] == [second["id"], first["id"]]

        edited = await client.put(
            f"{PRODUCTS}/{first['id']}", json={"bodyHtml": "<p>moved up</p>"}, headers=admin
        )
        assert edited.status_code == 200, edited.text
        # Within the bound: the previous order, with the current documents.
        within = (await client.get(PRODUCTS, params=query, headers=admin)).json()
        assert [i["id"] for i in within["items"]] == [second["id"], first["id"]]
        assert within["items"][1]["bodyHtml"] == "<p>moved up</p>"

        monkeypatch.setattr(cache, "list_stale_seconds", 0.0)  # the bound has passed
        after = (await client.get(PRODUCTS, params=query, headers=admin)).json()
        assert [i["id"] for i in after["items"]] == [first["id"], second["id"]]

    async def test_a_membership_change_is_never_served_stale(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Nostale Tee")
        query = {"q": "nostale"}
        assert len((await client.get(PRODUCTS, params=query, headers=admin)).json()["items"]) == 1
        deleted = await client.delete(f"{PRODUCTS}/{product['id']}", headers=admin)
        assert deleted.status_code == 204, deleted.text
        assert (await client.get(PRODUCTS, params=query, headers=admin)).json()["items"] == []

    async def test_concurrent_misses_of_a_page_read_it_once(
        self, cache: ProductDocumentCache, db_session: AsyncSession
    ) -> None:
        key = "flight-in-one-worker"
        lookup = await cache.lookup_page(key, by_update=True)
        reads_of_the_page = 0

        async def read() -> IdPage:
            nonlocal reads_of_the_page
            reads_of_the_page += 1
            await asyncio.sleep(0.05)  # long enough for every other request to miss too
            return IdPage([5], None, "next")

        pages = await asyncio.gather(
            *(cache.fill_page(db_session, key, lookup, read) for _ in range(8))
        )
        assert pages == [IdPage([5], None, "next")] * 8
        assert reads_of_the_page == 1
        assert (await cache.lookup_page(key, by_update=True)).page == IdPage([5], None, "next")

    async def test_another_workers_read_of_a_page_is_awaited_not_repeated(
        self,
        cache: ProductDocumentCache,
        db_session: AsyncSession,
    ) -> None:
        worker_b, _ = cut_off_worker(cache)
        key = "flight-across-workers"
        lookup = await cache.lookup_page(key, by_update=False)
        assert lookup.generation is not None
        reads_by_a = 0

        async def read_by_a() -> IdPage:
            nonlocal reads_by_a
            reads_by_a += 1
            await asyncio.sleep(0.05)
            return IdPage([7, 8], None, None)

        async def read_by_b() -> IdPage:
            raise AssertionError("worker B must wait for A's page, not read it")

        try:
            filled_a, filled_b = await asyncio.gather(
                cache.fill_page(db_session, key, lookup, read_by_a),
                worker_b.fill_page(db_session, key, lookup, read_by_b),
            )
            assert filled_a == filled_b == IdPage([7, 8], None, None)
            assert reads_by_a == 1
        finally:
            await worker_b.aclose()

    async def test_a_page_whose_reader_vanished_is_read_after_the_wait(
        self,
        cache: ProductDocumentCache,
        db_session: AsyncSession,
    ) -> None:
        key = "flight-abandoned"
        lookup = await cache.lookup_page(key, by_update=False)
        assert lookup.generation is not None
        prefix = await cache.prefix()
        # Another worker took the page's lock and died before storing anything.
        await cache.redis.set(f"{prefix}f:{key}:{lookup.generation.decode()}", b"1", px=5_000)

        async def read() -> IdPage:
            return IdPage([3], None, None)

        assert await cache.fill_page(db_session, key, lookup, read) == IdPage([3], None, None)


DIRECTIONS: dict[SortBy, Direction] = {"title": "asc", "created": "asc", "updated": "desc"}


def page_key_of(
    query: dict[str, str],
    *,
    sort_by: SortBy = "updated",
    page: int = 1,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> str:
    """The page cache key of `GET /products?<query>` with the endpoint's defaults."""
    request = ProductPageRequest(
        ProductFilter(q=query["q"]), sort_by, DIRECTIONS[sort_by], page, page_size, None
    )
    return page_key(request)


async def cached_ids(cache: ProductDocumentCache, key: str) -> list[int] | None:
    found = (await cache.lookup_page(key, by_update=True)).page
    return None if found is None else found.ids


Write = Callable[[httpx.AsyncClient, Headers, dict[str, Any]], Awaitable[httpx.Response]]


async def put_title(client: httpx.AsyncClient, admin: Headers, product: dict[str, Any]) -> Any:
    return await client.put(f"{PRODUCTS}/{product['id']}", json={"title": "Renamed"}, headers=admin)


async def put_variant_price(
    client: httpx.AsyncClient, admin: Headers, product: dict[str, Any]
) -> Any:
    variant_id = product["variants"][0]["id"]
    return await client.put(
        f"/api/v1/variants/{variant_id}", json={"price": "77.00"}, headers=admin
    )


async def add_variant(client: httpx.AsyncClient, admin: Headers, product: dict[str, Any]) -> Any:
    return await client.post(
        f"{PRODUCTS}/{product['id']}/variants",
        json={"price": "5.00", "option1": "M", "option2": "White"},
        headers=admin,
    )


async def delete_variant(client: httpx.AsyncClient, admin: Headers, product: dict[str, Any]) -> Any:
    return await client.delete(f"/api/v1/variants/{product['variants'][0]['id']}", headers=admin)


async def adjust_stock(client: httpx.AsyncClient, admin: Headers, product: dict[str, Any]) -> Any:
    variant = product["variants"][0]
    levels = await client.get(
        "/api/v1/inventory-levels",
        params={"inventoryItemIds": str(variant["inventoryItemId"])},
        headers=admin,
    )
    location_id = levels.json()["items"][0]["locationId"]
    return await client.post(
        "/api/v1/inventory-levels/adjust",
        json={
            "inventoryItemId": variant["inventoryItemId"],
            "locationId": location_id,
            "availableAdjustment": -3,
        },
        headers=admin,
    )


async def set_stock(client: httpx.AsyncClient, admin: Headers, product: dict[str, Any]) -> Any:
    variant = product["variants"][0]
    levels = await client.get(
        "/api/v1/inventory-levels",
        params={"inventoryItemIds": str(variant["inventoryItemId"])},
        headers=admin,
    )
    return await client.post(
        "/api/v1/inventory-levels/set",
        json={
            "inventoryItemId": variant["inventoryItemId"],
            "locationId": levels.json()["items"][0]["locationId"],
            "available": 1,
        },
        headers=admin,
    )


def variant_count(body: dict[str, Any]) -> int:
    return len(body["variants"])


def first_variant_quantity(body: dict[str, Any]) -> Any:
    return body["variants"][0]["inventoryQuantity"]


WRITES: dict[str, tuple[Write, Callable[[dict[str, Any]], Any], Any]] = {
    "product title": (put_title, lambda body: body["title"], "Renamed"),
    "variant price": (put_variant_price, lambda body: body["variants"][0]["price"], "77.00"),
    "variant added": (add_variant, variant_count, 4),
    "variant deleted": (delete_variant, variant_count, 2),
    "stock adjusted": (adjust_stock, first_variant_quantity, 7),
    "stock set": (set_stock, first_variant_quantity, 1),
}


class TestWritesInvalidate:
    @pytest.mark.parametrize("name", list(WRITES))
    async def test_read_after_write_sees_the_write(
        self,
        name: str,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        write, read, expected = WRITES[name]
        product = await make_product(
            f"Invalidated {name}",
            variants=[
                {"price": "19.99", "option1": "S", "option2": "Black", "inventoryQuantity": 10},
                {"price": "19.99", "option1": "S", "option2": "White"},
                {"price": "21.50", "option1": "M", "option2": "Black"},
            ],
        )
        before = await detail(client, admin, product["id"])  # now cached
        assert product["id"] in (await cache.lookup([product["id"]])).hits

        response = await write(client, admin, before.json())
        assert response.status_code < 300, response.text

        after = await detail(client, admin, product["id"])
        assert read(after.json()) == expected

    async def test_a_deleted_product_is_not_served(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Soon Gone")
        await detail(client, admin, product["id"])
        deleted = await client.delete(f"{PRODUCTS}/{product['id']}", headers=admin)
        assert deleted.status_code == 204
        assert (await detail(client, admin, product["id"])).status_code == 404

    async def test_a_failed_write_leaves_the_cache_correct(
        self,
        cache: ProductDocumentCache,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Kept Tee")
        before = await detail(client, admin, product["id"])
        refused = await client.put(
            f"{PRODUCTS}/{product['id']}",
            json={"title": "Never"},
            headers={**admin, "If-Match": '"999"'},
        )
        assert refused.status_code == 412
        assert (await detail(client, admin, product["id"])).content == before.content


class TestGenerations:
    async def test_a_document_read_before_a_commit_is_never_served_after_it(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product("Raced Tee")
        product_id = product["id"]
        await cache.invalidate([product_id])
        # A reader misses and reads the database; a writer commits and invalidates; only then
        # does the reader store what it read.
        lookup = await cache.lookup([product_id])
        assert product_id in lookup.generations
        await cache.invalidate([product_id])
        await cache.store(db_session, lookup, {product_id: (b'{"title":"old"}', 1)})
        assert product_id not in (await cache.lookup([product_id])).hits

    async def test_a_transaction_does_not_cache_its_own_uncommitted_changes(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product("Uncommitted Tee")
        product_id = product["id"]
        await cache.invalidate([product_id])
        lookup = await cache.lookup([product_id])
        journal.note(db_session, journal.PRODUCT, [product_id])
        await cache.store(db_session, lookup, {product_id: (b'{"title":"draft"}', 2)})
        assert product_id not in (await cache.lookup([product_id])).hits

    async def test_a_database_commit_runs_the_invalidation(
        self,
        cache: ProductDocumentCache,
        database: Database,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Committed Tee")
        product_id = product["id"]
        lookup = await cache.lookup([product_id])
        await cache.store(
            await _plain_session(database), lookup, {product_id: (b'{"title":"x"}', 1)}
        )
        assert product_id in (await cache.lookup([product_id])).hits
        async with database.session() as session:
            product_row = await session.get(Product, product_id)
            assert product_row is not None
            product_row.title = "Committed Tee 2"
        assert product_id not in (await cache.lookup([product_id])).hits


async def _plain_session(database: Database) -> AsyncSession:
    session: AsyncSession = database.sessionmaker()
    return session


class TestWorkerMemory:
    async def test_a_worker_serves_what_it_holds_until_another_worker_invalidates(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product("Remembered Tee")
        product_id = product["id"]
        miss = await cache.lookup([product_id])
        document = (b'{"title":"remembered"}', 1)
        await cache.store(db_session, miss, {product_id: document})
        # Gone from Redis, still in this worker's memory under a current generation.
        await cache.redis.delete(f"{await cache.prefix()}d:{product_id}")
        assert (await cache.lookup([product_id])).hits == {product_id: document}

        other_worker = ProductDocumentCache(cache.redis, cache.engine, cache.ttl_seconds)
        await other_worker.invalidate([product_id])
        assert product_id not in (await cache.lookup([product_id])).hits

    async def test_memory_keeps_the_most_recently_used_entries(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        small = ProductDocumentCache(cache.redis, cache.engine, cache.ttl_seconds, local_bytes=20)
        ids = [(await make_product(f"Lru Tee {n}"))["id"] for n in range(3)]
        for product_id in ids:
            miss = await small.lookup([product_id])
            await small.store(db_session, miss, {product_id: (b'{"ten":123}', 1)})
        assert list(small._local) == ids[2:]  # 11 bytes each: one fits in 20


class TestOutsideTheServer:
    async def test_a_command_invalidates_what_the_servers_cache(
        self,
        cache: ProductDocumentCache,
        backend: Backend,
        make_product: ProductFactory,
    ) -> None:
        product_id = (await make_product("Imported Tee"))["id"]
        before = (await cache.lookup([product_id])).generations[product_id]
        # What `shopdb products import` and `shopdb seed-demo` open: its own engine and Redis
        # client, the same cache namespace as the server's.
        async with command_database(backend.settings) as database:
            async with database.session() as session:  # commits, then delivers
                journal.note(session, journal.PRODUCT, [product_id], listing=False)
        after = (await cache.lookup([product_id])).generations[product_id]
        assert int(after) == int(before) + 1


class TestRedisDown:
    async def test_reads_fall_back_to_the_database(
        self,
        cache: ProductDocumentCache,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Unreachable Tee")
        unreachable: Any = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
        broken = ProductDocumentCache(unreachable, cache.engine, cache.ttl_seconds)
        services_of(app).product_cache = broken
        try:
            lookup = await broken.lookup([product["id"]])
            assert not lookup.hits
            assert not lookup.generations  # nothing to store either
            response = await detail(client, admin, product["id"])
            assert response.status_code == 200
            assert response.json()["title"] == "Unreachable Tee"
            await broken.invalidate([product["id"]])  # logged, not raised
        finally:
            await broken.aclose()
            await unreachable.aclose()

    async def test_a_hung_redis_holds_one_read_for_the_timeout_and_no_read_after(
        self, cache: ProductDocumentCache, make_product: ProductFactory
    ) -> None:
        product_id = (await make_product("Hung Tee"))["id"]
        async with hung_server() as port:
            hung: Any = Redis.from_url(f"redis://127.0.0.1:{port}/0")  # app.py's defaults
            worker = ProductDocumentCache(hung, cache.engine, cache.ttl_seconds)
            try:
                started = time.monotonic()
                assert await worker.lookup([product_id]) == Lookup()
                first = time.monotonic() - started
                started = time.monotonic()
                await worker.invalidate([product_id])
                assert await worker.lookup([product_id]) == Lookup()
                after = time.monotonic() - started
            finally:
                await worker.aclose()
                await hung.aclose()
        assert REDIS_TIMEOUT_SECONDS <= first < REDIS_TIMEOUT_SECONDS + 0.3
        assert after < 0.05  # bypassed: nothing waits on Redis any more
        assert worker._pending_ids == {product_id}


OLD = (b'{"title":"old"}', 1)


async def generation(cache: ProductDocumentCache, product_id: int) -> int:
    return int(await cache.redis.get(f"{await cache.prefix()}g:{product_id}") or 0)


async def epoch(cache: ProductDocumentCache) -> bytes | None:
    found: bytes | None = await cache.redis.get(f"{await cache.prefix()}epoch")
    return found


async def hold_old_document(
    worker: ProductDocumentCache, session: AsyncSession, product_id: int
) -> None:
    """`worker` keeps OLD in its memory, and in Redis."""
    miss = await worker.lookup([product_id])
    await worker.store(session, miss, {product_id: OLD})
    assert (await worker.lookup([product_id])).hits == {product_id: OLD}
    assert worker._local[product_id].document == OLD[0]


async def until_usable(worker: ProductDocumentCache) -> None:
    """The worker's own background retry, not the test, lands the rotation."""
    recovery = worker._recovery
    assert recovery is not None
    async with asyncio.timeout(2):
        await asyncio.shield(recovery)
    assert worker.usable()


def cut_off_worker(cache: ProductDocumentCache) -> tuple[ProductDocumentCache, FlakyRedis]:
    """Another worker on the same Redis and database, whose client the test can cut off."""
    client = FlakyRedis(cache.redis)
    return ProductDocumentCache(client, cache.engine, cache.ttl_seconds), client


class TestFailedInvalidation:
    """Worker A commits while Redis does not answer it; worker B holds the old document."""

    async def test_nothing_stale_is_served_once_redis_answers_again(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product("Outage Tee"))["id"]
        worker_b = cache
        await hold_old_document(worker_b, db_session, product_id)
        worker_a, client_a = cut_off_worker(cache)
        before, old_epoch = await generation(cache, product_id), await epoch(cache)
        try:
            client_a.down = True
            await worker_a.invalidate([product_id])  # committed; the INCR fails

            assert not worker_a.usable()  # A reads PostgreSQL
            assert await worker_a.lookup([product_id]) == Lookup()
            assert worker_a._pending_ids == {product_id}

            client_a.down = False
            await until_usable(worker_a)

            assert await generation(cache, product_id) == before + 1  # A's invalidation landed
            assert await epoch(cache) not in (None, old_epoch)
            assert worker_a._pending_ids == set()
            for worker in (worker_b, worker_a, cut_off_worker(cache)[0]):  # memory, Redis
                found = await worker.lookup([product_id])
                assert found.hits == {}
                assert found.generations == {product_id: str(before + 1).encode()}
            assert product_id not in worker_b._local
        finally:
            await worker_a.aclose()

    async def test_a_write_through_the_api_is_read_back_and_never_served_stale_after(
        self,
        cache: ProductDocumentCache,
        app: FastAPI,
        database: Database,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Api Outage Tee")
        await detail(client, admin, product["id"])  # the old document, cached by worker B
        worker_a, client_a = cut_off_worker(cache)
        services_of(app).product_cache = worker_a  # requests now run on worker A
        invalidate_with(database, worker_a)
        try:
            client_a.down = True
            written = await client.put(
                f"{PRODUCTS}/{product['id']}", json={"title": "Written Blind"}, headers=admin
            )
            assert written.status_code == 200, written.text
            assert (await detail(client, admin, product["id"])).json()["title"] == "Written Blind"

            client_a.down = False
            await until_usable(worker_a)
            assert product["id"] not in (await cache.lookup([product["id"]])).hits
            services_of(app).product_cache = cache  # back on worker B, which read the old one
            assert (await detail(client, admin, product["id"])).json()["title"] == "Written Blind"
        finally:
            await worker_a.aclose()

    async def test_a_failed_listing_invalidation_retires_cached_pages(
        self,
        cache: ProductDocumentCache,
        db_session: AsyncSession,
    ) -> None:
        page_lookup = await cache.lookup_page("outage-page", by_update=False)
        await cache.store_page(db_session, "outage-page", page_lookup, IdPage([1, 2], 2, None))
        assert (await cache.lookup_page("outage-page", by_update=False)).page == IdPage(
            [1, 2], 2, None
        )
        worker_a, client_a = cut_off_worker(cache)
        try:
            client_a.down = True
            await worker_a.invalidate([])  # a listing change
            assert worker_a._pending_listing
            client_a.down = False
            await until_usable(worker_a)
            assert (await cache.lookup_page("outage-page", by_update=False)).page is None
        finally:
            await worker_a.aclose()

    async def test_a_worker_that_saw_the_outage_distrusts_the_cache_until_its_own_rotation(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product("Distrust Tee"))["id"]
        worker_b, client_b = cut_off_worker(cache)
        await hold_old_document(worker_b, db_session, product_id)
        worker_a, client_a = cut_off_worker(cache)
        try:
            client_a.down = client_b.down = True  # Redis is down for everyone
            assert await worker_b.lookup([product_id]) == Lookup()  # B sees the error
            await worker_a.invalidate([product_id])  # A's write cannot invalidate

            client_b.down = False  # B reaches Redis again; A's retry has not landed yet
            await until_usable(worker_b)
            assert (await worker_b.lookup([product_id])).hits == {}
            assert not worker_a.usable()

            client_a.down = False
            await until_usable(worker_a)
            assert (await worker_b.lookup([product_id])).hits == {}
        finally:
            await worker_a.aclose()
            await worker_b.aclose()

    async def test_a_bypassing_worker_sends_nothing_to_redis_from_a_request(
        self, cache: ProductDocumentCache, make_product: ProductFactory
    ) -> None:
        product_id = (await make_product("Quiet Tee"))["id"]
        worker_a, client_a = cut_off_worker(cache)
        hold = asyncio.Event()
        try:
            client_a.down = True
            await worker_a.invalidate([product_id])
            client_a.hold = hold  # the retry, once Redis answers, waits here
            client_a.down = False
            async with asyncio.timeout(2):
                await client_a.holding.wait()
            client_a.round_trips.clear()
            assert await worker_a.lookup([product_id]) == Lookup()
            assert (await worker_a.lookup_page("quiet", by_update=True)).page is None
            await worker_a.invalidate([product_id + 1])
            assert client_a.round_trips == []
        finally:
            hold.set()
            await worker_a.aclose()

    async def test_an_invalidation_during_a_retry_needs_another_rotation(
        self, cache: ProductDocumentCache, make_product: ProductFactory
    ) -> None:
        first = (await make_product("First Retry Tee"))["id"]
        second = (await make_product("Second Retry Tee"))["id"]
        before = [await generation(cache, first), await generation(cache, second)]
        worker_a, client_a = cut_off_worker(cache)
        try:
            client_a.down = True
            await worker_a.invalidate([first])
            client_a.hold = asyncio.Event()
            client_a.down = False
            async with asyncio.timeout(2):
                await client_a.holding.wait()  # the retry with `first` is in flight
            await worker_a.invalidate([second])  # committed after that retry was sent

            released, client_a.hold = client_a.hold, asyncio.Event()
            client_a.holding.clear()
            released.set()
            async with asyncio.timeout(2):
                await client_a.holding.wait()  # the first retry landed, a second one waits
            assert await generation(cache, first) == before[0] + 1
            assert await generation(cache, second) == before[1]
            assert not worker_a.usable()

            client_a.hold.set()
            client_a.hold = None
            await until_usable(worker_a)
            assert await generation(cache, second) == before[1] + 1
        finally:
            if client_a.hold is not None:
                client_a.hold.set()
            await worker_a.aclose()

    async def test_a_command_waits_at_exit_for_its_pending_invalidations(
        self, cache: ProductDocumentCache, make_product: ProductFactory
    ) -> None:
        product_id = (await make_product("Command Tee"))["id"]
        before = await generation(cache, product_id)
        worker, client = cut_off_worker(cache)
        client.down = True
        await worker.invalidate([product_id])

        async def redis_comes_back() -> None:
            await asyncio.sleep(0.2)
            client.down = False

        back = asyncio.create_task(redis_comes_back())
        await worker.aclose(settle_seconds=2)
        await back
        assert await generation(cache, product_id) == before + 1
        assert worker._pending_ids == set()


class TestRedisLostItsData:
    """Redis restarted without persistence, or was flushed: generations start again from 0."""

    @pytest.mark.parametrize("writes_before", [0, 2])
    async def test_an_old_entry_never_becomes_current_again(
        self,
        writes_before: int,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product(f"Flushed Tee {writes_before}"))["id"]
        for _ in range(writes_before):
            await cache.invalidate([product_id])
        old_generation = await generation(cache, product_id)
        other_worker, _ = cut_off_worker(cache)
        await hold_old_document(cache, db_session, product_id)
        await hold_old_document(other_worker, db_session, product_id)

        await cache.redis.flushdb()  # the test's own Redis database (SHOPDB_TEST_REDIS_URL)
        for _ in range(old_generation):  # writes bring the counter back to where it was
            await cache.invalidate([product_id])
        assert await generation(cache, product_id) == old_generation

        for worker in (cache, other_worker):
            found = await worker.lookup([product_id])
            assert found.hits == {}
            assert found.generations == {product_id: str(old_generation).encode()}
            assert found.epoch == await epoch(cache)

    async def test_the_first_read_after_a_flush_creates_the_epoch_and_caches(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product("Reepoched Tee"))["id"]
        await cache.redis.flushdb()
        miss = await cache.lookup([product_id])
        assert miss.epoch is not None
        assert miss.epoch == await epoch(cache)
        await cache.store(db_session, miss, {product_id: OLD})
        assert (await cache.lookup([product_id])).hits == {product_id: OLD}

    async def test_generations_read_without_an_epoch_are_not_stored_under(
        self, cache: ProductDocumentCache, make_product: ProductFactory
    ) -> None:
        product_id = (await make_product("Straddled Tee"))["id"]
        await cache.redis.flushdb()

        class StraddlingTheFlush(FlakyRedis):
            async def mget(self, keys: list[str]) -> list[bytes | None]:
                # The generation was read before the flush, the (missing) epoch after it.
                values: list[bytes | None] = await self.real.mget(keys)
                values[1] = b"7"
                return values

        worker = ProductDocumentCache(StraddlingTheFlush(cache.redis), cache.engine, 60)
        found = await worker.lookup([product_id])
        assert found.generations == {product_id: b"0"}  # as counted since the flush
        assert found.epoch == await epoch(cache)


class TestRoundTrips:
    async def test_a_warm_read_is_one_mget(
        self,
        cache: ProductDocumentCache,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product_id = (await make_product("Counted Tee"))["id"]
        worker, client = cut_off_worker(cache)
        await hold_old_document(worker, db_session, product_id)
        client.round_trips.clear()
        assert (await worker.lookup([product_id])).hits == {product_id: OLD}  # from memory
        assert client.round_trips == ["mget"]

        fresh_worker, fresh_client = cut_off_worker(cache)
        assert (await fresh_worker.lookup([product_id])).hits == {product_id: OLD}  # Redis
        assert fresh_client.round_trips == ["mget"]

    async def test_a_warm_detail_request_is_one_mget(
        self,
        cache: ProductDocumentCache,
        app: FastAPI,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        product = await make_product("Counted Detail Tee")
        worker, redis_client = cut_off_worker(cache)
        services_of(app).product_cache = worker
        await detail(client, admin, product["id"])
        redis_client.round_trips.clear()
        response = await detail(client, admin, product["id"])
        assert response.status_code == 200
        assert redis_client.round_trips == ["mget"]
