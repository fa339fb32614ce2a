"""Adjustment reasons are Shopify's: any other is a 400 naming `reason`, and the log can hold
no other (a CHECK); shopdb's older reasons, still passed by code, are stored as Shopify's."""

from __future__ import annotations

from typing import Any, get_args

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.errors import ValidationFailed
from shopdb.inventory import service
from shopdb.inventory.schemas import AdjustableState, MoveTarget, Reason
from shopdb.models import InventoryAdjustment
from shopdb.models.inventory import ADJUSTMENT_REASONS
from tests.fixtures.catalog import Headers, ProductFactory
from tests.inventory.helpers import states_of, stocked

LEVELS = "/api/v1/inventory-levels"

# Shopify's list, as its docs give it (InventoryAdjustQuantitiesInput / the possible reasons).
SHOPIFY_REASONS = {
    "correction",
    "cycle_count_available",
    "damaged",
    "movement_created",
    "movement_updated",
    "movement_received",
    "movement_canceled",
    "other",
    "promotion",
    "quality_control",
    "received",
    "reservation_created",
    "reservation_deleted",
    "reservation_updated",
    "restock",
    "safety_stock",
    "shrinkage",
}


async def reasons_logged(
    session: AsyncSession, item_id: int
) -> list[tuple[str | None, str | None]]:
    rows = await session.execute(
        select(InventoryAdjustment.reason, InventoryAdjustment.note)
        .where(InventoryAdjustment.inventory_item_id == item_id)
        .order_by(InventoryAdjustment.id)
    )
    return [(r.reason, r.note) for r in rows]


def test_the_lists_are_shopifys_and_agree() -> None:
    assert set(ADJUSTMENT_REASONS) == SHOPIFY_REASONS
    assert get_args(Reason) == ADJUSTMENT_REASONS
    assert get_args(AdjustableState) == service.ADJUSTABLE_STATES
    assert get_args(MoveTarget) == service.MOVE_TARGETS


class TestOverHttp:
    @pytest.mark.parametrize(
        ("path", "body"),
        [
            ("adjust", {"availableAdjustment": -1}),
            ("adjust", {"name": "damaged", "delta": 1}),
            ("set", {"available": 3}),
            ("move", {"quantity": 1, "from": "available", "to": "damaged"}),
        ],
    )
    @pytest.mark.parametrize("reason", ["count", "Damaged", "", "import"])
    async def test_an_unknown_reason_is_400_naming_reason_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
        path: str,
        body: dict[str, Any],
        reason: str,
    ) -> None:
        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]

        response = await client.post(
            f"{LEVELS}/{path}",
            json={"inventoryItemId": item, "locationId": location["id"], "reason": reason} | body,
            headers=admin,
        )

        assert response.status_code == 400, response.text
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert [d["field"] for d in response.json()["details"]] == ["reason"]
        assert (await states_of(db_session, item, location["id"]))["available"] == 5
        assert await reasons_logged(db_session, item) == [("received", "initial stock")]

    async def test_every_shopify_reason_is_accepted_and_stored(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 0)
        item = variant["inventoryItemId"]

        for reason in ADJUSTMENT_REASONS:
            response = await client.post(
                f"{LEVELS}/adjust",
                json={
                    "inventoryItemId": item,
                    "locationId": location["id"],
                    "availableAdjustment": 1,
                    "reason": reason,
                },
                headers=admin,
            )
            assert response.status_code == 200, (reason, response.text)

        assert [r for r, _ in await reasons_logged(db_session, item)] == list(ADJUSTMENT_REASONS)

    async def test_no_reason_is_correction(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 0)
        item = variant["inventoryItemId"]

        response = await client.post(
            f"{LEVELS}/set",
            json={"inventoryItemId": item, "locationId": location["id"], "available": 4},
            headers=admin,
        )

        assert response.status_code == 200
        assert (await reasons_logged(db_session, item))[-1] == ("correction", None)


class TestInService:
    async def test_the_csv_imports_old_reason_is_stored_as_correction_with_a_note(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        # catalog/imports passes reason="import" to set_available.
        variant = await stocked(make_product, 2)
        item = variant["inventoryItemId"]

        await service.set_available(
            db_session,
            inventory_item_id=item,
            location_id=location["id"],
            available=9,
            reason="import",
        )

        assert (await reasons_logged(db_session, item))[-1] == ("correction", "product CSV import")

    async def test_an_unknown_reason_from_code_is_a_validation_error(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        variant = await stocked(make_product, 2)
        item = variant["inventoryItemId"]

        with pytest.raises(ValidationFailed) as refused:
            await service.change_levels(
                db_session,
                [service.LevelChange(item, location["id"], available=-1, reason="theft")],
            )

        assert refused.value.details[0]["field"] == "reason"
        assert (await states_of(db_session, item, location["id"]))["available"] == 2

    async def test_disconnecting_logs_each_state_it_removes(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 4)
        item = variant["inventoryItemId"]
        await service.move_quantity(
            db_session,
            inventory_item_id=item,
            location_id=location["id"],
            quantity=1,
            from_name="available",
            to_name="damaged",
        )

        await service.disconnect(db_session, inventory_item_id=item, location_id=location["id"])

        rows = await db_session.execute(
            select(
                InventoryAdjustment.quantity_name,
                InventoryAdjustment.quantity_adjustment,
                InventoryAdjustment.reason,
                InventoryAdjustment.note,
            )
            .where(InventoryAdjustment.inventory_item_id == item)
            .order_by(InventoryAdjustment.id)
        )
        assert [tuple(r) for r in rows][-2:] == [
            ("available", -3, "correction", "disconnected from the location"),
            ("damaged", -1, "correction", "disconnected from the location"),
        ]


class TestInTheDatabase:
    async def test_the_log_refuses_a_reason_or_state_outside_shopifys(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        variant = await stocked(make_product, 1)
        row = {
            "inventory_item_id": variant["inventoryItemId"],
            "location_id": location["id"],
            "quantity_adjustment": 1,
        }
        table = InventoryAdjustment

        for bad in ({"reason": "import"}, {"quantity_name": "on_hand"}):
            with pytest.raises(IntegrityError):
                async with db_session.begin_nested():
                    await db_session.execute(sa.insert(table).values(**row, **bad))
        async with db_session.begin_nested():  # the boundary: a Shopify reason, and none
            await db_session.execute(sa.insert(table).values(**row, reason="shrinkage"))
            await db_session.execute(sa.insert(table).values(**row, reason=None))
