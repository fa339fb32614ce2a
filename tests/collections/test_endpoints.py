from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, SmartCollection
from tests.fixtures.catalog import Headers, ProductFactory
from tests.kit.api_pages import read_all, walk_pages

URL = "/api/v1/smart-collections"


def collection_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Cheap hats",
        "rules": [
            {"column": "type", "relation": "equals", "condition": "hat"},
            {"column": "variant_price", "relation": "less_than", "condition": "10"},
        ],
        "sortOrder": "alpha-asc",
    }
    body.update(overrides)
    return body


async def hat(make_product: ProductFactory, title: str, price: str) -> dict[str, Any]:
    return await make_product(title, productType="Hat", options=[], variants=[{"price": price}])


class TestHandleTaken:
    async def test_a_taken_handle_is_409_naming_it_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        first = await client.post(URL, json=collection_body(handle="hats"), headers=admin)
        other = await client.post(URL, json=collection_body(title="Caps"), headers=admin)
        assert (first.status_code, other.status_code) == (201, 201)

        created = await client.post(URL, json=collection_body(handle="hats"), headers=admin)
        renamed = await client.put(
            f"{URL}/{other.json()['id']}", json={"handle": "hats"}, headers=admin
        )

        for refused in (created, renamed):
            assert refused.status_code == 409
            assert refused.json()["code"] == "HANDLE_TAKEN"
            assert refused.json()["details"] == [{"field": "handle", "message": "is already taken"}]
        stored = await db_session.scalars(
            select(SmartCollection.handle).order_by(SmartCollection.id)
        )
        assert list(stored) == ["hats", "caps"]


