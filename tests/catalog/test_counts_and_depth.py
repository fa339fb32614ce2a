"""Counting products without reading a large catalog (exact up to a cap, then "at least", as
Shopify's productsCount), and offset pages that stop at a depth, deeper ones read by cursor."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shopdb.catalog.read_model import service as reads
from shopdb.kit import pagination
from tests.fixtures.catalog import Headers, ProductFactory

COUNT = "/api/v1/products/count"


async def catalog(make_product: ProductFactory) -> None:
    for index in range(4):
        await make_product(f"Counted {index}", vendor="Acme" if index % 2 else "Globex")
    await make_product("Drafted", vendor="Acme", status="draft")


class TestCount:
    async def test_counts_with_the_lists_filters(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        await catalog(make_product)

        every = await client.get(COUNT, headers=admin)
        acme = await client.get(COUNT, params={"vendor": "Acme"}, headers=admin)
        active_acme = await client.get(
            COUNT, params={"vendor": "Acme", "status": "active"}, headers=admin
        )
        searched = await client.get(COUNT, params={"q": "counted"}, headers=admin)
        listed = await client.get(
            "/api/v1/products",
            params={"vendor": "Acme", "pageSize": 250, "withTotal": "true"},
            headers=admin,
        )

        assert every.json() == {"count": 5, "precision": "exact"}
        assert acme.json() == {"count": 3, "precision": "exact"}
        assert active_acme.json() == {"count": 2, "precision": "exact"}
        assert searched.json() == {"count": 4, "precision": "exact"}
        assert acme.json()["count"] == listed.json()["totalCount"]

    async def test_past_the_cap_it_says_at_least(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await catalog(make_product)
        monkeypatch.setattr(reads, "COUNT_CAP", 3)

        capped = await client.get(COUNT, headers=admin)
        under = await client.get(COUNT, params={"status": "draft"}, headers=admin)

        assert capped.json() == {"count": 3, "precision": "at_least"}
        assert under.json() == {"count": 1, "precision": "exact"}

    async def test_deleted_products_do_not_count(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        kept = await make_product("Kept")
        gone = await make_product("Gone")
        assert (await client.delete(f"/api/v1/products/{gone['id']}", headers=admin)).is_success

        counted = await client.get(COUNT, headers=admin)

        assert counted.json() == {"count": 1, "precision": "exact"}
        assert kept["id"] != gone["id"]

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"status": "lost"}, "status"), ({"page": "2"}, "page"), ({"q": "x" * 256}, "q")],
    )
    async def test_bad_filters_are_400_naming_them(
        self, client: httpx.AsyncClient, admin: Headers, params: dict[str, Any], field: str
    ) -> None:
        response = await client.get(COUNT, params=params, headers=admin)

        assert response.status_code == 400, response.text
        assert response.json()["details"][0]["field"] == field

    async def test_needs_products_read(
        self, client: httpx.AsyncClient, make_product: ProductFactory
    ) -> None:
        response = await client.get(COUNT)

        assert response.status_code == 401


class TestOffsetDepth:
    async def test_an_offset_page_past_the_first_10000_products_is_400_naming_page(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        deepest = await client.get(
            "/api/v1/products", params={"page": 40, "pageSize": 250}, headers=admin
        )
        deeper = await client.get(
            "/api/v1/products", params={"page": 41, "pageSize": 250}, headers=admin
        )
        small_pages = await client.get(
            "/api/v1/products", params={"page": 201, "pageSize": 50}, headers=admin
        )

        assert deepest.status_code == 200, deepest.text
        for response in (deeper, small_pages):
            assert response.status_code == 400, response.text
            [detail] = response.json()["details"]
            assert detail["field"] == "page"
            assert "cursor" in detail["message"]

    async def test_a_cursor_reads_on_where_offsets_stop(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        for index in range(5):
            await make_product(f"Deep {index}")
        monkeypatch.setattr(pagination, "MAX_OFFSET", 4)
        params: dict[str, Any] = {"sortBy": "title", "pageSize": 2}

        refused = await client.get("/api/v1/products", params={**params, "page": 3}, headers=admin)
        titles: list[str] = []
        cursor = None
        while True:
            page = await client.get(
                "/api/v1/products",
                params={**params, "cursor": cursor} if cursor else params,
                headers=admin,
            )
            assert page.status_code == 200, page.text
            titles += [p["title"] for p in page.json()["items"]]
            cursor = page.json()["nextCursor"]
            if cursor is None:
                break

        assert refused.status_code == 400
        assert titles == [f"Deep {index}" for index in range(5)]
