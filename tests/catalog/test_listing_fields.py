"""Shopify's product category, gift card flag and search engine listing through the API: the
same fields the product CSV carries (Product Category, Gift Card, SEO Title, SEO Description)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.fixtures.catalog import Headers, product_body

LISTING = {
    "productCategory": "Apparel & Accessories > Clothing > Shirts & Tops",
    "giftCard": False,
    "seoTitle": "Linen shirt, hand-stitched",
    "seoDescription": "A shirt that breathes.",
}


async def create(client: httpx.AsyncClient, admin: Headers, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/products", json=product_body(**fields), headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


class TestListingFields:
    async def test_a_new_product_has_none_and_is_no_gift_card(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin)

        assert {name: product[name] for name in LISTING} == {
            "productCategory": None,
            "giftCard": False,
            "seoTitle": None,
            "seoDescription": None,
        }

    async def test_set_on_create_and_read_back_from_every_read_path(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, **LISTING)
        detail = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        listed = await client.get("/api/v1/products", params={"pageSize": 250}, headers=admin)

        assert {name: product[name] for name in LISTING} == LISTING
        assert {name: detail.json()[name] for name in LISTING} == LISTING
        [item] = [p for p in listed.json()["items"] if p["id"] == product["id"]]
        assert {name: item[name] for name in LISTING} == LISTING

    async def test_a_put_changes_only_what_it_sends(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, **LISTING)

        response = await client.put(
            f"/api/v1/products/{product['id']}",
            json={"giftCard": True, "seoTitle": None},
            headers=admin,
        )

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"2"'
        assert {name: response.json()[name] for name in LISTING} == {
            **LISTING,
            "giftCard": True,
            "seoTitle": None,
        }

    async def test_a_get_sent_back_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, **LISTING)
        read = (await client.get(f"/api/v1/products/{product['id']}", headers=admin)).json()

        response = await client.put(f"/api/v1/products/{product['id']}", json=read, headers=admin)

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"1"'

    async def test_gift_card_cannot_be_null_and_lengths_are_bounded(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin)
        url = f"/api/v1/products/{product['id']}"

        null = await client.put(url, json={"giftCard": None}, headers=admin)
        long = await client.put(url, json={"seoTitle": "x" * 256}, headers=admin)

        assert null.status_code == 400
        assert null.json()["details"][0]["field"] == "giftCard"
        assert long.status_code == 400
        assert long.json()["details"][0]["field"] == "seoTitle"

    async def test_the_csv_export_carries_them(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        product = await create(client, admin, **{**LISTING, "giftCard": True})

        exported = await client.get("/api/v1/products/export.csv", headers=admin)

        rows = [r for r in csv.DictReader(io.StringIO(exported.text)) if r["Title"]]
        [row] = [r for r in rows if r["Handle"] == product["handle"]]
        assert (
            row["Product Category"],
            row["Gift Card"],
            row["SEO Title"],
            row["SEO Description"],
        ) == (LISTING["productCategory"], "TRUE", LISTING["seoTitle"], LISTING["seoDescription"])
