"""A variant whose stock is committed to orders cannot be removed, on any path that removes it.

There is no order API yet: committed units are set with a direct UPDATE of inventory_levels.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, InventoryAdjustment, InventoryLevel, ProductVariant
from tests.catalog.test_csv import post_csv
from tests.fixtures.catalog import Headers, ProductFactory


async def commit_units(session: AsyncSession, inventory_item_id: int, units: int) -> None:
    await session.execute(
        update(InventoryLevel)
        .where(InventoryLevel.inventory_item_id == inventory_item_id)
        .values(committed=units)
    )


async def snapshot(
    client: httpx.AsyncClient, headers: Headers, session: AsyncSession, product_id: int
) -> tuple[Any, ...]:
    """Everything a refused removal must leave as it was."""
    detail = await client.get(f"/api/v1/products/{product_id}", headers=headers)
    levels = await session.execute(
        select(
            InventoryLevel.inventory_item_id,
            InventoryLevel.location_id,
            InventoryLevel.available,
            InventoryLevel.committed,
        ).order_by(InventoryLevel.id)
    )
    counts = [
        await session.scalar(select(func.count()).select_from(table))
        for table in (ProductVariant, InventoryAdjustment, Event)
    ]
    return detail.headers["ETag"], detail.json(), [tuple(row) for row in levels], counts


class TestRemovingAVariantWithCommittedStock:
    async def test_delete_variant_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        variant = product["variants"][1]
        await commit_units(db_session, variant["inventoryItemId"], 3)
        before = await snapshot(client, admin, db_session, product["id"])

        response = await client.delete(f"/api/v1/variants/{variant['id']}", headers=admin)

        assert response.status_code == 409
        assert response.json()["code"] == "VARIANT_HAS_COMMITTED_STOCK"
        assert response.json()["details"] == [
            {"field": "id", "message": f"variant {variant['id']} holds 3 committed unit(s)"}
        ]
        assert await snapshot(client, admin, db_session, product["id"]) == before

    async def test_a_put_leaving_it_out_is_409_and_changes_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        dropped = product["variants"][1]
        await commit_units(db_session, dropped["inventoryItemId"], 2)
        before = await snapshot(client, admin, db_session, product["id"])
        kept = [product["variants"][0], product["variants"][2]]

        response = await client.put(
            f"/api/v1/products/{product['id']}",
            json={
                "title": "Renamed",
                "variants": [
                    {"id": v["id"], "option1": v["option1"], "option2": v["option2"]} for v in kept
                ],
            },
            headers=admin,
        )

        assert response.status_code == 409
        assert response.json()["code"] == "VARIANT_HAS_COMMITTED_STOCK"
        # Named by its index in the product as read: the request does not contain it.
        assert response.json()["details"] == [
            {
                "field": "variants[1]",
                "message": f"variant {dropped['id']} holds 2 committed unit(s)",
            }
        ]
        assert await snapshot(client, admin, db_session, product["id"]) == before

    async def test_a_csv_reimport_leaving_it_out_fails_that_product_only(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product(
            "Tee",
            options=[{"name": "Size", "values": ["S", "M"]}],
            variants=[
                {"price": "10.00", "option1": "S", "sku": "TEE-S"},
                {"price": "10.00", "option1": "M", "sku": "TEE-M"},
            ],
        )
        other = await make_product("Cap", options=[], variants=[{"price": "8.00"}])
        await commit_units(db_session, product["variants"][1]["inventoryItemId"], 4)
        before = await snapshot(client, admin, db_session, product["id"])
        text = (
            "Handle,Title,Option1 Name,Option1 Value,Variant SKU,Variant Price\n"
            "tee,Tee,Size,S,TEE-S,11.00\n"
            "cap,Cap Renamed,Title,Default Title,,8.00\n"
        )

        response = await post_csv(client, admin, text)

        job = response.json()
        assert (job["updated"], job["failed"]) == (1, 1)
        assert job["errors"] == [
            {
                "line": 2,
                "handle": "tee",
                "message": f"variant {product['variants'][1]['id']} (SKU 'TEE-M') holds 4 "
                "committed unit(s) and is not in the file; it stays",
            }
        ]
        after = await snapshot(client, admin, db_session, product["id"])
        assert after[:3] == before[:3]
        cap = await client.get(f"/api/v1/products/{other['id']}", headers=admin)
        assert cap.json()["title"] == "Cap Renamed"

    async def test_without_committed_units_the_variant_goes(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product()
        variant = product["variants"][1]
        await commit_units(db_session, product["variants"][0]["inventoryItemId"], 5)

        response = await client.delete(f"/api/v1/variants/{variant['id']}", headers=admin)

        assert response.status_code == 204
        remaining = await db_session.scalar(
            select(func.count())
            .select_from(InventoryLevel)
            .where(InventoryLevel.inventory_item_id == variant["inventoryItemId"])
        )
        assert remaining == 0