class TestCrud:
    async def test_create_read_update_delete(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        created = await client.post(URL, json=collection_body(), headers=admin)
        assert created.status_code == 201, created.text
        collection = created.json()
        assert collection["handle"] == "cheap-hats"
        assert collection["disjunctive"] is False
        assert collection["rules"][1] == {
            "column": "variant_price",
            "relation": "less_than",
            "condition": "10",
        }
        updated = await client.put(
            f"{URL}/{collection['id']}", json={"disjunctive": True, "title": "Hats"}, headers=admin
        )
        assert updated.json()["disjunctive"] is True
        assert updated.json()["handle"] == "cheap-hats"
        listed = await client.get(URL, headers=admin)
        assert [c["id"] for c in listed.json()["items"]] == [collection["id"]]
        assert (await client.delete(f"{URL}/{collection['id']}", headers=admin)).status_code == 204
        assert (await client.get(f"{URL}/{collection['id']}", headers=admin)).status_code == 404
        topics = await db_session.scalars(
            select(Event.topic).where(Event.subject_type == "SmartCollection").order_by(Event.id)
        )
        assert list(topics) == ["collections/create", "collections/update", "collections/delete"]

    @pytest.mark.parametrize(
        ("rule", "field"),
        [
            ({"column": "tag", "relation": "contains", "condition": "x"}, "rules[0].relation"),
            (
                {"column": "variant_price", "relation": "starts_with", "condition": "1"},
                "rules[0].relation",
            ),
            (
                {"column": "title", "relation": "greater_than", "condition": "a"},
                "rules[0].relation",
            ),
            (
                {"column": "variant_price", "relation": "equals", "condition": "cheap"},
                "rules[0].condition",
            ),
            (
                {"column": "variant_inventory", "relation": "equals", "condition": "1.5"},
                "rules[0].condition",
            ),
            (
                {"column": "variant_price", "relation": "less_than", "condition": "1e-999999"},
                "rules[0].condition",
            ),
            ({"column": "colour", "relation": "equals", "condition": "red"}, "rules[0].column"),
            ({"column": "title", "relation": "is_about", "condition": "x"}, "rules[0].relation"),
            ({"column": "title", "relation": "equals", "condition": ""}, "rules[0].condition"),
            ({"column": "title", "relation": "equals"}, "rules[0].condition"),
        ],
    )
    async def test_invalid_rules_are_400_naming_the_rule(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        rule: dict[str, str],
        field: str,
    ) -> None:
        response = await client.post(URL, json=collection_body(rules=[rule]), headers=admin)
        assert response.status_code == 400, response.text
        assert field in [d["field"] for d in response.json()["details"]]
        assert await db_session.scalar(select(SmartCollection.id)) is None

    async def test_other_bad_bodies(self, client: httpx.AsyncClient, admin: Headers) -> None:
        for body, field in [
            (collection_body(rules=[]), "rules"),
            (collection_body(sortOrder="best_selling"), "sortOrder"),
            (collection_body(title=""), "title"),
            (collection_body(handle="Bad Handle"), "handle"),
            (collection_body(disjunctive="maybe"), "disjunctive"),
        ]:
            response = await client.post(URL, json=body, headers=admin)
            assert response.status_code == 400, body
            assert field in [d["field"] for d in response.json()["details"]]


class TestProducts:
    async def test_products_are_matched_sorted_and_paged(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        b = await hat(make_product, "B hat", "5")
        a = await hat(make_product, "A hat", "9.99")
        await hat(make_product, "C hat", "10")
        await make_product("Shirt", productType="Shirt", options=[], variants=[{"price": "1"}])
        collection = (await client.post(URL, json=collection_body(), headers=admin)).json()

        page1 = await client.get(
            f"{URL}/{collection['id']}/products", params={"pageSize": 1}, headers=admin
        )
        page2 = await client.get(
            f"{URL}/{collection['id']}/products", params={"pageSize": 1, "page": 2}, headers=admin
        )
        assert [p["id"] for p in page1.json()["items"]] == [a["id"]]
        assert [p["id"] for p in page2.json()["items"]] == [b["id"]]
        assert page1.json()["totalCount"] is None
        assert page2.json()["nextCursor"] is None
        counted = await client.get(
            f"{URL}/{collection['id']}/products", params={"withTotal": "true"}, headers=admin
        )
        assert counted.json()["totalCount"] == 2

    @pytest.mark.parametrize(
        "sort_order",
        [
            "manual",
            "best-selling",
            "alpha-asc",
            "alpha-desc",
            "price-asc",
            "price-desc",
            "created",
            "created-desc",
        ],
    )
    async def test_cursor_pages_walk_every_product_in_the_sort_order(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        sort_order: str,
    ) -> None:
        # Ties on title and on price, so the id decides between them.
        made = [
            await hat(make_product, title, price)
            for title, price in [
                ("Same", "5"),
                ("Same", "5"),
                ("Other", "2"),
                ("Same", "7"),
                ("Alpha", "5"),
                ("Zed", "1"),
            ]
        ]
        body = collection_body(sortOrder=sort_order)
        collection = (await client.post(URL, json=body, headers=admin)).json()
        url = f"{URL}/{collection['id']}/products"
        if sort_order == "manual":  # two positioned, the rest unpositioned (by id, after them)
            await client.put(
                f"{URL}/{collection['id']}/order",
                json={"productIds": [made[3]["id"], made[0]["id"]]},
                headers=admin,
            )

        walked = await walk_pages(client, url, admin)
        whole = await read_all(client, url, admin)

        assert [p["id"] for p in walked] == [p["id"] for p in whole["items"]]
        assert sorted(p["id"] for p in walked) == sorted(p["id"] for p in made)
        assert whole["totalCount"] == len(made)

    async def test_cursor_of_another_sort_order_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        for title in ("A", "B", "C"):
            await hat(make_product, title, "1")
        collection = (await client.post(URL, json=collection_body(), headers=admin)).json()
        url = f"{URL}/{collection['id']}/products"
        first = await client.get(url, params={"pageSize": 1}, headers=admin)
        await client.put(
            f"{URL}/{collection['id']}", json={"sortOrder": "alpha-desc"}, headers=admin
        )

        response = await client.get(
            url, params={"cursor": first.json()["nextCursor"]}, headers=admin
        )

        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["cursor"]

    async def test_collections_list_walks_by_cursor(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        created = [
            (await client.post(URL, json=collection_body(title=f"C{i}"), headers=admin)).json()
            for i in range(5)
        ]
        await client.delete(f"{URL}/{created[1]['id']}", headers=admin)

        walked = await walk_pages(client, URL, admin)

        assert [c["id"] for c in walked] == [c["id"] for i, c in enumerate(created) if i != 1]
        assert (await read_all(client, URL, admin))["totalCount"] == 4

    async def test_manual_order_is_stored_and_used(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        one = await hat(make_product, "One", "1")
        two = await hat(make_product, "Two", "1")
        three = await hat(make_product, "Three", "1")
        collection = (await client.post(URL, json=collection_body(), headers=admin)).json()
        ordered = await client.put(
            f"{URL}/{collection['id']}/order",
            json={"productIds": [three["id"], one["id"]]},
            headers=admin,
        )
        assert ordered.status_code == 200
        assert ordered.json()["sortOrder"] == "manual"
        listed = await client.get(f"{URL}/{collection['id']}/products", headers=admin)
        assert [p["id"] for p in listed.json()["items"]] == [three["id"], one["id"], two["id"]]

        bad = await client.put(
            f"{URL}/{collection['id']}/order",
            json={"productIds": [one["id"], one["id"], 999999]},
            headers=admin,
        )
        assert bad.status_code == 400
        assert [d["field"] for d in bad.json()["details"]] == ["productIds[1]", "productIds[2]"]
