from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, Metafield
from tests.catalog.fixtures import Headers, ProductFactory


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
        assert bad.json()["details"][0]["field"] == "validations"
        assert "max_precision" in bad.json()["details"][0]["message"]

        body["validations"] = [{"name": "choices", "value": ["red", "blue"]}]
        created = await client.post("/api/v1/metafield-definitions", json=body, headers=admin)
        assert created.status_code == 201, created.text
        again = await client.post("/api/v1/metafield-definitions", json=body, headers=admin)
        assert again.status_code == 409
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
