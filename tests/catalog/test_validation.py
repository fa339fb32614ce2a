"""A battery of bad product bodies: every one is a 400 naming the field, none is a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Product
from tests.fixtures.catalog import Headers, ProductFactory, product_body


def with_variant(**fields: Any) -> dict[str, Any]:
    body = product_body(options=[], variants=[{"price": "1.00", **fields}])
    return body


def four_options() -> dict[str, Any]:
    return product_body(
        options=[{"name": n, "values": ["a"]} for n in ("A", "B", "C", "D")],
        variants=[{"price": "1", "option1": "a", "option2": "a", "option3": "a"}],
    )


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("missing title", {k: v for k, v in product_body().items() if k != "title"}, "title"),
    ("empty title", product_body(title=""), "title"),
    ("title too long", product_body(title="x" * 256), "title"),
    ("title not a string", {**product_body(), "title": 42}, "title"),
    ("bad handle", product_body(handle="Not A Handle"), "handle"),
    ("handle too long", product_body(handle="a" * 256), "handle"),
    ("unknown status", product_body(status="published"), "status"),
    ("vendor too long", product_body(vendor="v" * 256), "vendor"),
    ("tags not a string", product_body(tags=["a", "b"]), "tags"),
    ("tag too long", product_body(tags="a," + "t" * 256), "tags"),
    ("no variants", product_body(variants=[]), "variants"),
    ("variants not a list", product_body(variants={"price": "1"}), "variants"),
    ("more than three options", four_options(), "options"),
    ("negative price", with_variant(price="-1.00"), "variants[0].price"),
    ("price not a number", with_variant(price="cheap"), "variants[0].price"),
    ("price with three decimals", with_variant(price="1.999"), "variants[0].price"),
    ("price too large", with_variant(price="123456789.00"), "variants[0].price"),
    ("price NaN", with_variant(price="NaN"), "variants[0].price"),
    ("price as a list", with_variant(price=[1]), "variants[0].price"),
    ("negative compare-at price", with_variant(compareAtPrice=-5), "variants[0].compareAtPrice"),
    ("negative weight", with_variant(weight="-0.5"), "variants[0].weight"),
    ("unknown weight unit", with_variant(weight="1", weightUnit="stone"), "variants[0].weightUnit"),
    ("sku too long", with_variant(sku="s" * 256), "variants[0].sku"),
    ("negative stock", with_variant(inventoryQuantity=-1), "variants[0].inventoryQuantity"),
    ("stock not an integer", with_variant(inventoryQuantity=1.5), "variants[0].inventoryQuantity"),
    (
        "bad inventory policy",
        with_variant(inventoryPolicy="oversell"),
        "variants[0].inventoryPolicy",
    ),
    ("taxable not a boolean", with_variant(taxable="perhaps"), "variants[0].taxable"),
    ("unknown field", product_body(colour="red"), "colour"),
    ("unknown variant field", with_variant(colour="red"), "variants[0].colour"),
    (
        "option without values",
        product_body(options=[{"name": "Size", "values": []}]),
        "options[0].values",
    ),
    ("option without name", product_body(options=[{"values": ["S"]}]), "options[0].name"),
    (
        "duplicate option names",
        product_body(
            options=[{"name": "Size", "values": ["S"]}, {"name": "size", "values": ["M"]}],
            variants=[{"price": "1", "option1": "S", "option2": "M"}],
        ),
        "options[1].name",
    ),
    (
        "missing option value",
        product_body(
            options=[{"name": "Size", "values": ["S"]}, {"name": "Color", "values": ["Red"]}],
            variants=[{"price": "1", "option1": "S"}],
        ),
        "variants[0].option2",
    ),
    (
        "value for an option that does not exist",
        product_body(
            options=[{"name": "Size", "values": ["S"]}],
            variants=[{"price": "1", "option1": "S", "option2": "Red"}],
        ),
        "variants[0].option2",
    ),
    (
        "several variants without options or option values",
        product_body(options=[], variants=[{"price": "1"}, {"price": "2"}]),
        "variants[1]",
    ),
    ("handle reserved for deleted products", product_body(handle="tee--deleted-12"), "handle"),
    ("sku reserved for deleted products", with_variant(sku="TEE--deleted-3"), "variants[0].sku"),
    ("published null", product_body(published=None), "published"),
    ("published not a boolean", product_body(published="soon"), "published"),
    ("publishedAt not a time", product_body(publishedAt="yesterday"), "publishedAt"),
    ("publishedAt in the future", product_body(publishedAt="2999-01-01T00:00:00Z"), "publishedAt"),
    (
        "unpublished yet dated",
        product_body(published=False, publishedAt="2020-01-01T00:00:00Z"),
        "published",
    ),
    (
        "same sku twice",
        product_body(
            options=[{"name": "Size", "values": ["S", "M"]}],
            variants=[
                {"price": "1", "option1": "S", "sku": "X"},
                {"price": "1", "option1": "M", "sku": "X"},
            ],
        ),
        "variants[1].sku",
    ),
]


class TestCreateRefusesBadBodies:
    async def test_every_bad_body_is_400_naming_the_field(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        # One request per case in one test: the battery is about breadth, and a database per
        # case would make it the slowest part of the suite. Every failing case is reported.
        failures = []
        for name, body, field in BAD_BODIES:
            response = await client.post("/api/v1/products", json=body, headers=admin)
            payload = response.json()
            fields = [d["field"] for d in payload.get("details", [])]
            if response.status_code != 400 or payload.get("code") != "VALIDATION_ERROR":
                failures.append(f"{name}: {response.status_code} {response.text}")
            elif field not in fields:
                failures.append(f"{name}: {field!r} not in {fields}")
        assert failures == []
        assert await db_session.scalar(select(func.count()).select_from(Product)) == 0

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [
            (b"{not json", "application/json"),
            (b"", "application/json"),
            (b"[]", "application/json"),
            (b'"a string"', "application/json"),
            (b"\xff\xfe", "application/json"),
        ],
    )
    async def test_non_json_or_non_object_bodies_are_400(
        self, client: httpx.AsyncClient, admin: Headers, content: bytes, content_type: str
    ) -> None:
        response = await client.post(
            "/api/v1/products",
            content=content,
            headers={**admin, "Content-Type": content_type},
        )
        assert response.status_code == 400, response.text
        assert response.json()["details"]


BAD_UPDATES: list[tuple[dict[str, Any], str]] = [
    ({"title": None}, "title"),
    ({"title": ""}, "title"),
    ({"status": None}, "status"),
    ({"handle": "UPPER"}, "handle"),
    ({"variants": []}, "variants"),
    ({"variants": [{"option1": "S", "option2": "Black", "price": "-2"}]}, "variants[0].price"),
    ({"variants": [{"option1": "L", "option2": "Black"}]}, "variants[0].price"),
    ({"variants": [{"option1": "S", "option2": "Black", "option3": "x"}]}, "variants[0].option3"),
    ({"handle": "classic-tee--deleted-1"}, "handle"),
    ({"published": None}, "published"),
    ({"publishedAt": None, "published": True}, "publishedAt"),
    ({"variants": [{"id": 0, "price": "1"}]}, "variants[0].id"),
    ({"options": [{"name": "A", "values": ["x"]}] * 4}, "options"),
    ({"vendor": 12}, "vendor"),
    ({"tags": {"a": 1}}, "tags"),
]


class TestUpdateRefusesBadBodies:
    async def test_every_bad_update_is_400_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        failures = []
        for body, field in BAD_UPDATES:
            response = await client.put(
                f"/api/v1/products/{product['id']}", json=body, headers=admin
            )
            fields = [d["field"] for d in response.json().get("details", [])]
            if response.status_code != 400 or field not in fields:
                failures.append(f"{body}: {response.status_code} {response.text}")
        assert failures == []
        after = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert after.json() == product
