"""metafields:* is not a way around the owner's own permissions, nor a way to probe ids."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.metafields.access import OWNER_DOMAINS
from shopdb.metafields.repository import OWNER_MODELS
from shopdb.models import Metafield, MetafieldDefinition, Shop
from tests.auth.helpers import make_api_key
from tests.fixtures.catalog import Headers, ProductFactory, TokenFactory

METAFIELDS = "/api/v1/metafields"
DEFINITIONS = "/api/v1/metafield-definitions"
ONLY_METAFIELDS = ("metafields:read", "metafields:write")


def forbidden(permission: str) -> dict[str, Any]:
    return {
        "code": "FORBIDDEN",
        "message": f"Missing permission: {permission}",
        "details": [{"field": "permissions", "message": f"requires {permission}"}],
    }


def body(owner: str, owner_id: int, **overrides: Any) -> dict[str, Any]:
    return {
        "ownerResource": owner,
        "ownerId": owner_id,
        "namespace": "crm",
        "key": "tier",
        "type": "single_line_text_field",
        "value": "gold",
        **overrides,
    }


async def count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
async def customer(client: httpx.AsyncClient, admin: Headers) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/customers", json={"email": f"m-{uuid.uuid4().hex[:8]}@example.com"}, headers=admin
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture
async def customer_metafield(
    client: httpx.AsyncClient, admin: Headers, customer: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(METAFIELDS, json=body("customers", customer["id"]), headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_every_owner_has_a_permission_rule() -> None:
    assert set(OWNER_DOMAINS) == set(OWNER_MODELS)


class TestWrites:
    @pytest.mark.parametrize(
        ("owner", "permission"),
        [
            ("customers", "customers:write"),
            ("customer", "customers:write"),
            ("orders", "orders:write"),
            ("products", "products:write"),
            ("variants", "products:write"),
            ("collections", "products:write"),
            ("locations", "inventory:write"),
        ],
    )
    async def test_need_the_owners_write_permission_whether_or_not_it_exists(
        self,
        client: httpx.AsyncClient,
        token_for: TokenFactory,
        customer: dict[str, Any],
        db_session: AsyncSession,
        owner: str,
        permission: str,
    ) -> None:
        headers = token_for(*ONLY_METAFIELDS)
        before = await count(db_session, Metafield)

        existing = await client.post(METAFIELDS, json=body(owner, customer["id"]), headers=headers)
        missing = await client.post(METAFIELDS, json=body(owner, 987_654_321), headers=headers)

        # The same answer for an id that exists and one that does not: nothing to probe.
        assert (existing.status_code, existing.json()) == (403, forbidden(permission))
        assert (missing.status_code, missing.json()) == (403, forbidden(permission))
        assert await count(db_session, Metafield) == before

    async def test_with_the_owners_permission_the_owner_is_checked(
        self, client: httpx.AsyncClient, token_for: TokenFactory, customer: dict[str, Any]
    ) -> None:
        headers = token_for(*ONLY_METAFIELDS, "customers:write")

        missing = await client.post(
            METAFIELDS, json=body("customers", 987_654_321), headers=headers
        )
        created = await client.post(
            METAFIELDS, json=body("customers", customer["id"]), headers=headers
        )

        assert missing.status_code == 400
        assert missing.json()["details"] == [
            {"field": "ownerId", "message": "no customers with id 987654321"}
        ]
        assert created.status_code == 201, created.text

    async def test_an_api_key_with_only_metafields_scopes_is_refused(
        self,
        client: httpx.AsyncClient,
        db_session: AsyncSession,
        staff_user: Any,
        customer: dict[str, Any],
    ) -> None:
        _, key = await make_api_key(db_session, staff_user, ONLY_METAFIELDS)

        response = await client.post(
            METAFIELDS, json=body("customers", customer["id"]), headers={"X-API-Key": key}
        )

        assert (response.status_code, response.json()) == (403, forbidden("customers:write"))

    async def test_update_and_delete_need_the_owners_write_permission(
        self,
        client: httpx.AsyncClient,
        token_for: TokenFactory,
        customer_metafield: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        url = f"{METAFIELDS}/{customer_metafield['id']}"
        reader = token_for(*ONLY_METAFIELDS, "customers:read")

        updated = await client.put(url, json={"value": "silver"}, headers=reader)
        deleted = await client.delete(url, headers=reader)

        assert (updated.status_code, updated.json()) == (403, forbidden("customers:write"))
        assert (deleted.status_code, deleted.json()) == (403, forbidden("customers:write"))
        stored = await db_session.get(Metafield, customer_metafield["id"], populate_existing=True)
        assert stored is not None
        assert stored.value == "gold"

    async def test_shop_metafields_need_only_the_metafields_permission(
        self, client: httpx.AsyncClient, token_for: TokenFactory, db_session: AsyncSession
    ) -> None:
        shop = Shop(name="Shop", domain="shop.example.com", email="shop@example.com")
        db_session.add(shop)
        await db_session.flush()

        response = await client.post(
            METAFIELDS, json=body("shop", shop.id), headers=token_for(*ONLY_METAFIELDS)
        )

        assert response.status_code == 201, response.text
        assert response.json()["ownerResource"] == "shop"


class TestReads:
    async def test_a_metafield_of_an_owner_one_cannot_read_is_not_found(
        self,
        client: httpx.AsyncClient,
        token_for: TokenFactory,
        customer_metafield: dict[str, Any],
    ) -> None:
        url = f"{METAFIELDS}/{customer_metafield['id']}"

        hidden = await client.get(url, headers=token_for(*ONLY_METAFIELDS))
        absent = await client.get(f"{METAFIELDS}/987654321", headers=token_for(*ONLY_METAFIELDS))
        shown = await client.get(url, headers=token_for("metafields:read", "customers:read"))

        # 404 like an id that does not exist: a 403 would tell which ids hold customer data.
        assert (hidden.status_code, hidden.json()["message"]) == (
            404,
            f"Metafield {customer_metafield['id']} not found",
        )
        assert absent.status_code == 404
        assert shown.status_code == 200
        assert shown.json()["value"] == "gold"

    async def test_listing_one_owner_type_needs_its_read_permission(
        self,
        client: httpx.AsyncClient,
        token_for: TokenFactory,
        customer_metafield: dict[str, Any],
    ) -> None:
        headers = token_for(*ONLY_METAFIELDS)
        queries: list[dict[str, str | int]] = [
            {"ownerResource": "customers"},
            {"ownerResource": "customer", "ownerId": customer_metafield["ownerId"]},
            {"ownerResource": "customers", "ownerId": 987_654_321},
        ]
        for params in queries:
            response = await client.get(METAFIELDS, params=params, headers=headers)
            assert (response.status_code, response.json()) == (403, forbidden("customers:read"))

    async def test_an_unfiltered_list_holds_only_readable_owners(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        token_for: TokenFactory,
        make_product: ProductFactory,
        customer_metafield: dict[str, Any],
    ) -> None:
        product = await make_product()
        created = await client.post(METAFIELDS, json=body("products", product["id"]), headers=admin)
        assert created.status_code == 201, created.text

        counted = {"withTotal": "true"}
        as_catalog = await client.get(
            METAFIELDS, params=counted, headers=token_for("metafields:read", "products:read")
        )
        as_everyone = await client.get(METAFIELDS, headers=admin)
        as_nobody = await client.get(
            METAFIELDS, params=counted, headers=token_for("metafields:read")
        )

        assert [m["id"] for m in as_catalog.json()["items"]] == [created.json()["id"]]
        assert as_catalog.json()["totalCount"] == 1
        assert sorted(m["id"] for m in as_everyone.json()["items"]) == sorted(
            [created.json()["id"], customer_metafield["id"]]
        )
        assert (as_nobody.json()["items"], as_nobody.json()["totalCount"]) == ([], 0)
        assert as_everyone.json()["totalCount"] is None


class TestDefinitions:
    def definition(self, owner: str, key: str = "tier") -> dict[str, Any]:
        return {
            "ownerType": owner,
            "namespace": "crm",
            "key": key,
            "name": "Tier",
            "type": "single_line_text_field",
        }

    async def test_writing_one_needs_the_owners_write_permission(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        token_for: TokenFactory,
        db_session: AsyncSession,
    ) -> None:
        headers = token_for(*ONLY_METAFIELDS)
        existing = await client.post(DEFINITIONS, json=self.definition("customers"), headers=admin)
        url = f"{DEFINITIONS}/{existing.json()['id']}"

        created = await client.post(
            DEFINITIONS, json=self.definition("customer", "x1"), headers=headers
        )
        updated = await client.put(url, json={"name": "Level"}, headers=headers)
        deleted = await client.delete(url, headers=headers)
        read = await client.get(url, headers=headers)
        shop = await client.post(DEFINITIONS, json=self.definition("shop"), headers=headers)

        for refused in (created, updated, deleted):
            assert (refused.status_code, refused.json()) == (403, forbidden("customers:write"))
        # A definition is a schema, not a customer's data: metafields:read shows it.
        assert (read.status_code, read.json()["name"]) == (200, "Tier")
        assert shop.status_code == 201, shop.text
        assert await count(db_session, MetafieldDefinition) == 2
