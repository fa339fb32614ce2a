"""An oversold `continue` variant (negative `available`, as Shopify shows it) survives an export
and import; a negative quantity for a `deny` variant fails its product, never its stock."""

from __future__ import annotations

from typing import Any

import httpx

from tests.catalog.test_csv import post_csv
from tests.catalog.test_csv_round_trip import column, export
from tests.fixtures.catalog import Headers, ProductFactory


async def oversell(
    client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory, policy: str
) -> dict[str, Any]:
    product = await make_product(
        f"Preorder {policy}",
        options=[],
        variants=[{"price": "10.00", "inventoryPolicy": policy, "inventoryQuantity": 2}],
    )
    return product


async def level_of(client: httpx.AsyncClient, admin: Headers, item_id: int) -> int:
    response = await client.get(
        "/api/v1/inventory-levels", params={"inventoryItemIds": str(item_id)}, headers=admin
    )
    [level] = response.json()["items"]
    available: int = level["available"]
    return available


ERROR = "Variant Inventory Qty: would make the quantity negative"


class TestOversoldStock:
    async def test_a_continue_variant_exports_and_imports_its_negative_stock(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        product = await oversell(client, admin, make_product, "continue")
        item_id = product["variants"][0]["inventoryItemId"]
        adjusted = await client.post(
            "/api/v1/inventory-levels/adjust",
            json={
                "inventoryItemId": item_id,
                "locationId": location["id"],
                "availableAdjustment": -5,
            },
            headers=admin,
        )
        assert adjusted.status_code == 200, adjusted.text
        exported = await export(client, admin)
        assert column(exported, "Variant Inventory Qty") == ["-3"]

        unchanged = (await post_csv(client, admin, exported)).json()
        restocked = (await post_csv(client, admin, exported.replace(",-3,", ",-1,"))).json()

        assert (unchanged["unchanged"], unchanged["errors"]) == (1, [])
        assert (restocked["updated"], restocked["errors"]) == (1, [])
        assert await level_of(client, admin, item_id) == -1

    async def test_a_deny_variant_refuses_a_negative_quantity_and_keeps_its_stock(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        product = await oversell(client, admin, make_product, "deny")
        item_id = product["variants"][0]["inventoryItemId"]
        exported = await export(client, admin)
        assert column(exported, "Variant Inventory Qty") == ["2"]

        job = (await post_csv(client, admin, exported.replace(",2,", ",-1,", 1))).json()

        assert job["failed"] == 1
        assert [e["message"] for e in job["errors"]] == [ERROR], job["errors"]
        assert await level_of(client, admin, item_id) == 2
