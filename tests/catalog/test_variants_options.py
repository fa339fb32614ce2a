"""Variants whose option values are new grow the product's options (Shopify's REST rule),
on create, on PUT and on the variant endpoints, instead of being refused."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import OptionValue, ProductOption
from tests.fixtures.catalog import Headers, ProductFactory, product_body


def options_of(product: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(o["name"], o["values"]) for o in product["options"]]


async def stored_values(session: AsyncSession, product_id: int) -> list[tuple[str, str, int]]:
    rows = await session.execute(
        select(ProductOption.name, OptionValue.value, OptionValue.position)
        .join(OptionValue, OptionValue.product_option_id == ProductOption.id)
        .where(ProductOption.product_id == product_id)
        .order_by(ProductOption.position, OptionValue.position)
    )
    return [(name, value, position) for name, value, position in rows]


class TestCreate:
    async def test_a_new_value_in_a_variant_is_added_at_the_end_of_its_option(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        body = product_body()
        body["variants"].append({"price": "5", "option1": "L", "option2": "Purple"})

        response = await client.post("/api/v1/products", json=body, headers=admin)

        assert response.status_code == 201, response.text
        product = response.json()
        assert options_of(product) == [
            ("Size", ["S", "M", "L"]),
            ("Color", ["Black", "White", "Purple"]),
        ]
        assert product["variants"][-1]["title"] == "L / Purple"
        assert await stored_values(db_session, product["id"]) == [
            ("Size", "S", 1),
            ("Size", "M", 2),
            ("Size", "L", 3),
            ("Color", "Black", 1),
            ("Color", "White", 2),
            ("Color", "Purple", 3),
        ]

    async def test_without_options_the_variants_values_fill_the_title_option(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        body = product_body(
            options=[],
            variants=[{"price": "1", "option1": "Red"}, {"price": "1", "option1": "Blue"}],
        )
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 201, response.text
        assert options_of(response.json()) == [("Title", ["Red", "Blue"])]

    async def test_a_value_beyond_the_products_options_is_still_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        body = product_body(
            options=[{"name": "Size", "values": ["S"]}],
            variants=[{"price": "1", "option1": "S", "option2": "Red"}],
        )
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 400
        assert response.json()["details"] == [
            {"field": "variants[0].option2", "message": "the product has only 1 option(s)"}
        ]


class TestVariantEndpoints:
    async def test_posting_a_variant_with_new_values_grows_both_options(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()

        created = await client.post(
            f"/api/v1/products/{product['id']}/variants",
            json={"price": "30.00", "option1": "XL", "option2": "Green"},
            headers=admin,
        )

        assert created.status_code == 201, created.text
        assert created.json()["title"] == "XL / Green"
        after = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert options_of(after.json()) == [
            ("Size", ["S", "M", "XL"]),
            ("Color", ["Black", "White", "Green"]),
        ]
        assert after.headers["ETag"] != '"1"'

    async def test_a_default_title_product_gets_a_second_variant_as_shopify_does(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product(options=[], variants=[{"price": "5"}])
        url = f"/api/v1/products/{product['id']}/variants"

        # Without a value it would be a second "Default Title": refused, as Shopify does.
        again = await client.post(url, json={"price": "6"}, headers=admin)
        assert again.status_code == 400
        assert again.json()["details"] == [
            {"field": "variant", "message": "same options as variants[0]"}
        ]

        # With one, the value joins the implicit Title option.
        created = await client.post(url, json={"price": "6", "option1": "Large"}, headers=admin)
        assert created.status_code == 201, created.text
        after = (await client.get(f"/api/v1/products/{product['id']}", headers=admin)).json()
        assert options_of(after) == [("Title", ["Default Title", "Large"])]
        assert [v["title"] for v in after["variants"]] == ["Default Title", "Large"]

    async def test_changing_a_variant_to_a_new_value_grows_its_option(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        variant = product["variants"][0]

        response = await client.put(
            f"/api/v1/variants/{variant['id']}", json={"option2": "Navy"}, headers=admin
        )

        assert response.status_code == 200, response.text
        assert response.json()["title"] == "S / Navy"
        after = (await client.get(f"/api/v1/products/{product['id']}", headers=admin)).json()
        assert after["options"][1]["values"] == ["Black", "White", "Navy"]

    async def test_a_refused_variant_adds_no_value(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        taken = await client.post(
            f"/api/v1/products/{product['id']}/variants",
            json={"price": "1", "option1": "XXL", "option2": "Black", "sku": "A"},
            headers=admin,
        )
        assert taken.status_code == 201
        response = await client.post(
            f"/api/v1/products/{product['id']}/variants",
            json={"price": "1", "option1": "XS", "option2": "Black", "sku": "A"},
            headers=admin,
        )
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "variant.sku"
        after = (await client.get(f"/api/v1/products/{product['id']}", headers=admin)).json()
        assert after["options"][0]["values"] == ["S", "M", "XXL"]


class TestPut:
    async def test_variants_with_new_values_and_no_options_grow_the_stored_options(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        variants = [
            {"id": v["id"], "option1": v["option1"], "option2": v["option2"]}
            for v in product["variants"]
        ]
        variants.append({"price": "40", "option1": "XL", "option2": "Red"})

        response = await client.put(
            f"/api/v1/products/{product['id']}", json={"variants": variants}, headers=admin
        )

        assert response.status_code == 200, response.text
        assert options_of(response.json()) == [
            ("Size", ["S", "M", "XL"]),
            ("Color", ["Black", "White", "Red"]),
        ]
        assert [v["title"] for v in response.json()["variants"]][-1] == "XL / Red"

    async def test_real_variants_replace_the_default_title(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product(options=[], variants=[{"price": "5"}])
        body = {"variants": [{"price": "5", "option1": "S"}, {"price": "6", "option1": "M"}]}

        response = await client.put(f"/api/v1/products/{product['id']}", json=body, headers=admin)

        assert response.status_code == 200, response.text
        assert options_of(response.json()) == [("Title", ["S", "M"])]
        assert [v["title"] for v in response.json()["variants"]] == ["S", "M"]

    async def test_options_sent_alone_may_not_drop_a_value_in_use(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        body = {"options": [{"name": "Size", "values": ["S"]}, product["options"][1]]}
        response = await client.put(f"/api/v1/products/{product['id']}", json=body, headers=admin)
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "variants[2].option1"
