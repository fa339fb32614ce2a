"""Bad input answers 400 naming the field, never a server error (issue 10, item 8).

One mechanism covers every body (InputModel), path and query parameter (UnitOfWorkRoute's
ParameterGuard); what only the database can see (a sum leaving INTEGER) is mapped to 400 by
the data-exception handler. Each case here was a 500 before.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Product
from tests.fixtures.catalog import Headers, ProductFactory, product_body

pytestmark = pytest.mark.usefixtures("backend")

TOO_BIG = 2**63  # one past PostgreSQL's BIGINT


def fields_of(response: httpx.Response) -> list[str]:
    return [detail["field"] for detail in response.json()["details"]]


def cursor(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TestNulCharacters:
    @pytest.mark.parametrize(
        ("path", "parameter"),
        [
            ("/api/v1/products?q=%00", "q"),
            ("/api/v1/products?vendor=a%00b", "vendor"),
            ("/api/v1/products?tag=%00", "tag"),
            ("/api/v1/customers?q=%00", "q"),
        ],
    )
    async def test_query_parameters_are_refused(
        self, client: httpx.AsyncClient, admin: Headers, path: str, parameter: str
    ) -> None:
        response = await client.get(path, headers=admin)
        assert response.status_code == 400, response.text
        assert fields_of(response) == [parameter]
        assert "NUL" in response.json()["details"][0]["message"]

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"title": "Tee\x00"}, "title"),
            ({"vendor": "\x00"}, "vendor"),
            ({"tags": "a,\x00b"}, "tags"),
            ({"bodyHtml": "<p>\x00</p>"}, "bodyHtml"),
        ],
    )
    async def test_product_body_fields_are_refused(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        overrides: dict[str, Any],
        field: str,
    ) -> None:
        response = await client.post(
            "/api/v1/products", json=product_body(**overrides), headers=admin
        )
        assert response.status_code == 400, response.text
        assert fields_of(response) == [field]
        assert await db_session.scalar(Product.__table__.select().limit(1)) is None

    async def test_nested_fields_are_named(self, client: httpx.AsyncClient, admin: Headers) -> None:
        body = product_body()
        body["variants"][1]["sku"] = "SKU\x00"
        body["options"][0]["values"] = ["S", "M\x00"]
        response = await client.post("/api/v1/products", json=body, headers=admin)
        assert response.status_code == 400
        assert sorted(fields_of(response)) == ["options[0].values", "variants[1].sku"]

    async def test_customer_names_and_notes_are_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.post(
            "/api/v1/customers",
            json={"email": "nul@example.com", "firstName": "A\x00", "note": "\x00"},
            headers=admin,
        )
        assert response.status_code == 400
        assert sorted(fields_of(response)) == ["firstName", "note"]


class TestIntegersBeyondBigint:
    async def test_path_id_is_refused(self, client: httpx.AsyncClient, admin: Headers) -> None:
        response = await client.get(f"/api/v1/products/{TOO_BIG}", headers=admin)
        assert response.status_code == 400
        assert fields_of(response) == ["product_id"]

    async def test_largest_bigint_is_just_not_found(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get(f"/api/v1/products/{TOO_BIG - 1}", headers=admin)
        assert response.status_code == 404

    async def test_query_parameter_is_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get(f"/api/v1/customers?groupId={TOO_BIG}", headers=admin)
        assert response.status_code == 400
        assert fields_of(response) == ["groupId"]

    async def test_body_integers_are_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        response = await client.put(
            f"/api/v1/products/{product['id']}",
            json={"variants": [{"id": 10**20, "price": "1.00"}]},
            headers=admin,
        )
        assert response.status_code == 400
        assert fields_of(response) == ["variants[0].id"]

    async def test_float_spelling_of_a_huge_integer_is_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.post(
            "/api/v1/inventory-levels/adjust",
            content=b'{"inventoryItemId": 1e20, "locationId": 1, "availableAdjustment": 1}',
            headers={**admin, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert "inventoryItemId" in fields_of(response)


class TestTamperedCursors:
    @pytest.mark.parametrize(
        "payload",
        [
            {"s": "updated", "o": "desc", "k": {"t": "2026-01-01T00:00:00"}, "i": 1},  # naive
            {"s": "updated", "o": "desc", "k": {"t": 5}, "i": 1},
            {"s": "updated", "o": "desc", "k": "not a time", "i": 1},
            {"s": "updated", "o": "desc", "k": {"t": "2026-01-01T00:00:00+00:00"}, "i": "x"},
            {"s": "updated", "o": "desc", "k": {"t": "2026-01-01T00:00:00+00:00"}, "i": TOO_BIG},
            {"s": ["updated"], "o": "desc", "k": 1, "i": 1},
            {"s": "title", "o": "asc", "k": [1, 2], "i": 1},
            {"s": "title", "o": "asc", "k": 5, "i": 1},
            {"s": "title", "o": "asc", "k": "a\x00", "i": 1},
            ["not", "an", "object"],
        ],
    )
    async def test_refused_with_400(
        self, client: httpx.AsyncClient, admin: Headers, payload: Any
    ) -> None:
        sort = payload["s"] if isinstance(payload, dict) and isinstance(payload["s"], str) else ""
        query = f"sortBy={sort}&" if sort in ("title", "created") else ""
        response = await client.get(
            f"/api/v1/products?{query}cursor={cursor(payload)}", headers=admin
        )
        assert response.status_code == 400, response.text
        assert fields_of(response) == ["cursor"]


class TestTamperedCursorsOnOtherLists:
    @pytest.mark.parametrize(
        ("path", "payload"),
        [
            ("/api/v1/customers", {"s": "id", "o": "asc", "k": None, "i": 1}),  # id not null
            ("/api/v1/customers", {"s": "id", "o": "asc", "k": "1", "i": 1}),
            ("/api/v1/customers?sortBy=lastName", {"s": "lastName", "o": "asc", "k": 3, "i": 1}),
            (
                "/api/v1/customers?sortBy=createdAt",
                {"s": "createdAt", "o": "asc", "k": "x", "i": 1},
            ),
            ("/api/v1/customers", {"s": "id", "o": "asc", "k": 1, "i": TOO_BIG}),
            ("/api/v1/customer-groups", {"s": "name", "o": "asc", "k": 1, "i": 1}),
            ("/api/v1/locations", {"s": "id", "o": "desc", "k": 1, "i": 1}),
            ("/api/v1/inventory-levels", {"s": "id", "o": "asc", "k": 1, "i": 1}),
            ("/api/v1/users", {"s": "id", "o": "asc", "k": 1.5, "i": 1}),
            ("/api/v1/api-keys", ["not", "an", "object"]),
            ("/api/v1/metafields", {"s": "id", "o": "asc", "k": "a\x00", "i": 1}),
            ("/api/v1/metafield-definitions", {"s": "id", "o": "sideways", "k": 1, "i": 1}),
            ("/api/v1/smart-collections", {"s": "id", "o": "asc", "k": 1, "i": -1}),
        ],
    )
    async def test_refused_with_400(
        self, client: httpx.AsyncClient, admin: Headers, path: str, payload: Any
    ) -> None:
        joiner = "&" if "?" in path else "?"
        response = await client.get(f"{path}{joiner}cursor={cursor(payload)}", headers=admin)
        assert response.status_code == 400, response.text
        assert fields_of(response) == ["cursor"]

    async def test_with_total_must_be_a_boolean(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get("/api/v1/customers?withTotal=maybe", headers=admin)
        assert response.status_code == 400
        assert fields_of(response) == ["withTotal"]

    async def test_an_overlong_cursor_is_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get(f"/api/v1/customers?cursor={'A' * 2049}", headers=admin)
        assert response.status_code == 400
        assert fields_of(response) == ["cursor"]


class TestUnknownQueryParameters:
    async def test_product_list_refuses_unknown_parameter(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get("/api/v1/products?include=x", headers=admin)
        assert response.status_code == 400
        assert fields_of(response) == ["include"]

    async def test_snake_case_spelling_points_to_the_real_name(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get("/api/v1/products?page_size=5", headers=admin)
        assert response.status_code == 400
        assert response.json()["details"][0]["message"].endswith("did you mean pageSize?")

    async def test_known_parameters_still_work(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        await make_product()
        response = await client.get(
            "/api/v1/products?pageSize=5&sortBy=title&vendor=Northwind&withTotal=true",
            headers=admin,
        )
        assert response.status_code == 200
        assert response.json()["totalCount"] == 1


class TestDeeplyNestedBodies:
    async def test_answer_400_with_a_detail(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        body = b"[" * 5000 + b"]" * 5000
        response = await client.post(
            "/api/v1/products",
            content=body,
            headers={**admin, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["details"], response.text
        assert fields_of(response) == ["body"]


class TestGetModifyPut:
    """Clients send back what they read: read-only fields are accepted and ignored."""

    async def test_product_round_trip(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        sent = {**product, "title": "Classic Tee 2"}
        response = await client.put(f"/api/v1/products/{product['id']}", json=sent, headers=admin)
        assert response.status_code == 200, response.text
        updated = response.json()
        assert updated["title"] == "Classic Tee 2"
        assert [v["id"] for v in updated["variants"]] == [v["id"] for v in product["variants"]]
        assert updated["createdAt"] == product["createdAt"]

    async def test_variant_round_trip(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        variant = product["variants"][0]
        sent = {**variant, "price": "25.00", "title": "ignored", "inventoryQuantity": 999}
        response = await client.put(f"/api/v1/variants/{variant['id']}", json=sent, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["price"] == "25.00"
        assert response.json()["title"] == variant["title"]
        assert response.json()["inventoryQuantity"] == variant["inventoryQuantity"]

    async def test_customer_round_trip(self, client: httpx.AsyncClient, admin: Headers) -> None:
        created = await client.post(
            "/api/v1/customers",
            json={
                "email": "round@example.com",
                "firstName": "Ava",
                "addresses": [{"address1": "1 Main St", "city": "Portland", "country": "US"}],
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        customer = created.json()
        sent = {**customer, "note": "prefers email"}
        response = await client.put(f"/api/v1/customers/{customer['id']}", json=sent, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["note"] == "prefers email"
        assert len(response.json()["addresses"]) == 1

    async def test_unknown_fields_are_still_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        response = await client.put(
            f"/api/v1/products/{product['id']}",
            json={"id": product["id"], "titel": "typo"},
            headers=admin,
        )
        assert response.status_code == 400
        assert fields_of(response) == ["titel"]


class TestIncludeMetafields:
    async def test_needs_metafields_read(
        self, client: httpx.AsyncClient, token_for: Any, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        path = f"/api/v1/products/{product['id']}?include=metafields"
        refused = await client.get(path, headers=token_for("products:read"))
        assert refused.status_code == 403
        assert fields_of(refused) == ["include"]
        allowed = await client.get(path, headers=token_for("products:read", "metafields:read"))
        assert allowed.status_code == 200
        assert allowed.json()["metafields"] == []

    async def test_inventory_item_round_trip(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        item_id = product["variants"][0]["inventoryItemId"]
        item = (await client.get(f"/api/v1/inventory-items/{item_id}", headers=admin)).json()
        sent = {**item, "cost": "4.10"}
        response = await client.put(f"/api/v1/inventory-items/{item_id}", json=sent, headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["cost"] == "4.10"

    async def test_metafield_round_trip(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        created = await client.post(
            "/api/v1/metafields",
            json={
                "ownerResource": "product",
                "ownerId": product["id"],
                "namespace": "specs",
                "key": "fabric",
                "type": "single_line_text_field",
                "value": "cotton",
            },
            headers=admin,
        )
        assert created.status_code == 201, created.text
        metafield = created.json()
        sent = {**metafield, "value": "linen"}
        response = await client.put(
            f"/api/v1/metafields/{metafield['id']}", json=sent, headers=admin
        )
        assert response.status_code == 200, response.text
        assert response.json()["value"] == "linen"
        assert response.json()["ownerResource"] == "products"


class TestTimestampsBeyondUtc:
    """9999-12-31T23:59:59-23:00 is a valid timestamp with no UTC equivalent (year 10000):
    it was a 500 on every list filtered by time."""

    EDGE = "9999-12-31T23:59:59-23:00"

    @pytest.mark.parametrize(
        ("path", "parameter"),
        [
            ("/api/v1/orders", "createdAtMin"),
            ("/api/v1/orders", "createdAtMax"),
            ("/api/v1/abandoned-checkouts", "createdAtMin"),
            ("/api/v1/abandoned-checkouts", "updatedAtMax"),
            ("/api/v1/products", "createdAtMin"),
            ("/api/v1/products", "updatedAtMax"),
            ("/api/v1/events", "createdAtMin"),
        ],
    )
    async def test_is_400_naming_the_parameter(
        self, client: httpx.AsyncClient, admin: Headers, path: str, parameter: str
    ) -> None:
        response = await client.get(path, params={parameter: self.EDGE}, headers=admin)
        assert response.status_code == 400, response.text
        assert parameter in fields_of(response)[0]

    async def test_a_timestamp_without_an_offset_is_utc(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get(
            "/api/v1/orders", params={"createdAtMin": "2026-01-01T00:00:00"}, headers=admin
        )
        assert response.status_code == 200, response.text
