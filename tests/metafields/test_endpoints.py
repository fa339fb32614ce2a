from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, Metafield, MetafieldDefinition
from tests.fixtures.catalog import Headers, ProductFactory
from tests.kit.api_pages import read_all, walk_pages


def metafield(owner_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ownerResource": "products",
        "ownerId": owner_id,
        "namespace": "specs",
        "key": "thread_count",
        "type": "number_integer",
        "value": "300",
    }
    body.update(overrides)
    return body


class TestUpsert:
    async def test_writing_twice_updates_the_same_metafield(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        first = await client.post(
            "/api/v1/metafields", json=metafield(product["id"]), headers=admin
        )
        second = await client.post(
            "/api/v1/metafields", json=metafield(product["id"], value=400), headers=admin
        )
        assert (first.status_code, second.status_code) == (201, 200)
        assert first.json()["id"] == second.json()["id"]
        assert second.json()["value"] == "400"
        assert await db_session.scalar(select(func.count()).select_from(Metafield)) == 1
        topics = await db_session.scalars(
            select(Event.topic).where(Event.subject_type == "Metafield").order_by(Event.id)
        )
        assert list(topics) == ["metafields/create", "metafields/update"]

        detail = await client.get(
            f"/api/v1/products/{product['id']}", params={"include": "metafields"}, headers=admin
        )
        assert detail.json()["metafields"] == [
            {
                "id": first.json()["id"],
                "namespace": "specs",
                "key": "thread_count",
                "type": "number_integer",
                "value": "400",
            }
        ]
        plain = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert "metafields" not in plain.json()

    async def test_owner_must_exist(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        response = await client.post("/api/v1/metafields", json=metafield(424242), headers=admin)
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "ownerId"
        assert await db_session.scalar(select(func.count()).select_from(Metafield)) == 0

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"type": "number_integer", "value": "lots"}, "value"),
            ({"type": "colour"}, "type"),
            ({"ownerResource": "planets"}, "ownerResource"),
            ({"namespace": "x"}, "namespace"),
            ({"key": "has space"}, "key"),
            ({"value": None}, "value"),
        ],
    )
    async def test_bad_metafields_are_400(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        overrides: dict[str, Any],
        field: str,
    ) -> None:
        product = await make_product()
        response = await client.post(
            "/api/v1/metafields", json=metafield(product["id"], **overrides), headers=admin
        )
        assert response.status_code == 400, response.text
        assert field in [d["field"] for d in response.json()["details"]]


