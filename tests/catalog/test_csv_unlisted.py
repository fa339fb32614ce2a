"""Shopify's `unlisted` status: read from the CSV and the API, found by id and by its filter."""

from __future__ import annotations

from typing import Any

import httpx

from tests.catalog.test_csv import MUG, csv_text, post_csv
from tests.catalog.test_csv_round_trip import column, export
from tests.fixtures.catalog import Headers, ProductFactory


class TestUnlistedStatus:
    async def test_an_imported_unlisted_product_is_found_by_id_and_by_status(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        await make_product("Listed Tee")
        response = await post_csv(client, admin, csv_text(dict(MUG[0], Status="unlisted")))
        assert response.json()["created"] == 1

        unlisted = await client.get(
            "/api/v1/products", params={"status": "unlisted"}, headers=admin
        )

        assert unlisted.status_code == 200, unlisted.text
        assert [(p["handle"], p["status"]) for p in unlisted.json()["items"]] == [
            ("mug", "unlisted")
        ]
        product_id = unlisted.json()["items"][0]["id"]
        by_id = await client.get(f"/api/v1/products/{product_id}", headers=admin)
        assert (by_id.status_code, by_id.json()["status"]) == (200, "unlisted")
        statuses = [s for s in column(await export(client, admin), "Status") if s]
        assert statuses == ["active", "unlisted"]

    async def test_the_api_accepts_unlisted_and_still_refuses_unknown_statuses(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product("Hidden Tee", status="unlisted")
        assert product["status"] == "unlisted"

        refused = await client.put(
            f"/api/v1/products/{product['id']}", json={"status": "hidden"}, headers=admin
        )

        assert refused.status_code == 400, refused.text
        assert refused.json()["details"][0]["field"] == "status"
        stored = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert stored.json()["status"] == "unlisted"

    async def test_an_unknown_csv_status_is_an_error_on_its_line(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        response = await post_csv(client, admin, csv_text(dict(MUG[0], Status="hidden")))

        job = response.json()
        assert (job["created"], job["failed"]) == (0, 1)
        assert job["errors"][0]["line"] == 2
        assert job["errors"][0]["message"] == (
            "Status: 'hidden' is not one of active, draft, archived, unlisted"
        )
