from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, InventoryAdjustment
from tests.fixtures.catalog import Headers, ProductFactory
from tests.inventory.helpers import levels_of, stocked, variant_quantity
from tests.kit.api_pages import read_all, walk_pages

ADJUST = "/api/v1/inventory-levels/adjust"


class TestAdjust:
    async def test_adjusts_logs_and_keeps_the_variant_total(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        response = await client.post(
            ADJUST,
            json={
                "inventoryItemId": variant["inventoryItemId"],
                "locationId": location["id"],
                "availableAdjustment": -4,
                "reason": "damaged",
                "note": "dropped a box",
            },
            headers=admin,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["available"] == 6
        assert body["committed"] == 0
        assert body["onHand"] == 6
        assert body["inventoryItemId"] == variant["inventoryItemId"]
        assert await variant_quantity(db_session, variant["id"]) == 6
        log = (
            await db_session.scalars(
                select(InventoryAdjustment)
                .where(InventoryAdjustment.inventory_item_id == variant["inventoryItemId"])
                .order_by(InventoryAdjustment.id)
            )
        ).all()
        assert [(a.quantity_adjustment, a.reason, a.note) for a in log] == [
            (10, "received", "initial stock"),
            (-4, "damaged", "dropped a box"),
        ]
        event = await db_session.scalar(
            select(Event).where(Event.topic == "inventory_levels/update")
        )
        assert event is not None
        assert event.body["availableDelta"] == -4
        assert event.body["available"] == 6

    async def test_below_zero_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 3)
        response = await client.post(
            ADJUST,
            json={
                "inventoryItemId": variant["inventoryItemId"],
                "locationId": location["id"],
                "availableAdjustment": -4,
            },
            headers=admin,
        )
        assert response.status_code == 409
        assert response.json()["code"] == "INSUFFICIENT_INVENTORY"
        assert await levels_of(db_session, variant["inventoryItemId"]) == {location["id"]: (3, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 3
        log = await db_session.scalars(
            select(InventoryAdjustment.quantity_adjustment).where(
                InventoryAdjustment.inventory_item_id == variant["inventoryItemId"]
            )
        )
        assert list(log) == [3]

    async def test_not_stocked_unknown_and_inactive_are_told_apart(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        variant = await stocked(make_product, 3)
        other = await client.post("/api/v1/locations", json={"name": "Shop"}, headers=admin)
        item = variant["inventoryItemId"]

        async def adjust(item_id: int, location_id: int) -> httpx.Response:
            return await client.post(
                ADJUST,
                json={
                    "inventoryItemId": item_id,
                    "locationId": location_id,
                    "availableAdjustment": 1,
                },
                headers=admin,
            )

        assert (await adjust(item, other.json()["id"])).json()["code"] == "INVENTORY_NOT_STOCKED"
        assert (await adjust(item, 999_999)).status_code == 404
        assert (await adjust(999_999, location["id"])).status_code == 404
        deactivated = await client.put(
            f"/api/v1/locations/{location['id']}", json={"active": False}, headers=admin
        )
        assert deactivated.status_code == 200
        response = await adjust(item, location["id"])
        assert response.status_code == 409
        assert response.json()["code"] == "LOCATION_INACTIVE"

    async def test_needs_inventory_write(
        self,
        client: httpx.AsyncClient,
        token_for: Any,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        variant = await stocked(make_product, 3)
        body = {
            "inventoryItemId": variant["inventoryItemId"],
            "locationId": location["id"],
            "availableAdjustment": 1,
        }
        response = await client.post(ADJUST, json=body, headers=token_for("inventory:read"))
        assert response.status_code == 403

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"locationId": 1, "availableAdjustment": 1}, "inventoryItemId"),
            (
                {"inventoryItemId": "x", "locationId": 1, "availableAdjustment": 1},
                "inventoryItemId",
            ),
            (
                {"inventoryItemId": 1, "locationId": 1, "availableAdjustment": 1.5},
                "availableAdjustment",
            ),
            (
                {"inventoryItemId": 1, "locationId": 1, "availableAdjustment": 10**10},
                "availableAdjustment",
            ),
            (
                {"inventoryItemId": 1, "locationId": 1, "availableAdjustment": 1, "reason": ""},
                "reason",
            ),
        ],
    )
    async def test_bad_bodies_are_400(
        self, client: httpx.AsyncClient, admin: Headers, body: dict[str, Any], field: str
    ) -> None:
        response = await client.post(ADJUST, json=body, headers=admin)
        assert response.status_code == 400
        assert field in [d["field"] for d in response.json()["details"]]


class TestSetConnectDisconnect:
    async def test_set_connects_and_sums_over_locations(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)
        second = (
            await client.post("/api/v1/locations", json={"name": "Shop"}, headers=admin)
        ).json()
        item = variant["inventoryItemId"]

        response = await client.post(
            "/api/v1/inventory-levels/set",
            json={"inventoryItemId": item, "locationId": second["id"], "available": 8},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        assert response.json()["available"] == 8
        again = await client.post(
            "/api/v1/inventory-levels/set",
            json={"inventoryItemId": item, "locationId": location["id"], "available": 2},
            headers=admin,
        )
        assert again.json()["available"] == 2
        assert await levels_of(db_session, item) == {location["id"]: (2, 0), second["id"]: (8, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 10
        log = await db_session.scalars(
            select(InventoryAdjustment.quantity_adjustment)
            .where(InventoryAdjustment.inventory_item_id == item)
            .order_by(InventoryAdjustment.id)
        )
        assert list(log) == [5, 8, -3]

        listed = await client.get(
            "/api/v1/inventory-levels",
            params={
                "inventoryItemIds": str(item),
                "locationIds": f"{location['id']},{second['id']}",
                "withTotal": "true",
            },
            headers=admin,
        )
        assert listed.status_code == 200
        assert [
            (lv["locationId"], lv["available"], lv["onHand"]) for lv in listed.json()["items"]
        ] == [(location["id"], 2, 2), (second["id"], 8, 8)]
        assert listed.json()["totalCount"] == 2

    async def test_connect_is_idempotent_and_disconnect_removes_stock(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)
        second = (
            await client.post("/api/v1/locations", json={"name": "Shop"}, headers=admin)
        ).json()
        body = {"inventoryItemId": variant["inventoryItemId"], "locationId": second["id"]}
        first = await client.post("/api/v1/inventory-levels/connect", json=body, headers=admin)
        repeat = await client.post("/api/v1/inventory-levels/connect", json=body, headers=admin)
        assert (first.status_code, repeat.status_code) == (201, 200)
        assert first.json()["available"] == 0

        home = {"inventoryItemId": variant["inventoryItemId"], "locationId": location["id"]}
        gone = await client.post("/api/v1/inventory-levels/disconnect", json=home, headers=admin)
        assert gone.status_code == 204
        assert await levels_of(db_session, variant["inventoryItemId"]) == {second["id"]: (0, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 0

    async def test_bad_id_lists_are_400(self, client: httpx.AsyncClient, admin: Headers) -> None:
        response = await client.get(
            "/api/v1/inventory-levels", params={"inventoryItemIds": "1,abc"}, headers=admin
        )
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "inventoryItemIds"


class TestOrderMoves:
    async def test_commit_and_release_move_between_states(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        from shopdb.inventory import service
        from shopdb.inventory.errors import CommittedStockPresent, InsufficientInventory

        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]
        # An order takes 3: available -3, committed +3 (on hand unchanged).
        (level,) = await service.change_levels(
            db_session, [service.LevelChange(item, location["id"], available=-3, committed=3)]
        )
        assert (level.available, level.committed, level.on_hand) == (2, 3, 5)
        assert await variant_quantity(db_session, variant["id"]) == 2
        with pytest.raises(CommittedStockPresent):
            await service.disconnect(db_session, inventory_item_id=item, location_id=location["id"])
        # Fulfilling 4 would take more than is committed: refused, nothing moves.
        with pytest.raises(InsufficientInventory):
            await service.change_levels(
                db_session, [service.LevelChange(item, location["id"], committed=-4)]
            )
        assert await levels_of(db_session, item) == {location["id"]: (2, 3)}
        listed = await client.get(
            "/api/v1/inventory-levels", params={"inventoryItemIds": str(item)}, headers=admin
        )
        assert listed.json()["items"][0]["onHand"] == 5


class TestListPages:
    async def test_cursor_pages_walk_every_level_in_item_then_location_order(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        second = (
            await client.post("/api/v1/locations", json={"name": "Shop"}, headers=admin)
        ).json()
        items = [
            (await stocked(make_product, 1, sku=f"SKU-{i}"))["inventoryItemId"] for i in range(4)
        ]
        for item in items[:3]:  # two levels for three items, one level for the fourth
            connected = await client.post(
                "/api/v1/inventory-levels/connect",
                json={"inventoryItemId": item, "locationId": second["id"]},
                headers=admin,
            )
            assert connected.status_code in (200, 201), connected.text

        walked = await walk_pages(client, "/api/v1/inventory-levels", admin)
        at_second = await walk_pages(
            client, f"/api/v1/locations/{second['id']}/inventory-levels", admin
        )

        expected = sorted(
            [(item, location["id"]) for item in items]
            + [(item, second["id"]) for item in items[:3]]
        )
        assert [(lv["inventoryItemId"], lv["locationId"]) for lv in walked] == expected
        assert [lv["inventoryItemId"] for lv in at_second] == items[:3]
        assert (await read_all(client, "/api/v1/inventory-levels", admin))["totalCount"] == 7

    async def test_cursor_pages_walk_every_location(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        made = [
            (await client.post("/api/v1/locations", json={"name": f"L{i}"}, headers=admin)).json()
            for i in range(4)
        ]

        walked = await walk_pages(client, "/api/v1/locations", admin)

        assert [loc["id"] for loc in walked] == [location["id"]] + [loc["id"] for loc in made]
