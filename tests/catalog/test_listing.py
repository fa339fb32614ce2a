from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.read_model import repository as read_repository
from shopdb.models import Product
from shopdb.services import services_of
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent


async def make_catalog(make_product: ProductFactory, n: int) -> list[dict[str, Any]]:
    products = []
    for i in range(n):
        products.append(
            await make_product(
                f"Item {i:02d}",
                vendor="Acme" if i % 2 else "Globex",
                productType="Hat" if i % 3 == 0 else "Shirt",
                tags=f"t{i % 4}, all",
                options=[{"name": "Size", "values": ["S", "M"]}],
                variants=[
                    {"price": "1.00", "option1": "S", "sku": f"SKU-{i:02d}-S"},
                    {"price": "2.00", "option1": "M"},
                ],
            )
        )
    return products


async def list_ids(client: httpx.AsyncClient, headers: Headers, **params: Any) -> list[int]:
    response = await client.get("/api/v1/products", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["items"]]


class TestFilters:
    async def test_each_filter_narrows_the_list(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        products = await make_catalog(make_product, 8)
        ids = [p["id"] for p in products]

        assert sorted(await list_ids(client, admin, vendor="Acme")) == ids[1::2]
        assert sorted(await list_ids(client, admin, productType="Hat")) == ids[0::3]
        assert sorted(await list_ids(client, admin, tag="t1")) == [ids[1], ids[5]]
        assert sorted(await list_ids(client, admin, status="active")) == ids
        assert await list_ids(client, admin, status="draft") == []

    async def test_q_searches_title_vendor_tags_and_sku(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        products = await make_catalog(make_product, 6)
        ids = [p["id"] for p in products]
        assert await list_ids(client, admin, q="item 03") == [ids[3]]
        assert sorted(await list_ids(client, admin, q="GLOB")) == ids[0::2]
        assert sorted(await list_ids(client, admin, q="t2")) == [ids[2]]
        assert await list_ids(client, admin, q="sku-04-s") == [ids[4]]
        # LIKE wildcards in q are literal characters.
        assert await list_ids(client, admin, q="%") == []
        assert await list_ids(client, admin, q="item_0") == []

    async def test_q_finds_skus_past_the_named_matches_too(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        products = await make_catalog(make_product, 3)
        ids = [p["id"] for p in products]
        # More SKU matches than a search names: the SKU arm becomes a subquery, same answers.
        monkeypatch.setattr(read_repository, "MAX_NAMED_SKU_MATCHES", 1)
        assert sorted(await list_ids(client, admin, q="sku-0")) == ids
        assert await list_ids(client, admin, q="sku-01-s") == [ids[1]]
        counted = await client.get("/api/v1/products/count", params={"q": "sku-0"}, headers=admin)
        assert counted.json() == {"count": 3, "precision": "exact"}

    async def test_timestamp_ranges(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        products = await make_catalog(make_product, 3)
        base = datetime(2024, 1, 1, tzinfo=UTC)
        for i, product in enumerate(products):
            await db_session.execute(
                update(Product)
                .where(Product.id == product["id"])
                .values(
                    created_at=base + timedelta(days=i), updated_at=base + timedelta(days=10 + i)
                )
            )
        await db_session.flush()
        ids = [p["id"] for p in products]
        got = await list_ids(client, admin, createdAtMin="2024-01-02T00:00:00Z", sortBy="created")
        assert got == ids[1:]
        assert (
            await list_ids(client, admin, updatedAtMax="2024-01-12T00:00:00", sortBy="created")
            == ids[:2]
        )


class TestSortingAndPaging:
    async def test_default_is_updated_descending(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        products = await make_catalog(make_product, 3)
        base = datetime(2024, 1, 1, tzinfo=UTC)
        for i, days in enumerate([5, 1, 3]):
            await db_session.execute(
                update(Product)
                .where(Product.id == products[i]["id"])
                .values(updated_at=base + timedelta(days=days))
            )
        await db_session.flush()
        ids = [p["id"] for p in products]
        assert await list_ids(client, admin) == [ids[0], ids[2], ids[1]]
        assert await list_ids(client, admin, sortDirection="asc") == [ids[1], ids[2], ids[0]]

    async def test_title_sort_and_page_numbers(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        products = await make_catalog(make_product, 5)
        ids = [p["id"] for p in products]
        response = await client.get(
            "/api/v1/products",
            params={"sortBy": "title", "sortDirection": "desc", "page": 2, "pageSize": 2},
            headers=admin,
        )
        body = response.json()
        assert [p["id"] for p in body["items"]] == [ids[2], ids[1]]
        assert body["totalCount"] is None  # counted only on request
        counted = await client.get(
            "/api/v1/products",
            params={"sortBy": "title", "page": 2, "pageSize": 2, "withTotal": "true"},
            headers=admin,
        )
        assert counted.json()["totalCount"] == 5
        assert body["page"] == 2
        assert body["pageSize"] == 2
        assert body["nextCursor"] is not None

    async def test_cursor_walks_every_product_once_in_order(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        products = await make_catalog(make_product, 7)
        # Ties on the sort key (same timestamp, same title) must still page by id.
        same = datetime(2024, 5, 5, tzinfo=UTC)
        await db_session.execute(
            update(Product)
            .where(Product.id.in_([p["id"] for p in products[2:5]]))
            .values(created_at=same, updated_at=same, title="Same title")
        )
        await db_session.flush()
        for sort_by in ("title", "created", "updated"):
            for direction in ("asc", "desc"):
                everything = await list_ids(
                    client, admin, sortBy=sort_by, sortDirection=direction, pageSize=250
                )
                seen: list[int] = []
                params: dict[str, Any] = {
                    "sortBy": sort_by,
                    "sortDirection": direction,
                    "pageSize": 2,
                }
                for _ in range(10):
                    response = await client.get("/api/v1/products", params=params, headers=admin)
                    body = response.json()
                    seen.extend(p["id"] for p in body["items"])
                    if body["nextCursor"] is None:
                        break
                    params["cursor"] = body["nextCursor"]
                assert seen == everything, (sort_by, direction)
                assert sorted(seen) == sorted(p["id"] for p in products)

    async def test_cursor_for_another_sort_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        await make_catalog(make_product, 3)
        first = await client.get("/api/v1/products", params={"pageSize": 1}, headers=admin)
        cursor = first.json()["nextCursor"]
        response = await client.get(
            "/api/v1/products", params={"cursor": cursor, "sortBy": "title"}, headers=admin
        )
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "cursor"

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"sortBy": "price"}, "sortBy"),
            ({"sortDirection": "up"}, "sortDirection"),
            ({"page": 0}, "page"),
            ({"page": "two"}, "page"),
            ({"pageSize": 251}, "pageSize"),
            ({"pageSize": 0}, "pageSize"),
            ({"cursor": "not-a-cursor"}, "cursor"),
            ({"status": "deleted"}, "status"),
            ({"createdAtMin": "yesterday"}, "createdAtMin"),
        ],
    )
    async def test_bad_parameters_are_400_naming_them(
        self, client: httpx.AsyncClient, admin: Headers, params: dict[str, Any], field: str
    ) -> None:
        response = await client.get("/api/v1/products", params=params, headers=admin)
        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == [field]


class TestListItems:
    async def test_list_items_are_the_product_detail(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        listed = await client.get("/api/v1/products", headers=admin)
        detail = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert listed.json()["items"] == [detail.json()]
        assert detail.json() == product


class TestQueryCount:
    async def test_list_runs_the_same_queries_for_any_page_size(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        backend: Backend,
        app: FastAPI,
    ) -> None:
        # What PostgreSQL is asked, so without the Redis cache (its hits skip queries).
        services_of(app).product_cache = None
        await make_catalog(make_product, 12)
        # Warm the auth cache so both requests do the same work.
        await client.get("/api/v1/products", params={"pageSize": 1}, headers=admin)
        with statements_sent(backend.engine) as small:
            response = await client.get(
                "/api/v1/products", params={"pageSize": 2, "q": "item"}, headers=admin
            )
            assert len(response.json()["items"]) == 2
        with statements_sent(backend.engine) as large:
            response = await client.get(
                "/api/v1/products", params={"pageSize": 12, "q": "item"}, headers=admin
            )
            assert len(response.json()["items"]) == 12
        selects = [s for s in large if s.lstrip().upper().startswith("SELECT")]
        assert len(large) == len(small)
        # First the products whose SKUs match the search (repository._search), then:
        if backend.name == "postgresql":
            # the page's ids with their stored documents, then those not stored (none are in
            # this rolled-back transaction: stored.py stores in autocommit only) built
            assert len(selects) == 3
        else:
            # the page, variants (with inventory item ids), options with values, images
            assert len(selects) == 5
