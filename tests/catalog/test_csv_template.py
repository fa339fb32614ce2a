"""A file shaped like Shopify's product_template.csv, as a merchant's first import.

Opened and saved in a spreadsheet, its barcodes read `3.65275E+11` on every row: those are
left out with a warning, and the products are imported.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.imports.csv_format import parse_products
from shopdb.models import ProductVariant
from tests.catalog.test_csv import post_csv
from tests.fixtures.catalog import Headers, ProductFactory

# The template's header, unknown columns included (they are ignored).
TEMPLATE_COLUMNS = [
    "Handle",
    "Title",
    "Body (HTML)",
    "Vendor",
    "Product Category",
    "Type",
    "Tags",
    "Published",
    "Option1 Name",
    "Option1 Value",
    "Option2 Name",
    "Option2 Value",
    "Option3 Name",
    "Option3 Value",
    "Variant SKU",
    "Variant Grams",
    "Variant Inventory Tracker",
    "Variant Inventory Qty",
    "Variant Inventory Policy",
    "Variant Fulfillment Service",
    "Variant Price",
    "Variant Compare At Price",
    "Variant Requires Shipping",
    "Variant Taxable",
    "Variant Barcode",
    "Image Src",
    "Image Position",
    "Image Alt Text",
    "Gift Card",
    "SEO Title",
    "SEO Description",
    "Google Shopping / Google Product Category",
    "Google Shopping / Gender",
    "Google Shopping / Age Group",
    "Google Shopping / MPN",
    "Google Shopping / AdWords Grouping",
    "Google Shopping / AdWords Labels",
    "Google Shopping / Condition",
    "Google Shopping / Custom Product",
    "Variant Image",
    "Variant Weight Unit",
    "Variant Tax Code",
    "Cost per item",
    "Price / International",
    "Compare At Price / International",
    "Status",
]
MANGLED = "3.65275E+11"
COMMON = {
    "Variant Inventory Tracker": "shopify",
    "Variant Inventory Policy": "deny",
    "Variant Fulfillment Service": "manual",
    "Variant Requires Shipping": "TRUE",
    "Variant Taxable": "TRUE",
    "Variant Barcode": MANGLED,
    "Variant Weight Unit": "kg",
}
TEMPLATE = [
    {
        **COMMON,
        "Handle": "example-t-shirt",
        "Title": "Example T-Shirt",
        "Body (HTML)": "<p>A soft cotton tee.</p>",
        "Vendor": "Acme",
        "Product Category": "Apparel & Accessories > Clothing",
        "Type": "Shirts",
        "Tags": "mens t-shirt example",
        "Published": "TRUE",
        "Option1 Name": "Title",
        "Option1 Value": 'Lithograph - Height: 9" x Width: 12"',
        "Variant Grams": "3629",
        "Variant Inventory Qty": "10",
        "Variant Price": "25.00",
        "Image Src": "https://cdn.example.com/t-shirt.jpg",
        "Image Position": "1",
        "Gift Card": "FALSE",
        "Google Shopping / Condition": "new",
        "Status": "active",
    },
    {
        **COMMON,
        "Handle": "example-t-shirt",
        "Option1 Value": "Small",
        "Variant Grams": "100",
        "Variant Inventory Qty": "5",
        "Variant Price": "19.99",
        "Variant Compare At Price": "24.99",
    },
    {
        **COMMON,
        "Handle": "example-t-shirt",
        "Option1 Value": "Medium",
        "Variant Grams": "100",
        "Variant Inventory Qty": "5",
        "Variant Price": "19.99",
        "Variant Compare At Price": "24.99",
    },
    {
        **COMMON,
        "Handle": "example-pants",
        "Title": "Example Pants",
        "Vendor": "Acme",
        "Type": "Pants",
        "Tags": "mens pants example",
        "Published": "TRUE",
        "Option1 Name": "Size",
        "Option1 Value": "32",
        "Option2 Name": "Color",
        "Option2 Value": "Blue",
        "Variant Grams": "500",
        "Variant Inventory Qty": "3",
        "Variant Price": "49.99",
        "Gift Card": "FALSE",
        "Status": "active",
    },
]


def template_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=TEMPLATE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


def barcode_warning(line: int, handle: str) -> dict[str, Any]:
    return {
        "line": line,
        "handle": handle,
        "message": f"Variant Barcode: '{MANGLED}' looks like a number a spreadsheet rewrote in "
        "scientific notation (digits are lost); not imported: a new variant has no barcode, an "
        "existing one keeps its stored barcode (format the column as text to import it)",
    }


class TestShopifyTemplate:
    def test_every_mangled_barcode_is_a_warning_not_an_error(self) -> None:
        tee, pants = parse_products(template_text(TEMPLATE))
        assert (tee.errors, pants.errors) == ([], [])
        assert [w.line for w in tee.warnings] == [2, 3, 4]
        assert [w.line for w in pants.warnings] == [5]
        assert [v.barcode for v in tee.variants] == [None, None, None]

    async def test_the_template_imports_with_a_warning_per_line(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        response = await post_csv(client, admin, template_text(TEMPLATE))

        assert response.status_code == 200, response.text
        job = response.json()
        assert (job["created"], job["updated"], job["unchanged"], job["failed"]) == (2, 0, 0, 0)
        assert job["errors"] == []
        assert job["warnings"] == [
            barcode_warning(2, "example-t-shirt"),
            barcode_warning(3, "example-t-shirt"),
            barcode_warning(4, "example-t-shirt"),
            barcode_warning(5, "example-pants"),
        ]
        polled = await client.get(f"/api/v1/products/import/{job['id']}", headers=admin)
        assert polled.json()["warnings"] == job["warnings"]
        listed = await client.get("/api/v1/products", params={"sortBy": "title"}, headers=admin)
        pants, tee = listed.json()["items"]
        assert [v["option1"] for v in tee["variants"]] == [
            'Lithograph - Height: 9" x Width: 12"',
            "Small",
            "Medium",
        ]
        assert [v["barcode"] for v in tee["variants"]] == [None, None, None]
        assert [v["inventoryQuantity"] for v in tee["variants"]] == [10, 5, 5]
        assert tee["variants"][0]["weight"] == "3.629"  # 3629 g, not rounded to 3.63 kg
        assert [(v["option1"], v["option2"]) for v in pants["variants"]] == [("32", "Blue")]

    async def test_an_update_keeps_the_stored_barcode(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        product = await make_product(
            "Pants",
            handle="example-pants",
            options=[{"name": "Size", "values": ["32"]}, {"name": "Color", "values": ["Blue"]}],
            variants=[
                {"price": "45.00", "option1": "32", "option2": "Blue", "barcode": "365275123456"}
            ],
        )
        pants_row = dict(TEMPLATE[3], **{"Variant Price": "49.99"})

        response = await post_csv(client, admin, template_text([pants_row]))

        job = response.json()
        assert (job["updated"], job["failed"]) == (1, 0)
        assert job["warnings"] == [barcode_warning(2, "example-pants")]
        variant = await db_session.scalar(
            select(ProductVariant)
            .where(ProductVariant.id == product["variants"][0]["id"])
            .execution_options(populate_existing=True)
        )
        assert variant is not None
        assert (str(variant.price), variant.barcode) == ("49.99", "365275123456")

    async def test_a_mangled_sku_is_still_an_error(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        row = dict(TEMPLATE[3], **{"Variant SKU": "4.00123E+12"})

        response = await post_csv(client, admin, template_text([row]))

        job = response.json()
        assert (job["created"], job["failed"]) == (0, 1)
        assert [(e["line"], e["message"].split(":")[0]) for e in job["errors"]] == [
            (2, "Variant SKU")
        ]
        listed = await client.get("/api/v1/products", headers=admin)
        assert listed.json()["items"] == []