class TestDefinitions:
    async def test_values_must_satisfy_the_definition(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        definition = await client.post(
            "/api/v1/metafield-definitions",
            json={
                "ownerType": "products",
                "namespace": "specs",
                "key": "thread_count",
                "name": "Thread count",
                "type": "number_integer",
                "validations": [{"name": "min", "value": "100"}, {"name": "max", "value": 1000}],
            },
            headers=admin,
        )
        assert definition.status_code == 201, definition.text
        assert definition.json()["validations"][1] == {"name": "max", "value": "1000"}

        too_big = await client.post(
            "/api/v1/metafields", json=metafield(product["id"], value="5000"), headers=admin
        )
        assert too_big.status_code == 400
        assert too_big.json()["details"] == [
            {"field": "value", "message": "fails validation 'max': must be at most 1000"}
        ]
        wrong_type = await client.post(
            "/api/v1/metafields",
            json=metafield(product["id"], type="single_line_text_field", value="300"),
            headers=admin,
        )
        assert wrong_type.status_code == 400
        assert wrong_type.json()["details"][0]["field"] == "type"
        fine = await client.post(
            "/api/v1/metafields", json=metafield(product["id"], value="500"), headers=admin
        )
        assert fine.status_code == 201

    async def test_definition_rules_are_checked_and_unique(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        body = {
            "ownerType": "products",
            "namespace": "specs",
            "key": "colour",
            "name": "Colour",
            "type": "single_line_text_field",
            "validations": [{"name": "max_precision", "value": "2"}],
        }
        bad = await client.post("/api/v1/metafield-definitions", json=body, headers=admin)
        assert bad.status_code == 400
        assert bad.json()["details"][0]["field"] == "validations[0].name"
        assert "max_precision" in bad.json()["details"][0]["message"]

        body["validations"] = [{"name": "choices", "value": ["red", "blue"]}]
        created = await client.post("/api/v1/metafield-definitions", json=body, headers=admin)
        assert created.status_code == 201, created.text
        again = await client.post("/api/v1/metafield-definitions", json=body, headers=admin)
        assert again.status_code == 409
        assert again.json()["code"] == "DEFINITION_TAKEN"
        assert again.json()["details"] == [
            {"field": "key", "message": "is already defined for this owner type and namespace"}
        ]
        listed = await client.get(
            "/api/v1/metafield-definitions", params={"ownerType": "products"}, headers=admin
        )
        assert [d["key"] for d in listed.json()["items"]] == ["colour"]
        deleted = await client.delete(
            f"/api/v1/metafield-definitions/{created.json()['id']}", headers=admin
        )
        assert deleted.status_code == 204

    async def test_needs_metafield_permissions(
        self, client: httpx.AsyncClient, token_for: Any, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        response = await client.post(
            "/api/v1/metafields",
            json=metafield(product["id"]),
            headers=token_for("products:write", "metafields:read"),
        )
        assert response.status_code == 403


class TestSingularOwners:
    async def test_shopify_singular_names_are_stored_as_the_plural(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        definition = await client.post(
            "/api/v1/metafield-definitions",
            json={
                "ownerType": "product",
                "namespace": "specs",
                "key": "thread_count",
                "name": "Thread count",
                "type": "number_integer",
                "validations": [{"name": "max", "value": "1000"}],
            },
            headers=admin,
        )
        written = await client.post(
            "/api/v1/metafields",
            json=metafield(product["id"], ownerResource="product"),
            headers=admin,
        )
        # The definition given as `product` applies to metafields given as `products`.
        too_big = await client.post(
            "/api/v1/metafields", json=metafield(product["id"], value="5000"), headers=admin
        )

        assert definition.status_code == 201, definition.text
        assert definition.json()["ownerType"] == "products"
        assert written.status_code == 201, written.text
        assert written.json()["ownerResource"] == "products"
        assert too_big.status_code == 400
        stored = await db_session.scalars(select(Metafield.owner_resource))
        assert list(stored) == ["products"]
        for params in ({"ownerResource": "product"}, {"ownerResource": "products"}):
            listed = await client.get("/api/v1/metafields", params=params, headers=admin)
            assert [m["id"] for m in listed.json()["items"]] == [written.json()["id"]]
        definitions = await client.get(
            "/api/v1/metafield-definitions", params={"ownerType": "product"}, headers=admin
        )
        assert [d["key"] for d in definitions.json()["items"]] == ["thread_count"]

    async def test_an_unknown_owner_is_still_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.get(
            "/api/v1/metafields", params={"ownerResource": "planet"}, headers=admin
        )
        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["ownerResource"]


def text_definition(validations: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "ownerType": "products",
        "namespace": "specs",
        "key": "code",
        "name": "Code",
        "type": "single_line_text_field",
        "validations": validations,
    }


class TestRegexValidations:
    async def test_a_pathological_pattern_runs_in_linear_time(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        # `(a+)+$` on "a"*n + "!" backtracks 2^n steps in Python's re: with n = 5000 that
        # would never finish. RE2 answers at once; the test asserts the answers.
        product = await make_product()
        created = await client.post(
            "/api/v1/metafield-definitions",
            json=text_definition([{"name": "regex", "value": "(a+)+$"}]),
            headers=admin,
        )
        assert created.status_code == 201, created.text

        def code(value: str) -> dict[str, Any]:
            return metafield(product["id"], key="code", type="single_line_text_field", value=value)

        refused = await client.post(
            "/api/v1/metafields", json=code("a" * 5000 + "!"), headers=admin
        )
        accepted = await client.post("/api/v1/metafields", json=code("a" * 5000), headers=admin)

        assert refused.status_code == 400
        assert refused.json()["details"] == [
            {"field": "value", "message": "fails validation 'regex': must match (a+)+$"}
        ]
        assert accepted.status_code == 201, accepted.text

    @pytest.mark.parametrize(
        ("validations", "field", "message"),
        [
            ([{"name": "regex", "value": r"(a)\1"}], "validations[0].value", "RE2"),
            (
                [{"name": "max", "value": "9"}, {"name": "regex", "value": "(?=a)a"}],
                "validations[1].value",
                "RE2",
            ),
            ([{"name": "regex", "value": "(?<!x)y"}], "validations[0].value", "RE2"),
            ([{"name": "regex", "value": "a" * 1001}], "validations[0].value", "at most 1000"),
            ([{"name": "max_precision", "value": "2"}], "validations[0].name", "does not apply"),
        ],
    )
    async def test_patterns_re2_cannot_run_are_refused_at_the_definition(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        db_session: AsyncSession,
        validations: list[dict[str, Any]],
        field: str,
        message: str,
    ) -> None:
        response = await client.post(
            "/api/v1/metafield-definitions", json=text_definition(validations), headers=admin
        )

        assert response.status_code == 400, response.text
        (detail,) = response.json()["details"]
        assert detail["field"] == field
        assert message in detail["message"]
        assert await db_session.scalar(select(func.count()).select_from(MetafieldDefinition)) == 0

    async def test_an_update_to_a_pattern_re2_cannot_run_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        created = await client.post(
            "/api/v1/metafield-definitions",
            json=text_definition([{"name": "regex", "value": "[A-Z]+"}]),
            headers=admin,
        )
        url = f"/api/v1/metafield-definitions/{created.json()['id']}"

        response = await client.put(
            url, json={"validations": [{"name": "regex", "value": r"(\w)\1"}]}, headers=admin
        )

        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "validations[0].value"
        current = await client.get(url, headers=admin)
        assert current.json()["validations"] == [{"name": "regex", "value": "[A-Z]+"}]


class TestDeepJson:
    async def test_a_json_value_nested_3000_deep_is_a_400_naming_value(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        deep = "[" * 3000 + "]" * 3000

        for type_ in ("json", "list.single_line_text_field", "money"):
            response = await client.post(
                "/api/v1/metafields",
                json=metafield(product["id"], type=type_, value=deep),
                headers=admin,
            )
            assert response.status_code == 400, (type_, response.text)
            (detail,) = response.json()["details"]
            assert detail["field"] == "value"
            assert "deeper than 64" in detail["message"]
        assert await db_session.scalar(select(func.count()).select_from(Metafield)) == 0

    async def test_json_at_the_limit_is_accepted(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        value = "[" * 64 + "]" * 64
        response = await client.post(
            "/api/v1/metafields",
            json=metafield(product["id"], type="json", value=value),
            headers=admin,
        )
        assert response.status_code == 201, response.text
        assert response.json()["value"] == value

    async def test_deep_choices_in_a_definition_are_refused(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        response = await client.post(
            "/api/v1/metafield-definitions",
            json=text_definition([{"name": "choices", "value": "[" * 3000 + "]" * 3000}]),
            headers=admin,
        )
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "validations[0].value"

    async def test_a_deep_value_sent_as_json_rather_than_text_is_a_400(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        deep: Any = []
        for _ in range(100):
            deep = [deep]
        response = await client.post(
            "/api/v1/metafields",
            json=metafield(product["id"], type="json", value=deep),
            headers=admin,
        )
        assert response.status_code == 400, response.text
        assert [d["field"] for d in response.json()["details"]] == ["value"]


class TestListPages:
    async def test_cursor_pages_walk_every_metafield_with_the_filters(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product()
        made = []
        for key in ["ka", "kb", "kc", "kd", "ke"]:
            for namespace in ["specs", "seo"]:
                created = await client.post(
                    "/api/v1/metafields",
                    json=metafield(product["id"], key=key, namespace=namespace),
                    headers=admin,
                )
                assert created.status_code == 201, created.text
                made.append(created.json())

        walked = await walk_pages(
            client, "/api/v1/metafields", admin, {"namespace": "specs", "ownerId": product["id"]}
        )
        whole = await read_all(client, "/api/v1/metafields", admin, {"namespace": "specs"})

        specs = [m["id"] for m in made if m["namespace"] == "specs"]
        assert [m["id"] for m in walked] == specs
        assert whole["totalCount"] == 5

    async def test_cursor_pages_walk_every_definition(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        made = []
        for key in ["ka", "kb", "kc", "kd", "ke"]:
            created = await client.post(
                "/api/v1/metafield-definitions",
                json={
                    "ownerType": "products",
                    "namespace": "specs",
                    "key": key,
                    "name": key.upper(),
                    "type": "number_integer",
                },
                headers=admin,
            )
            assert created.status_code == 201, created.text
            made.append(created.json()["id"])

        walked = await walk_pages(client, "/api/v1/metafield-definitions", admin)

        assert [d["id"] for d in walked] == made
        counted = await read_all(client, "/api/v1/metafield-definitions", admin)
        assert counted["totalCount"] == 5
