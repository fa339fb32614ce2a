"""Issue 17's metafield types over HTTP: references to live records, rich text, link, id, and
Shopify's namespace and key lengths."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.metafields import access, service, types
from shopdb.models import Metafield, ProductImage
from tests.fixtures.catalog import Headers, ProductFactory, TokenFactory

METAFIELDS = "/api/v1/metafields"
DEFINITIONS = "/api/v1/metafield-definitions"


def body(owner_id: int, type_: str, value: Any, **overrides: Any) -> dict[str, Any]:
    return {
        "ownerResource": "products",
        "ownerId": owner_id,
        "namespace": "custom",
        "key": "related",
        "type": type_,
        "value": value,
        **overrides,
    }


async def stored(session: AsyncSession) -> list[tuple[int, str, str | None]]:
    rows = await session.execute(
        select(Metafield.owner_id, Metafield.type, Metafield.value).order_by(Metafield.id)
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.fixture
async def customer(client: httpx.AsyncClient, admin: Headers) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/customers", json={"email": f"r-{uuid.uuid4().hex[:8]}@example.com"}, headers=admin
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_every_reference_resource_has_a_read_permission() -> None:
    resources = {resource for _, resource in types.REFERENCES.values()}
    for resource in resources:
        owner = service._REFERENCE_READ_AS.get(resource, resource)
        assert access.permission_for(owner, "read") is not None, resource
    assert set(service._REFERENCE_NOUN) == resources


class TestReferences:
    async def test_references_to_live_records_are_stored_as_given(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        customer: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        owner = await make_product("Owner")
        other = await make_product("Other")
        collection = await client.post(
            "/api/v1/smart-collections",
            json={
                "title": "Tees",
                "rules": [{"column": "type", "relation": "equals", "condition": "T-Shirt"}],
            },
            headers=admin,
        )
        image = ProductImage(product_id=other["id"], position=1, src="https://img.example/1.png")
        db_session.add(image)
        await db_session.flush()
        variant_ids = [v["id"] for v in other["variants"]]
        values = {
            "product_reference": f"gid://shopify/Product/{other['id']}",
            "variant_reference": f"gid://shopify/ProductVariant/{variant_ids[0]}",
            "collection_reference": f"gid://shopify/Collection/{collection.json()['id']}",
            "customer_reference": f"gid://shopify/Customer/{customer['id']}",
            "file_reference": f"gid://shopify/MediaImage/{image.id}",
            "list.product_reference": json.dumps(
                [f"gid://shopify/Product/{other['id']}", f"gid://shopify/Product/{owner['id']}"]
            ),
            "list.variant_reference": json.dumps(
                [f"gid://shopify/ProductVariant/{v}" for v in variant_ids]
            ),
        }

        for type_, value in values.items():
            response = await client.post(
                METAFIELDS,
                json=body(owner["id"], type_, value, key=type_.replace(".", "_")),
                headers=admin,
            )
            assert response.status_code == 201, (type_, response.text)
            assert response.json()["value"] == value

        assert [(t, v) for _, t, v in await stored(db_session)] == list(values.items())

    @pytest.mark.parametrize(
        ("type_", "value", "message"),
        [
            (
                "product_reference",
                "gid://shopify/Product/999999",
                "gid://shopify/Product/999999 is not an existing product",
            ),
            (
                "variant_reference",
                "gid://shopify/ProductVariant/999999",
                "gid://shopify/ProductVariant/999999 is not an existing variant of a live product",
            ),
            (
                "collection_reference",
                "gid://shopify/Collection/999999",
                "gid://shopify/Collection/999999 is not an existing smart collection",
            ),
            (
                "customer_reference",
                "gid://shopify/Customer/999999",
                "gid://shopify/Customer/999999 is not an existing customer",
            ),
            (
                "file_reference",
                "gid://shopify/MediaImage/999999",
                "gid://shopify/MediaImage/999999 is not an existing image of a live product",
            ),
            (
                "product_reference",
                "gid://shopify/ProductVariant/1",
                "must be a Shopify GID like gid://shopify/Product/123 (type product_reference)",
            ),
            (
                "product_reference",
                "123",
                "must be a Shopify GID like gid://shopify/Product/123 (type product_reference)",
            ),
            (
                "product_reference",
                "gid://shopify/Product/9223372036854775808",
                "the id in gid://shopify/Product/ must be between 1 and 9223372036854775807 "
                "(type product_reference)",
            ),
            (
                "list.product_reference",
                '["gid://shopify/Product/999999"]',
                "item 0: gid://shopify/Product/999999 is not an existing product",
            ),
            (
                "list.collection_reference",
                "[42]",
                "item 0: must be a Shopify GID like gid://shopify/Collection/123 "
                "(type list.collection_reference)",
            ),
        ],
    )
    async def test_a_reference_to_nothing_is_a_400_naming_value_and_stores_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        type_: str,
        value: str,
        message: str,
    ) -> None:
        owner = await make_product()

        response = await client.post(
            METAFIELDS, json=body(owner["id"], type_, value), headers=admin
        )

        assert response.status_code == 400, response.text
        assert response.json()["details"] == [{"field": "value", "message": message}]
        assert await stored(db_session) == []

    async def test_deleted_records_cannot_be_referenced(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        owner = await make_product("Owner")
        gone = await make_product("Gone")
        assert (
            await client.delete(f"/api/v1/products/{gone['id']}", headers=admin)
        ).status_code == 204
        variant = gone["variants"][0]["id"]

        product_ref = await client.post(
            METAFIELDS,
            json=body(owner["id"], "product_reference", f"gid://shopify/Product/{gone['id']}"),
            headers=admin,
        )
        # A deleted product's variants go with it.
        in_list = await client.post(
            METAFIELDS,
            json=body(
                owner["id"],
                "list.variant_reference",
                json.dumps(
                    [
                        f"gid://shopify/ProductVariant/{owner['variants'][0]['id']}",
                        f"gid://shopify/ProductVariant/{variant}",
                    ]
                ),
            ),
            headers=admin,
        )

        assert product_ref.status_code == 400
        assert product_ref.json()["details"][0]["message"] == (
            f"gid://shopify/Product/{gone['id']} is not an existing product"
        )
        assert in_list.status_code == 400
        assert in_list.json()["details"] == [
            {
                "field": "value",
                "message": f"item 1: gid://shopify/ProductVariant/{variant} "
                "is not an existing variant of a live product",
            }
        ]
        assert await stored(db_session) == []

    async def test_an_update_is_checked_too(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        owner = await make_product()
        value = f"gid://shopify/Product/{owner['id']}"
        created = await client.post(
            METAFIELDS, json=body(owner["id"], "product_reference", value), headers=admin
        )

        updated = await client.put(
            f"{METAFIELDS}/{created.json()['id']}",
            json={"value": "gid://shopify/Product/999999"},
            headers=admin,
        )

        assert updated.status_code == 400
        assert updated.json()["details"][0]["field"] == "value"
        assert await stored(db_session) == [(owner["id"], "product_reference", value)]

    async def test_a_customer_reference_needs_customers_read_even_to_learn_it_is_missing(
        self,
        client: httpx.AsyncClient,
        token_for: TokenFactory,
        make_product: ProductFactory,
        customer: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        owner = await make_product()
        catalog_only = token_for("products:read", "products:write", "metafields:write")
        both = token_for("products:read", "products:write", "metafields:write", "customers:read")

        answers = [
            await client.post(
                METAFIELDS,
                json=body(owner["id"], "customer_reference", f"gid://shopify/Customer/{cid}"),
                headers=catalog_only,
            )
            for cid in (customer["id"], 999999)
        ]
        allowed = await client.post(
            METAFIELDS,
            json=body(
                owner["id"], "customer_reference", f"gid://shopify/Customer/{customer['id']}"
            ),
            headers=both,
        )

        # The same 403 for an existing and a missing customer: nothing to probe.
        assert [a.status_code for a in answers] == [403, 403]
        assert answers[0].json() == answers[1].json()
        assert answers[0].json()["details"] == [
            {"field": "permissions", "message": "requires customers:read"}
        ]
        assert allowed.status_code == 201, allowed.text
        assert len(await stored(db_session)) == 1


RICH_TEXT = {
    "type": "root",
    "children": [
        {
            "type": "paragraph",
            "children": [
                {"type": "text", "value": "This is italicized text and ", "italic": True},
                {
                    "url": "https://example.com",
                    "title": "Link to example.com",
                    "type": "link",
                    "children": [{"type": "text", "value": "a bolded hyperlink", "bold": True}],
                },
            ],
        },
        {"type": "heading", "level": 2, "children": [{"type": "text", "value": "Care"}]},
        {
            "listType": "ordered",
            "type": "list",
            "children": [
                {"type": "list-item", "children": [{"type": "text", "value": "Wash cold"}]},
                {"type": "list-item", "children": [{"type": "text", "value": "Dry flat"}]},
            ],
        },
    ],
}


class TestRichTextLinkAndId:
    async def test_shopifys_rich_text_sample_is_accepted_as_text_or_json(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        owner = await make_product()
        as_text = await client.post(
            METAFIELDS,
            json=body(owner["id"], "rich_text_field", json.dumps(RICH_TEXT), key="care"),
            headers=admin,
        )
        as_json = await client.post(
            METAFIELDS,
            json=body(owner["id"], "rich_text_field", RICH_TEXT, key="care"),
            headers=admin,
        )
        assert (as_text.status_code, as_json.status_code) == (201, 200), as_text.text
        assert json.loads(as_json.json()["value"]) == RICH_TEXT

    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ({"type": "paragraph", "children": []}, "root: a 'paragraph' node cannot be here"),
            (
                {"type": "root", "children": [{"type": "text", "value": "loose"}]},
                "root.children[0]: a 'text' node cannot be here",
            ),
            (
                {"type": "root", "children": [{"type": "heading", "children": []}]},
                "root.children[0].level must be a whole number from 1 to 6",
            ),
            (
                {"type": "root", "children": [{"type": "list", "children": []}]},
                "root.children[0].listType must be 'ordered' or 'unordered'",
            ),
            (
                {
                    "type": "root",
                    "children": [
                        {
                            "type": "paragraph",
                            "children": [{"type": "link", "url": "javascript:x", "children": []}],
                        }
                    ],
                },
                "root.children[0].children[0].url must be a path starting with /",
            ),
            (
                {"type": "root", "children": [{"type": "paragraph", "children": "hi"}]},
                "root.children[0].children must be a JSON array",
            ),
            (
                {"type": "root", "children": [{"type": "paragraph", "children": [], "x": 1}]},
                "root.children[0]: unknown key 'x' on a 'paragraph' node",
            ),
            (["not", "an", "object"], "root must be a JSON object with a 'type'"),
        ],
    )
    async def test_a_rich_text_value_off_the_schema_is_a_400_naming_where(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        document: Any,
        message: str,
    ) -> None:
        owner = await make_product()
        response = await client.post(
            METAFIELDS,
            json=body(owner["id"], "rich_text_field", json.dumps(document)),
            headers=admin,
        )
        assert response.status_code == 400, response.text
        (detail,) = response.json()["details"]
        assert detail["field"] == "value"
        assert detail["message"].startswith(message), detail["message"]
        assert await stored(db_session) == []

    async def test_links_need_text_and_a_url(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        owner = await make_product()
        good = {"text": "Size guide", "url": "https://shop.example/pages/size"}
        answers = {
            name: await client.post(
                METAFIELDS, json=body(owner["id"], type_, value, key="guide"), headers=admin
            )
            for name, type_, value in [
                ("missing url", "link", {"text": "x"}),
                ("bad scheme", "link", {"text": "x", "url": "ftp://x.example"}),
                ("extra key", "link", {**good, "target": "_blank"}),
                ("text not a string", "link", {"text": 5, "url": good["url"]}),
                ("bad list item", "list.link", [good, {"text": "x"}]),
                ("good", "link", good),
            ]
        }
        assert {n: a.status_code for n, a in answers.items()} == {
            "missing url": 400,
            "bad scheme": 400,
            "extra key": 400,
            "text not a string": 400,
            "bad list item": 400,
            "good": 201,
        }
        assert answers["bad list item"].json()["details"][0]["message"].startswith("item 1: ")
        assert json.loads(answers["good"].json()["value"]) == good
        assert len(await stored(db_session)) == 1

    async def test_an_id_is_unique_per_owner_type_namespace_and_key(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        first, second = await make_product("First"), await make_product("Second")
        taken = await client.post(
            METAFIELDS, json=body(first["id"], "id", "SKU-1", key="erp_id"), headers=admin
        )
        again_same_owner = await client.post(
            METAFIELDS, json=body(first["id"], "id", "SKU-1", key="erp_id"), headers=admin
        )
        clash = await client.post(
            METAFIELDS, json=body(second["id"], "id", "SKU-1", key="erp_id"), headers=admin
        )
        other_key = await client.post(
            METAFIELDS, json=body(second["id"], "id", "SKU-1", key="pim_id"), headers=admin
        )
        own = await client.post(
            METAFIELDS, json=body(second["id"], "id", "SKU-2", key="erp_id"), headers=admin
        )
        clash_by_put = await client.put(
            f"{METAFIELDS}/{own.json()['id']}", json={"value": "SKU-1"}, headers=admin
        )

        assert (taken.status_code, again_same_owner.status_code) == (201, 200)
        for refused in (clash, clash_by_put):
            assert refused.status_code == 409, refused.text
            assert refused.json()["code"] == "METAFIELD_VALUE_TAKEN"
            assert refused.json()["details"] == [
                {"field": "value", "message": "is already used by another owner's metafield"}
            ]
        assert (other_key.status_code, own.status_code) == (201, 201)
        assert sorted(str(v) for _, _, v in await stored(db_session)) == ["SKU-1", "SKU-1", "SKU-2"]

    async def test_an_empty_or_multi_line_id_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        owner = await make_product()
        for value, message in (("", "must not be empty"), ("a\nb", "must be a single line")):
            response = await client.post(
                METAFIELDS, json=body(owner["id"], "id", value), headers=admin
            )
            assert response.status_code == 400
            assert response.json()["details"] == [
                {"field": "value", "message": f"{message} (type id)"}
            ]

    async def test_a_metafield_cannot_change_to_type_id(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        owner = await make_product()
        text = await client.post(
            METAFIELDS,
            json=body(owner["id"], "single_line_text_field", "A-1", key="erp_id"),
            headers=admin,
        )
        by_post = await client.post(
            METAFIELDS, json=body(owner["id"], "id", "A-1", key="erp_id"), headers=admin
        )
        by_put = await client.put(
            f"{METAFIELDS}/{text.json()['id']}", json={"type": "id", "value": "A-1"}, headers=admin
        )

        for refused in (by_post, by_put):
            assert refused.status_code == 400
            assert refused.json()["details"] == [
                {
                    "field": "type",
                    "message": "a single_line_text_field metafield cannot be changed to type "
                    "id; delete it first",
                }
            ]
        assert await stored(db_session) == [(owner["id"], "single_line_text_field", "A-1")]

    async def test_id_definitions_take_length_and_regex_validations(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        owner = await make_product()
        definition = await client.post(
            DEFINITIONS,
            json={
                "ownerType": "products",
                "namespace": "custom",
                "key": "erp_id",
                "name": "ERP id",
                "type": "id",
                "validations": [
                    {"name": "min", "value": "3"},
                    {"name": "max", "value": "6"},
                    {"name": "regex", "value": "[A-Z]+-[0-9]+"},
                ],
            },
            headers=admin,
        )
        assert definition.status_code == 201, definition.text
        answers = [
            await client.post(
                METAFIELDS, json=body(owner["id"], "id", value, key="erp_id"), headers=admin
            )
            for value in ("A1", "ABCD-123", "abc-1", "AB-12")
        ]
        assert [a.status_code for a in answers] == [400, 400, 400, 201]
        assert [a.json()["details"][0]["message"] for a in answers[:3]] == [
            "fails validation 'min': at least 3 characters",
            "fails validation 'max': at most 6 characters",
            "fails validation 'regex': must match [A-Z]+-[0-9]+",
        ]


class TestNamespaceAndKeyLengths:
    @pytest.mark.parametrize(
        ("namespace", "key", "field"),
        [
            ("ab", "size", "namespace"),
            ("a" * 256, "size", "namespace"),
            ("abc", "s", "key"),
            ("abc", "k" * 65, "key"),
            ("ab.c", "size", "namespace"),
        ],
    )
    async def test_out_of_shopifys_limits_is_a_400_naming_the_field(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
        namespace: str,
        key: str,
        field: str,
    ) -> None:
        owner = await make_product()
        metafield = await client.post(
            METAFIELDS,
            json=body(owner["id"], "single_line_text_field", "x", namespace=namespace, key=key),
            headers=admin,
        )
        definition = await client.post(
            DEFINITIONS,
            json={
                "ownerType": "products",
                "namespace": namespace,
                "key": key,
                "name": "Size",
                "type": "single_line_text_field",
            },
            headers=admin,
        )
        for response in (metafield, definition):
            assert response.status_code == 400
            assert [d["field"] for d in response.json()["details"]] == [field]
        assert await stored(db_session) == []

    async def test_the_limits_themselves_are_accepted(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        owner = await make_product()
        for namespace, key in (("abc", "ab"), ("n" * 255, "k" * 64)):
            response = await client.post(
                METAFIELDS,
                json=body(owner["id"], "single_line_text_field", "x", namespace=namespace, key=key),
                headers=admin,
            )
            assert response.status_code == 201, response.text

    async def test_an_existing_two_letter_namespace_is_kept_and_can_be_updated(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        owner = await make_product()
        old = Metafield(
            owner_resource="products",
            owner_id=owner["id"],
            namespace="ns",
            key="size",
            type="single_line_text_field",
            value="M",
        )
        db_session.add(old)
        await db_session.flush()

        listed = await client.get(
            METAFIELDS, params={"ownerResource": "products", "namespace": "ns"}, headers=admin
        )
        updated = await client.put(f"{METAFIELDS}/{old.id}", json={"value": "L"}, headers=admin)

        assert [m["id"] for m in listed.json()["items"]] == [old.id]
        assert updated.status_code == 200, updated.text
        assert (updated.json()["namespace"], updated.json()["value"]) == ("ns", "L")
        assert await db_session.scalar(select(func.count()).select_from(Metafield)) == 1
