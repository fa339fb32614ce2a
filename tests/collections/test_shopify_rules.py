"""Issue 17's rule columns and sort order over HTTP: is_price_reduced, metafield definitions
as columns (with Shopify's smartCollectionCondition capability), and best-selling."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.collections.rules import METAFIELD_RELATIONS
from shopdb.metafields.types import COLLECTION_CONDITION_TYPES
from shopdb.models import MetafieldDefinition, Order, OrderLineItem, SmartCollection
from tests.fixtures.catalog import Headers, ProductFactory
from tests.kit.api_pages import walk_pages

COLLECTIONS = "/api/v1/smart-collections"
METAFIELDS = "/api/v1/metafields"
DEFINITIONS = "/api/v1/metafield-definitions"
ENABLED = {"smartCollectionCondition": {"enabled": True}}


async def product(make_product: ProductFactory, title: str, *variants: dict[str, Any]) -> int:
    created = await make_product(
        title,
        options=[{"name": "Size", "values": [f"S{i}" for i in range(len(variants))]}],
        variants=[{**v, "option1": f"S{i}"} for i, v in enumerate(variants)],
    )
    return int(created["id"])


async def members(
    client: httpx.AsyncClient, admin: Headers, rules: list[dict[str, Any]], **extra: Any
) -> list[int]:
    created = await client.post(
        COLLECTIONS, json={"title": "Rules", "rules": rules, **extra}, headers=admin
    )
    assert created.status_code == 201, created.text
    listed = await client.get(f"{COLLECTIONS}/{created.json()['id']}/products", headers=admin)
    assert listed.status_code == 200, listed.text
    return [p["id"] for p in listed.json()["items"]]


async def refusal(
    client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession, rule: dict[str, Any]
) -> list[dict[str, str]]:
    response = await client.post(
        COLLECTIONS, json={"title": "Refused", "rules": [rule]}, headers=admin
    )
    assert response.status_code == 400, response.text
    assert await db_session.scalar(select(func.count()).select_from(SmartCollection)) == 0
    details: list[dict[str, str]] = response.json()["details"]
    return details


class TestIsPriceReduced:
    async def test_is_set_and_is_not_set_follow_any_variants_compare_at_price(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        reduced = await product(make_product, "Reduced", {"price": "10", "compareAtPrice": "15"})
        no_compare = await product(make_product, "Plain", {"price": "10"})
        # A compare-at price at or under the price is no reduction.
        inverted = await product(
            make_product,
            "Inverted",
            {"price": "10", "compareAtPrice": "8"},
            {"price": "10", "compareAtPrice": "10"},
        )
        mixed = await product(
            make_product, "Mixed", {"price": "10", "compareAtPrice": "12"}, {"price": "10"}
        )

        on_sale = await members(
            client,
            admin,
            [{"column": "is_price_reduced", "relation": "is_set"}],
            sortOrder="alpha-asc",
        )
        full_price = await members(
            client,
            admin,
            [{"column": "is_price_reduced", "relation": "is_not_set", "condition": "true"}],
            sortOrder="alpha-asc",
        )

        assert on_sale == [mixed, reduced]
        assert full_price == [inverted, mixed, no_compare]

    @pytest.mark.parametrize(
        ("rule", "field", "message"),
        [
            (
                {"column": "is_price_reduced", "relation": "equals", "condition": "true"},
                "rules[0].relation",
                "'equals' cannot be used with column 'is_price_reduced'; use one of "
                "is_not_set, is_set",
            ),
            (
                {"column": "title", "relation": "is_set"},
                "rules[0].relation",
                "'is_set' cannot be used with column 'title'; use one of contains, ends_with, "
                "equals, not_contains, not_equals, starts_with",
            ),
            (
                {"column": "title", "relation": "equals"},
                "rules[0].condition",
                "is required",
            ),
        ],
    )
    async def test_only_is_set_and_is_not_set_apply(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        rule: dict[str, Any],
        field: str,
        message: str,
    ) -> None:
        assert await refusal(client, admin, db_session, rule) == [
            {"field": field, "message": message}
        ]


async def definition(
    client: httpx.AsyncClient,
    admin: Headers,
    key: str,
    type_: str,
    owner: str = "products",
    capabilities: dict[str, Any] | None = ENABLED,
    validations: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ownerType": owner,
        "namespace": "custom",
        "key": key,
        "name": key.title(),
        "type": type_,
        "validations": validations or [],
    }
    if capabilities is not None:
        body["capabilities"] = capabilities
    response = await client.post(DEFINITIONS, json=body, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def write(
    client: httpx.AsyncClient,
    admin: Headers,
    owner_id: int,
    key: str,
    type_: str,
    value: str,
    owner: str = "products",
) -> None:
    response = await client.post(
        METAFIELDS,
        json={
            "ownerResource": owner,
            "ownerId": owner_id,
            "namespace": "custom",
            "key": key,
            "type": type_,
            "value": value,
        },
        headers=admin,
    )
    assert response.status_code in (200, 201), response.text


def test_the_relations_cover_exactly_the_eligible_types() -> None:
    assert set(METAFIELD_RELATIONS) == COLLECTION_CONDITION_TYPES


class TestMetafieldDefinitionColumns:
    async def test_product_metafields_match_by_type(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
    ) -> None:
        one, two, three, bare = [
            await product(make_product, title, {"price": "1"})
            for title in ("One", "Two", "Three", "Bare")
        ]
        # Written before the definition existed, as text: a number rule must not read it.
        await write(client, admin, bare, "threads", "single_line_text_field", "500")
        threads = await definition(client, admin, "threads", "number_integer")
        organic = await definition(client, admin, "organic", "boolean")
        fabric = await definition(client, admin, "fabric", "single_line_text_field")
        weight = await definition(client, admin, "gsm", "number_decimal")
        stars = await definition(
            client,
            admin,
            "stars",
            "rating",
            validations=[{"name": "scale_min", "value": "1"}, {"name": "scale_max", "value": "5"}],
        )
        for pid, count, is_organic, cloth, gsm, rating in (
            (one, "200", "true", "Linen", "180.5", "4.5"),
            (two, "400", "false", "linen", "220", "3"),
            (three, "300", "true", "Cotton", "180.50", "5.0"),
        ):
            await write(client, admin, pid, "threads", "number_integer", count)
            await write(client, admin, pid, "organic", "boolean", is_organic)
            await write(client, admin, pid, "fabric", "single_line_text_field", cloth)
            await write(client, admin, pid, "gsm", "number_decimal", gsm)
            await write(
                client,
                admin,
                pid,
                "stars",
                "rating",
                f'{{"value": "{rating}", "scale_min": "1", "scale_max": "5"}}',
            )

        def rule(column_definition: dict[str, Any], relation: str, condition: str) -> Any:
            return {
                "column": "product_metafield_definition",
                "relation": relation,
                "condition": condition,
                "conditionObjectId": column_definition["id"],
            }

        cases = {
            "threads > 250": ([rule(threads, "greater_than", "250")], [two, three]),
            "threads < 300": ([rule(threads, "less_than", "300")], [one]),
            "threads = 300": ([rule(threads, "equals", "300")], [three]),
            "organic": ([rule(organic, "equals", "TRUE")], [one, three]),
            "not organic": ([rule(organic, "equals", "false")], [two]),
            "linen": ([rule(fabric, "equals", "LINEN")], [one, two]),
            "gsm = 180.5": ([rule(weight, "equals", "180.5")], [one, three]),
            "gsm > 200": ([rule(weight, "greater_than", "200")], [two]),
            "stars > 4": ([rule(stars, "greater_than", "4")], [one, three]),
            "stars = 3": ([rule(stars, "equals", "3")], [two]),
            "organic linen": (
                [rule(organic, "equals", "true"), rule(fabric, "equals", "linen")],
                [one],
            ),
        }
        for name, (rules, expected) in cases.items():
            got = await members(client, admin, rules, sortOrder="alpha-asc")
            titles = {one: "One", two: "Two", three: "Three", bare: "Bare"}
            assert got == sorted(expected, key=lambda pid: titles[pid]), name

    async def test_a_variant_metafield_matches_when_any_variant_has_it(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        first = await make_product(
            "First",
            options=[{"name": "Size", "values": ["S", "M"]}],
            variants=[{"price": "1", "option1": "S"}, {"price": "1", "option1": "M"}],
        )
        second = await make_product("Second", options=[], variants=[{"price": "1"}])
        waterproof = await definition(client, admin, "waterproof", "boolean", owner="variants")
        await write(
            client,
            admin,
            first["variants"][1]["id"],
            "waterproof",
            "boolean",
            "true",
            owner="variants",
        )
        await write(
            client,
            admin,
            second["variants"][0]["id"],
            "waterproof",
            "boolean",
            "false",
            owner="variants",
        )
        # A product metafield with the same namespace and key is not a variant's.
        await write(client, admin, second["id"], "waterproof", "boolean", "true")

        rule = {
            "column": "variant_metafield_definition",
            "relation": "equals",
            "condition": "true",
            "conditionObjectId": f"gid://shopify/MetafieldDefinition/{waterproof['id']}",
        }
        created = await client.post(
            COLLECTIONS, json={"title": "Waterproof", "rules": [rule]}, headers=admin
        )
        listed = await client.get(f"{COLLECTIONS}/{created.json()['id']}/products", headers=admin)

        assert created.status_code == 201, created.text
        # The GID is accepted; shopdb answers with the number, as its other ids.
        assert created.json()["rules"] == [{**rule, "conditionObjectId": waterproof["id"]}]
        assert [p["id"] for p in listed.json()["items"]] == [first["id"]]

    async def test_impossible_metafield_rules_are_400_naming_the_field(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        number = await definition(client, admin, "threads", "number_integer")
        flag = await definition(client, admin, "organic", "boolean")
        off = await definition(client, admin, "fabric", "single_line_text_field", capabilities=None)
        variant = await definition(client, admin, "gsm", "number_decimal", owner="variants")

        def rule(definition_id: Any, relation: str = "equals", condition: str = "1") -> Any:
            body = {"column": "product_metafield_definition", "relation": relation}
            return {**body, "condition": condition, "conditionObjectId": definition_id}

        cases: list[tuple[dict[str, Any], str, str]] = [
            (
                {"column": "product_metafield_definition", "relation": "equals", "condition": "1"},
                "rules[0].conditionObjectId",
                "is required with column 'product_metafield_definition': the metafield "
                "definition's id",
            ),
            (rule(999999), "rules[0].conditionObjectId", "no metafield definition with id 999999"),
            (
                rule(off["id"]),
                "rules[0].conditionObjectId",
                f"definition {off['id']} is not a collection condition: set its "
                "capabilities.smartCollectionCondition.enabled to true first",
            ),
            (
                rule(variant["id"]),
                "rules[0].conditionObjectId",
                f"definition {variant['id']} is for variants; column "
                "'product_metafield_definition' needs a definition for products",
            ),
            (
                rule(number["id"], "contains"),
                "rules[0].relation",
                "'contains' cannot be used with column 'product_metafield_definition'; use one "
                "of equals, greater_than, less_than",
            ),
            (
                rule(flag["id"], "greater_than"),
                "rules[0].relation",
                "'greater_than' cannot be used with a boolean definition; use one of equals",
            ),
            (rule(flag["id"], condition="yes"), "rules[0].condition", 'must be "true" or "false"'),
            (rule(number["id"], condition="1.5"), "rules[0].condition", "must be a whole number"),
            (rule(number["id"], condition="lots"), "rules[0].condition", "must be a number"),
            (
                {**rule(number["id"]), "column": "title"},
                "rules[0].conditionObjectId",
                "applies only to columns 'product_metafield_definition' and "
                "'variant_metafield_definition'",
            ),
        ]
        for body, field, message in cases:
            assert await refusal(client, admin, db_session, body) == [
                {"field": field, "message": message}
            ], body

        bad_gid = await client.post(
            COLLECTIONS,
            json={"title": "x", "rules": [rule("gid://shopify/Product/1")]},
            headers=admin,
        )
        assert bad_gid.status_code == 400
        assert [d["field"] for d in bad_gid.json()["details"]] == ["rules[0].conditionObjectId"]


class TestDefinitionCapability:
    async def test_the_capability_is_shown_and_only_eligible_definitions_take_it(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        on = await definition(client, admin, "threads", "number_integer")
        plain = await definition(client, admin, "notes", "multi_line_text_field", capabilities=None)
        assert on["capabilities"] == {
            "smartCollectionCondition": {"enabled": True, "eligible": True}
        }
        assert plain["capabilities"] == {
            "smartCollectionCondition": {"enabled": False, "eligible": False}
        }
        for owner, type_ in (("products", "multi_line_text_field"), ("customers", "boolean")):
            response = await client.post(
                DEFINITIONS,
                json={
                    "ownerType": owner,
                    "namespace": "custom",
                    "key": "refused",
                    "name": "Refused",
                    "type": type_,
                    "capabilities": ENABLED,
                },
                headers=admin,
            )
            assert response.status_code == 400, response.text
            assert [d["field"] for d in response.json()["details"]] == [
                "capabilities.smartCollectionCondition.enabled"
            ]
        enabled_later = await client.put(
            f"{DEFINITIONS}/{plain['id']}", json={"capabilities": ENABLED}, headers=admin
        )
        assert enabled_later.status_code == 400
        keys = await db_session.scalars(
            select(MetafieldDefinition.key).order_by(MetafieldDefinition.id)
        )
        assert list(keys) == ["threads", "notes"]

    async def test_a_definition_rules_use_cannot_be_deleted_or_switched_off(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        used = await definition(client, admin, "threads", "number_integer")
        unused = await definition(client, admin, "organic", "boolean")
        collection = await client.post(
            COLLECTIONS,
            json={
                "title": "Dense",
                "rules": [
                    {
                        "column": "product_metafield_definition",
                        "relation": "greater_than",
                        "condition": "300",
                        "conditionObjectId": used["id"],
                    }
                ],
            },
            headers=admin,
        )
        cid = collection.json()["id"]
        url = f"{DEFINITIONS}/{used['id']}"

        deleted = await client.delete(url, headers=admin)
        switched_off = await client.put(
            url,
            json={
                "name": "Renamed",
                "capabilities": {"smartCollectionCondition": {"enabled": False}},
            },
            headers=admin,
        )

        for refused, field in (
            (deleted, "id"),
            (switched_off, "capabilities.smartCollectionCondition.enabled"),
        ):
            assert refused.status_code == 409, refused.text
            assert refused.json()["code"] == "DEFINITION_IN_USE"
            assert refused.json()["details"] == [
                {
                    "field": field,
                    "message": f"the rules of smart collections {cid} use this definition; "
                    "change those rules first",
                }
            ]
        current = await client.get(url, headers=admin)
        assert current.json()["name"] == "Threads"
        assert current.json()["capabilities"]["smartCollectionCondition"]["enabled"] is True

        # Other definitions are free; once the collection is gone, so is this one.
        assert (
            await client.delete(f"{DEFINITIONS}/{unused['id']}", headers=admin)
        ).status_code == 204
        assert (await client.delete(f"{COLLECTIONS}/{cid}", headers=admin)).status_code == 204
        assert (await client.delete(url, headers=admin)).status_code == 204
        assert await db_session.scalar(select(func.count()).select_from(MetafieldDefinition)) == 0


async def order(
    session: AsyncSession, number: str, lines: list[tuple[int, int]], **state: Any
) -> None:
    session.add(
        Order(
            email="buyer@example.com",
            number=number,
            total_price=Decimal("1.00"),
            subtotal_price=Decimal("1.00"),
            line_items=[
                OrderLineItem(
                    product_variant_id=variant_id, title="x", quantity=quantity, price=Decimal(1)
                )
                for variant_id, quantity in lines
            ],
            **state,
        )
    )
    await session.flush()


class TestBestSelling:
    async def test_products_sort_by_units_on_live_orders(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        made = [
            await make_product(
                title,
                productType="Hat",
                options=[{"name": "Size", "values": ["S", "M"]}],
                variants=[{"price": "5", "option1": "S"}, {"price": "5", "option1": "M"}],
            )
            for title in ("A", "B", "C", "D", "E")
        ]
        a, b, c, d, e = ([v["id"] for v in p["variants"]] for p in made)
        await order(db_session, "#1", [(a[0], 2), (b[0], 1)])
        await order(db_session, "#2", [(b[0], 1), (b[1], 2)])  # B: 4 units over two variants
        await order(db_session, "#3", [(c[0], 3)])
        # Cancelled and deleted orders do not count.
        await order(db_session, "#4", [(d[0], 50)], cancelled_at=datetime(2026, 1, 1, tzinfo=UTC))
        await order(db_session, "#5", [(e[0], 60)], deleted_at=datetime(2026, 1, 1, tzinfo=UTC))

        ordered = await members(
            client,
            admin,
            [{"column": "type", "relation": "equals", "condition": "hat"}],
            sortOrder="best-selling",
        )

        # B 4, C 3, A 2; D and E sold nothing that counts: by id.
        ids = [p["id"] for p in made]
        assert ordered == [ids[1], ids[2], ids[0], ids[3], ids[4]]
        # Page by page through the cursor, the same order (units descending, then id ascending).
        collection = (await client.get(COLLECTIONS, headers=admin)).json()["items"][-1]
        walked = await walk_pages(client, f"{COLLECTIONS}/{collection['id']}/products", admin)
        assert [p["id"] for p in walked] == ordered


class TestCategory:
    async def test_equals_matches_the_category_and_the_ones_below_it(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        async def categorised(title: str, category: str | None) -> int:
            created = await make_product(title, productCategory=category)
            return int(created["id"])

        clothing = await categorised("Jacket", "Apparel & Accessories > Clothing")
        shirts = await categorised("Shirt", "apparel & accessories > clothing > shirts & tops")
        await categorised("Sibling", "Apparel & Accessories > Clothing Accessories")
        await categorised("Shoe", "Apparel & Accessories > Shoes")
        await categorised("Uncategorised", None)
        # A wildcard in the condition is a character, not a pattern.
        await categorised("Percent", "Apparel % Accessories > Clothing")

        found = await members(
            client,
            admin,
            [
                {
                    "column": "product_taxonomy_node_id",
                    "relation": "equals",
                    "condition": "Apparel & Accessories > Clothing",
                }
            ],
            sortOrder="alpha-asc",
        )

        assert found == [clothing, shirts]

    async def test_only_equals_is_accepted(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        details = await refusal(
            client,
            admin,
            db_session,
            {"column": "product_taxonomy_node_id", "relation": "contains", "condition": "Apparel"},
        )

        assert details[0]["field"] == "rules[0].relation"
