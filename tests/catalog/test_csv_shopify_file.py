"""A Shopify product export with every column comes back out byte for byte.

The file has several variants with gram weights in every unit, stock at one of two locations,
SEO, gift card, category, variant images, untracked inventory and Google Shopping values. It is
imported, exported (the same bytes), imported again (nothing changes) and exported again; a
partial file over it then changes only its own columns.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.imports.csv_format import COLUMNS
from tests.catalog.test_csv import post_csv
from tests.catalog.test_csv_partial import partial_csv, product_by_handle
from tests.catalog.test_csv_round_trip import (
    add_location,
    export,
    last_event_id,
    set_stock,
    stock,
    topics_after,
    versions,
)
from tests.fixtures.catalog import Headers

CDN = "https://cdn.shopify.com/s/files/1/0001/products"


def row(**cells: str) -> dict[str, str]:
    return {column: cells.get(column, "") for column in COLUMNS}


def product_head(**cells: str) -> dict[str, str]:
    defaults = {
        "Body (HTML)": "",
        "Vendor": "",
        "Product Category": "",
        "Type": "",
        "Tags": "",
        "Published": "TRUE",
        "Gift Card": "FALSE",
        "SEO Title": "",
        "SEO Description": "",
        "Status": "active",
    }
    return {**defaults, **cells}


def variant(**cells: str) -> dict[str, str]:
    defaults = {
        "Variant Inventory Tracker": "shopify",
        "Variant Inventory Policy": "deny",
        "Variant Fulfillment Service": "manual",
        "Variant Requires Shipping": "TRUE",
        "Variant Taxable": "TRUE",
    }
    return {**defaults, **cells}


def snowboard() -> list[dict[str, str]]:
    head = product_head(
        Handle="hydrogen-snowboard",
        Title="The Hydrogen Snowboard",
        **{
            "Body (HTML)": "<p>Light, <em>fast</em>, and stiff.</p>",
            "Vendor": "Snowdevil",
            "Product Category": "Sporting Goods > Outdoor Recreation > Winter Sports > Snowboards",
            "Type": "Snowboard",
            "Tags": "premium, winter",
            "SEO Title": "Hydrogen Snowboard | Snowdevil",
            "SEO Description": "A light, fast board for the park.",
            "Google Shopping / Google Product Category": "1157",
            "Google Shopping / Gender": "unisex",
            "Google Shopping / Age Group": "adult",
            "Google Shopping / MPN": "HYD-2026",
            "Google Shopping / Condition": "new",
            "Google Shopping / Custom Product": "FALSE",
            "Option1 Name": "Size",
            "Option2 Name": "Color",
        },
    )
    cells = [
        ("150", "Red", "HYD-150-R", "155", "kg", "12", "shopify", "front.jpg"),
        ("150", "Blue", "HYD-150-B", "5", "lb", "3", "shopify", "blue.jpg"),
        ("155", "Red", "HYD-155-R", "0.5", "oz", "0", "", ""),
        ("155", "Blue", "HYD-155-B", "12345", "g", "7", "shopify", "side.jpg"),
    ]
    images = [("front.jpg", "Front"), ("blue.jpg", ""), ("side.jpg", "Side"), ("tail.jpg", "")]
    rows = []
    for index, (size, color, sku, grams, unit, qty, tracker, image) in enumerate(cells):
        cell = variant(
            **{
                "Option1 Value": size,
                "Option2 Value": color,
                "Variant SKU": sku,
                "Variant Grams": grams,
                "Variant Inventory Tracker": tracker,
                "Variant Inventory Qty": qty,
                "Variant Price": "749.95" if size == "150" else "799.95",
                "Variant Compare At Price": "899.95" if index == 0 else "",
                "Variant Barcode": f"400638133393{index}",
                "Variant Image": f"{CDN}/{image}" if image else "",
                "Variant Weight Unit": unit,
                "Cost per item": "420.00" if index < 2 else "",
                "Image Src": f"{CDN}/{images[index][0]}",
                "Image Position": str(index + 1),
                "Image Alt Text": images[index][1],
            }
        )
        rows.append(row(**{"Handle": "hydrogen-snowboard", **(head if index == 0 else {}), **cell}))
    return rows


def gift_card() -> list[dict[str, str]]:
    return [
        row(
            **product_head(
                Handle="gift-card",
                Title="Gift Card",
                **{"Gift Card": "TRUE", "Published": "FALSE", "Status": "draft"},
            ),
            **{"Option1 Name": "Denominations", "Google Shopping / Condition": "new"},
            **variant(
                **{
                    "Option1 Value": "$25",
                    "Variant Price": "25.00",
                    "Variant Requires Shipping": "FALSE",
                    "Variant Taxable": "FALSE",
                    "Variant Inventory Tracker": "",
                    "Variant Inventory Qty": "0",
                    "Variant Grams": "0",
                    "Variant Weight Unit": "g",
                }
            ),
        ),
        row(
            Handle="gift-card",
            **variant(
                **{
                    "Option1 Value": "$50",
                    "Variant Price": "50.00",
                    "Variant Requires Shipping": "FALSE",
                    "Variant Taxable": "FALSE",
                    "Variant Inventory Tracker": "",
                    "Variant Inventory Qty": "0",
                    "Variant Grams": "0",
                    "Variant Weight Unit": "g",
                }
            ),
        ),
    ]


def wax() -> list[dict[str, str]]:
    return [
        row(
            **product_head(Handle="board-wax", Title="Board Wax", Status="unlisted"),
            **{"Option1 Name": "Title"},
            **variant(
                **{
                    "Option1 Value": "Default Title",
                    "Variant SKU": "WAX",
                    "Variant Price": "9.95",
                    "Variant Inventory Qty": "40",
                    "Variant Inventory Policy": "continue",
                    "Variant Grams": "85",
                    "Variant Weight Unit": "oz",
                }
            ),
        )
    ]


def as_csv(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def tracked(client: httpx.AsyncClient, headers: Headers, item_id: int) -> bool:
    response = await client.get(f"/api/v1/inventory-items/{item_id}", headers=headers)
    assert response.status_code == 200, response.text
    value: bool = response.json()["tracked"]
    return value


class TestShopifyExportRoundTrip:
    async def test_export_import_export_gives_the_same_bytes(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        # Given a Shopify export, imported at the first of two locations.
        second = await add_location(client, admin, "Backroom")
        shopify_file = as_csv([*snowboard(), *gift_card(), *wax()])
        first = await post_csv(client, admin, shopify_file)
        assert first.status_code == 200, first.text
        job = first.json()
        assert (job["created"], job["failed"], job["errors"], job["warnings"]) == (3, 0, [], [])
        board = await product_by_handle(client, admin, "hydrogen-snowboard")
        await set_stock(client, admin, board["variants"][0]["inventoryItemId"], second, 9)

        # Then the export is the file, byte for byte.
        exported = await export(client, admin)
        assert exported == shopify_file

        # And importing it again changes nothing, not even stock at the other location.
        versions_before = await versions(db_session)
        stock_before = await stock(db_session)
        events_before = await last_event_id(db_session)
        again = await post_csv(client, admin, exported)
        assert (again.json()["unchanged"], again.json()["failed"]) == (3, 0)
        assert await versions(db_session) == versions_before
        assert await stock(db_session) == stock_before
        assert await topics_after(db_session, events_before) == ["products/import"]
        assert await export(client, admin) == shopify_file

    async def test_the_columns_are_stored_where_the_api_shows_them(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        assert (await post_csv(client, admin, as_csv(snowboard()))).json()["created"] == 1

        board = await product_by_handle(client, admin, "hydrogen-snowboard")

        assert [v["weight"] for v in board["variants"]] == [
            "0.155",
            "0.011023",
            "0.017637",
            "12345.00",
        ]
        items = [v["inventoryItemId"] for v in board["variants"]]
        assert [await tracked(client, admin, i) for i in items] == [True, True, False, True]
        by_variant = {
            i["variantId"]: i["src"].rsplit("/", 1)[1] for i in board["images"] if i["variantId"]
        }
        assert [by_variant.get(v["id"]) for v in board["variants"]] == [
            "front.jpg",
            "blue.jpg",
            None,
            "side.jpg",
        ]
        listed = await client.get(
            "/api/v1/metafields",
            params={"ownerResource": "products", "ownerId": board["id"]},
            headers=admin,
        )
        assert listed.status_code == 200, listed.text
        assert {(m["namespace"], m["key"], m["value"]) for m in listed.json()["items"]} == {
            ("mm-google-shopping", "google_product_category", "1157"),
            ("mm-google-shopping", "gender", "unisex"),
            ("mm-google-shopping", "age_group", "adult"),
            ("mm-google-shopping", "mpn", "HYD-2026"),
            ("mm-google-shopping", "condition", "new"),
            ("mm-google-shopping", "custom_product", "FALSE"),
        }

    async def test_a_partial_file_over_it_changes_only_its_columns(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        shopify_file = as_csv([*snowboard(), *gift_card(), *wax()])
        assert (await post_csv(client, admin, shopify_file)).json()["created"] == 3
        text = partial_csv(
            ["Handle", "Title", "SEO Title", "Google Shopping / Gender", "Variant Price"],
            {
                "Handle": "hydrogen-snowboard",
                "Title": "The Hydrogen Snowboard",
                "SEO Title": "Hydrogen | Snowdevil",
                "Google Shopping / Gender": "",
                "Variant Price": "700.00",
            },
            {"Handle": "hydrogen-snowboard", "Variant Price": "710.00"},
            {"Handle": "gift-card", "Title": "Gift Card", "SEO Title": "", "Variant Price": ""},
        )

        response = await post_csv(client, admin, text)

        job = response.json()
        assert (job["updated"], job["unchanged"], job["failed"]) == (1, 1, 0)
        expected = read(shopify_file)
        expected[0].update(
            {
                "SEO Title": "Hydrogen | Snowdevil",
                "Google Shopping / Gender": "",
                "Variant Price": "700.00",
            }
        )
        expected[1]["Variant Price"] = "710.00"
        assert read(await export(client, admin)) == expected


class TestColumnsBeyondTheProductBody:
    async def test_a_change_of_seo_or_tracking_alone_updates_the_product(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        rows = snowboard()
        assert (await post_csv(client, admin, as_csv(rows))).json()["created"] == 1
        board = await product_by_handle(client, admin, "hydrogen-snowboard")
        etag = (await client.get(f"/api/v1/products/{board['id']}", headers=admin)).headers["ETag"]
        events_before = await last_event_id(db_session)
        rows[0]["SEO Description"] = "Now stiffer."
        rows[1]["Variant Inventory Tracker"] = ""

        response = await post_csv(client, admin, as_csv(rows))

        assert (response.json()["updated"], response.json()["failed"]) == (1, 0)
        after = await client.get(f"/api/v1/products/{board['id']}", headers=admin)
        assert after.headers["ETag"] != etag
        items = [v["inventoryItemId"] for v in board["variants"]]
        assert [await tracked(client, admin, i) for i in items] == [True, False, False, True]
        assert await topics_after(db_session, events_before) == [
            "products/update",
            "products/import",
        ]
        exported = read(await export(client, admin))
        assert exported[0]["SEO Description"] == "Now stiffer."
        assert [r["Variant Inventory Tracker"] for r in exported] == ["shopify", "", "", "shopify"]

    async def test_one_image_for_two_variants_links_both(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        rows = snowboard()
        rows[1]["Variant Image"] = rows[0]["Variant Image"]

        response = await post_csv(client, admin, as_csv(rows))

        job = response.json()
        assert (job["created"], job["failed"], job["warnings"]) == (1, 0, [])
        board = await product_by_handle(client, admin, "hydrogen-snowboard")
        variants = [v["id"] for v in board["variants"]]
        shared = next(i for i in board["images"] if i["src"] == rows[0]["Variant Image"])
        assert shared["variantIds"] == sorted([variants[0], variants[1]])
        assert shared["variantId"] == min(variants[0], variants[1])
        linked = {v: i["src"] for i in board["images"] for v in i["variantIds"]}
        assert set(linked) == {variants[0], variants[1], variants[3]}
        exported = read(await export(client, admin))
        assert [r["Variant Image"] for r in exported[:4]] == [
            rows[0]["Variant Image"],
            rows[0]["Variant Image"],
            "",
            rows[3]["Variant Image"],
        ]

    async def test_a_variant_image_the_product_lacks_is_added_and_linked(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        rows = snowboard()
        rows[2]["Variant Image"] = f"{CDN}/new.jpg"

        response = await post_csv(client, admin, as_csv(rows))

        assert response.json()["created"] == 1
        board = await product_by_handle(client, admin, "hydrogen-snowboard")
        added = [i for i in board["images"] if i["src"].endswith("/new.jpg")]
        assert [(i["position"], i["variantId"]) for i in added] == [(5, board["variants"][2]["id"])]
