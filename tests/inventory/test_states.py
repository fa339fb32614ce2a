"""Shopify's quantity states on a level: read, adjusted by a delta, moved between, over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, InventoryAdjustment
from tests.fixtures.catalog import Headers, ProductFactory
from tests.inventory.helpers import states_of, stocked, variant_quantity

LEVELS = "/api/v1/inventory-levels"
ADJUST = f"{LEVELS}/adjust"
MOVE = f"{LEVELS}/move"
SET = f"{LEVELS}/set"

EMPTY = {
    "available": 0,
    "committed": 0,
    "incoming": 0,
    "reserved": 0,
    "damaged": 0,
    "safety_stock": 0,
    "quality_control": 0,
}


async def log_rows(session: AsyncSession, item_id: int) -> list[tuple[str, int, str | None]]:
    rows = await session.execute(
        select(
            InventoryAdjustment.quantity_name,
            InventoryAdjustment.quantity_adjustment,
            InventoryAdjustment.reason,
        )
        .where(InventoryAdjustment.inventory_item_id == item_id)
        .order_by(InventoryAdjustment.id)
    )
    return [(r.quantity_name, r.quantity_adjustment, r.reason) for r in rows]


async def event_count(session: AsyncSession) -> int:
    return int(
        await session.scalar(select(func.count()).where(Event.topic == "inventory_levels/update"))
        or 0
    )


def at(variant: dict[str, Any], location: dict[str, Any], **body: Any) -> dict[str, Any]:
    return {"inventoryItemId": variant["inventoryItemId"], "locationId": location["id"], **body}


class TestLevelJson:
    async def test_every_state_is_listed_with_unavailable_and_on_hand(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        variant = await stocked(make_product, 20)
        for name, delta in [
            ("incoming", 7),
            ("reserved", 1),
            ("damaged", 2),
            ("safety_stock", 3),
            ("quality_control", 4),
        ]:
            response = await client.post(
                ADJUST, json=at(variant, location, name=name, delta=delta), headers=admin
            )
            assert response.status_code == 200, response.text

        listed = await client.get(
            LEVELS, params={"inventoryItemIds": variant["inventoryItemId"]}, headers=admin
        )

        (level,) = listed.json()["items"]
        level.pop("updatedAt")
        assert level == {
            "inventoryItemId": variant["inventoryItemId"],
            "locationId": location["id"],
            "available": 20,
            "committed": 0,
            "incoming": 7,
            "reserved": 1,
            "damaged": 2,
            "safetyStock": 3,
            "qualityControl": 4,
            # Shopify's Unavailable: reserved, damaged, safety stock and quality control.
            "unavailable": 10,
            # available + committed + unavailable; incoming is not on hand.
            "onHand": 30,
        }


class TestAdjustAState:
    async def test_a_delta_on_an_unavailable_state_leaves_available_and_the_variant(
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
            json=at(variant, location, name="damaged", delta=3, reason="damaged"),
            headers=admin,
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["available"], body["damaged"], body["unavailable"], body["onHand"]) == (
            10,
            3,
            3,
            13,
        )
        assert await variant_quantity(db_session, variant["id"]) == 10  # sum of available only
        assert await log_rows(db_session, variant["inventoryItemId"]) == [
            ("available", 10, "received"),
            ("damaged", 3, "damaged"),
        ]

    async def test_an_unavailable_state_below_zero_is_409_naming_delta(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10, policy="continue")
        await client.post(
            ADJUST, json=at(variant, location, name="damaged", delta=2), headers=admin
        )
        events_before = await event_count(db_session)

        response = await client.post(
            ADJUST, json=at(variant, location, name="damaged", delta=-3), headers=admin
        )

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "INSUFFICIENT_INVENTORY"
        assert response.json()["details"] == [
            {"field": "delta", "message": "would make the quantity negative"}
        ]
        item = variant["inventoryItemId"]
        assert await states_of(db_session, item, location["id"]) == EMPTY | {
            "available": 10,
            "damaged": 2,
        }
        assert await event_count(db_session) == events_before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"availableAdjustment": 1, "delta": 1}, "delta"),
            ({"availableAdjustment": 1, "name": "damaged"}, "name"),
            ({"name": "damaged"}, "availableAdjustment"),
            ({}, "availableAdjustment"),
            ({"name": "committed", "delta": 1}, "name"),  # orders move committed units
            ({"name": "on_hand", "delta": 1}, "name"),  # a sum, not a state
        ],
    )
    async def test_a_mixed_or_missing_form_is_400_naming_the_field(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
        body: dict[str, Any],
        field: str,
    ) -> None:
        variant = await stocked(make_product, 10)

        response = await client.post(ADJUST, json=at(variant, location, **body), headers=admin)

        assert response.status_code == 400, response.text
        assert [d["field"] for d in response.json()["details"]] == [field]
        assert await states_of(db_session, variant["inventoryItemId"], location["id"]) == (
            EMPTY | {"available": 10}
        )

    async def test_available_by_name_and_delta_is_the_rest_adjustment(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)

        by_name = await client.post(
            ADJUST, json=at(variant, location, name="available", delta=-2), headers=admin
        )
        refused = await client.post(ADJUST, json=at(variant, location, delta=-9), headers=admin)

        assert by_name.json()["available"] == 8
        assert await variant_quantity(db_session, variant["id"]) == 8
        assert refused.status_code == 409
        assert refused.json()["details"][0]["field"] == "delta"


class TestMove:
    async def test_available_to_damaged_and_quality_control_back_keep_on_hand(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        item = variant["inventoryItemId"]

        damaged = await client.post(
            MOVE,
            json=at(variant, location, quantity=3, reason="damaged", note="crushed box")
            | {"from": "available", "to": "damaged"},
            headers=admin,
        )
        checked = await client.post(
            MOVE,
            json=at(variant, location, quantity=2, reason="quality_control")
            | {"from": "available", "to": "quality_control"},
            headers=admin,
        )
        passed = await client.post(
            MOVE,
            json=at(variant, location, quantity=2, reason="quality_control")
            | {"from": "quality_control", "to": "available"},
            headers=admin,
        )

        assert damaged.status_code == checked.status_code == passed.status_code == 200
        body = passed.json()
        assert (body["available"], body["damaged"], body["qualityControl"], body["onHand"]) == (
            7,
            3,
            0,
            10,
        )
        assert await states_of(db_session, item, location["id"]) == EMPTY | {
            "available": 7,
            "damaged": 3,
        }
        assert await variant_quantity(db_session, variant["id"]) == 7
        assert (await log_rows(db_session, item))[1:] == [
            ("available", -3, "damaged"),
            ("damaged", 3, "damaged"),
            ("available", -2, "quality_control"),
            ("quality_control", 2, "quality_control"),
            ("available", 2, "quality_control"),
            ("quality_control", -2, "quality_control"),
        ]
        first_move = await db_session.scalar(
            select(Event.body)
            .where(
                Event.topic == "inventory_levels/update",
                Event.body["reason"].as_string() == "damaged",
            )
            .order_by(Event.id)
            .limit(1)
        )
        assert first_move is not None
        assert (
            first_move["available"],
            first_move["damaged"],
            first_move["onHand"],
            first_move["availableDelta"],
            first_move["damagedDelta"],
        ) == (7, 3, 10, -3, 3)

    async def test_incoming_is_received_into_available(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 1)
        await client.post(
            ADJUST,
            json=at(variant, location, name="incoming", delta=50, reason="movement_created"),
            headers=admin,
        )

        received = await client.post(
            MOVE,
            json=at(variant, location, quantity=50, reason="movement_received")
            | {"from": "incoming", "to": "available"},
            headers=admin,
        )

        assert received.status_code == 200, received.text
        body = received.json()
        assert (body["available"], body["incoming"], body["onHand"]) == (51, 0, 51)
        assert await variant_quantity(db_session, variant["id"]) == 51

    async def test_more_than_the_source_holds_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        # Even a `continue` variant: only units that exist can be moved.
        variant = await stocked(make_product, 2, policy="continue")
        item = variant["inventoryItemId"]
        log_before = await log_rows(db_session, item)
        events_before = await event_count(db_session)

        from_available = await client.post(
            MOVE,
            json=at(variant, location, quantity=3) | {"from": "available", "to": "damaged"},
            headers=admin,
        )
        from_damaged = await client.post(
            MOVE,
            json=at(variant, location, quantity=1) | {"from": "damaged", "to": "available"},
            headers=admin,
        )

        for response in (from_available, from_damaged):
            assert response.status_code == 409, response.text
            assert response.json()["code"] == "INSUFFICIENT_INVENTORY"
            assert response.json()["details"] == [
                {"field": "quantity", "message": "would make the quantity negative"}
            ]
        assert await states_of(db_session, item, location["id"]) == EMPTY | {"available": 2}
        assert await variant_quantity(db_session, variant["id"]) == 2
        assert await log_rows(db_session, item) == log_before
        assert await event_count(db_session) == events_before

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"from": "available", "to": "incoming"}, "to"),  # incoming arrives by adjustment
            ({"from": "available", "to": "committed"}, "to"),  # orders commit units
            ({"from": "committed", "to": "available"}, "from"),
            ({"from": "on_hand", "to": "damaged"}, "from"),
            ({"from": "bogus", "to": "damaged"}, "from"),
            ({"to": "damaged"}, "from"),
            ({"from": "available", "to": "damaged", "quantity": 0}, "quantity"),
            ({"from": "available", "to": "damaged", "reason": "broken"}, "reason"),
        ],
    )
    async def test_a_bad_move_is_400_naming_the_field(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
        body: dict[str, Any],
        field: str,
    ) -> None:
        variant = await stocked(make_product, 5)

        response = await client.post(
            MOVE, json=at(variant, location, quantity=1) | body, headers=admin
        )

        assert response.status_code == 400, response.text
        assert [d["field"] for d in response.json()["details"]] == [field]
        assert await states_of(db_session, variant["inventoryItemId"], location["id"]) == (
            EMPTY | {"available": 5}
        )

    async def test_moving_to_the_same_state_is_400(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        variant = await stocked(make_product, 5)

        response = await client.post(
            MOVE,
            json=at(variant, location, quantity=1) | {"from": "damaged", "to": "damaged"},
            headers=admin,
        )

        assert response.status_code == 400
        assert response.json()["details"] == [{"field": "to", "message": "must differ from `from`"}]

    async def test_move_needs_inventory_write(
        self,
        client: httpx.AsyncClient,
        token_for: Any,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        variant = await stocked(make_product, 5)

        response = await client.post(
            MOVE,
            json=at(variant, location, quantity=1) | {"from": "available", "to": "damaged"},
            headers=token_for("inventory:read"),
        )

        assert response.status_code == 403


class TestMoveIdempotency:
    async def test_a_retried_move_with_one_key_moves_once(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        body = at(variant, location, quantity=4, reason="safety_stock") | {
            "from": "available",
            "to": "safety_stock",
        }
        headers = {**admin, "Idempotency-Key": "move-1"}

        first = await client.post(MOVE, json=body, headers=headers)
        again = await client.post(MOVE, json=body, headers=headers)

        assert first.status_code == again.status_code == 200, again.text
        assert again.content == first.content
        assert await states_of(db_session, variant["inventoryItemId"], location["id"]) == (
            EMPTY | {"available": 6, "safety_stock": 4}
        )
