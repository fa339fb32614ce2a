from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, Location
from tests.fixtures.catalog import Headers, ProductFactory


class TestLocations:
    async def test_create_read_update_list(
        self, client: httpx.AsyncClient, admin: Headers, db_session: AsyncSession
    ) -> None:
        created = await client.post(
            "/api/v1/locations",
            json={"name": "Depot", "city": "Lyon", "country": "FR", "zip": "69001"},
            headers=admin,
        )
        assert created.status_code == 201
        location = created.json()
        assert location["active"] is True
        assert location["city"] == "Lyon"

        updated = await client.put(
            f"/api/v1/locations/{location['id']}", json={"phone": "+33 4 00"}, headers=admin
        )
        assert updated.json()["phone"] == "+33 4 00"
        assert updated.json()["name"] == "Depot"

        listed = await client.get("/api/v1/locations", params={"active": "true"}, headers=admin)
        assert [loc["id"] for loc in listed.json()["items"]] == [location["id"]]
        topics = await db_session.scalars(
            select(Event.topic).where(Event.subject_type == "Location").order_by(Event.id)
        )
        assert list(topics) == ["locations/create", "locations/update"]

    async def test_location_that_held_stock_is_deactivated_not_deleted(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product(options=[], variants=[{"price": "1", "inventoryQuantity": 4}])
        refused = await client.delete(f"/api/v1/locations/{location['id']}", headers=admin)
        assert refused.status_code == 409
        assert refused.json()["code"] == "LOCATION_HAS_STOCK"
        assert refused.json()["details"] == [
            {"field": "id", "message": "has inventory levels or adjustments"}
        ]
        assert await db_session.get(Location, location["id"]) is not None

        deactivated = await client.put(
            f"/api/v1/locations/{location['id']}", json={"active": False}, headers=admin
        )
        assert deactivated.json()["active"] is False
        levels = await client.get(
            "/api/v1/inventory-levels",
            params={"inventoryItemIds": product["variants"][0]["inventoryItemId"]},
            headers=admin,
        )
        assert [lv["available"] for lv in levels.json()["items"]] == [4]

    async def test_unused_location_can_be_deleted(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        created = (
            await client.post("/api/v1/locations", json={"name": "Pop-up"}, headers=admin)
        ).json()
        assert (
            await client.delete(f"/api/v1/locations/{created['id']}", headers=admin)
        ).status_code == 204
        assert (
            await client.get(f"/api/v1/locations/{created['id']}", headers=admin)
        ).status_code == 404

    async def test_bad_location_bodies(self, client: httpx.AsyncClient, admin: Headers) -> None:
        for body, field in [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": "x" * 256}, "name"),
            ({"name": "ok", "active": "sometimes"}, "active"),
            ({"name": "ok", "zip": "9" * 51}, "zip"),
        ]:
            response = await client.post("/api/v1/locations", json=body, headers=admin)
            assert response.status_code == 400, body
            assert field in [d["field"] for d in response.json()["details"]]


class TestInventoryItems:
    async def test_read_and_update(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product(options=[], variants=[{"price": "1", "sku": "ITEM-1"}])
        item_id = product["variants"][0]["inventoryItemId"]
        got = await client.get(f"/api/v1/inventory-items/{item_id}", headers=admin)
        assert got.status_code == 200
        assert got.json()["sku"] == "ITEM-1"
        assert got.json()["productVariantId"] == product["variants"][0]["id"]

        updated = await client.put(
            f"/api/v1/inventory-items/{item_id}",
            json={"cost": "3.20", "tracked": False, "countryCodeOfOrigin": "PT"},
            headers=admin,
        )
        assert updated.status_code == 200
        assert (updated.json()["cost"], updated.json()["tracked"]) == ("3.20", False)
        assert updated.json()["countryCodeOfOrigin"] == "PT"

        bad = await client.put(
            f"/api/v1/inventory-items/{item_id}",
            json={"countryCodeOfOrigin": "Portugal"},
            headers=admin,
        )
        assert bad.status_code == 400
        assert bad.json()["details"][0]["field"] == "countryCodeOfOrigin"
        assert (await client.get("/api/v1/inventory-items/99999", headers=admin)).status_code == 404
