from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.catalog.imports.csv_format import COLUMNS, parse_products
from shopdb.models import Job, Product, ProductVariant
from shopdb.services import services_of
from tests.fixtures.catalog import Headers, ProductFactory
from tests.jobs.helpers import run_jobs


def csv_text(*rows: dict[str, str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


SHIRT = [
    {
        "Handle": "linen-shirt",
        "Title": "Linen Shirt",
        "Body (HTML)": "<p>Cool</p>",
        "Vendor": "Northwind",
        "Type": "Shirt",
        "Tags": "linen, summer",
        "Published": "TRUE",
        "Option1 Name": "Size",
        "Option1 Value": "S",
        "Option2 Name": "Color",
        "Option2 Value": "White",
        "Variant SKU": "LS-S-W",
        "Variant Grams": "250",
        "Variant Inventory Tracker": "shopify",
        "Variant Inventory Qty": "4",
        "Variant Inventory Policy": "deny",
        "Variant Price": "49.00",
        "Variant Compare At Price": "59.00",
        "Variant Requires Shipping": "TRUE",
        "Variant Taxable": "TRUE",
        "Variant Barcode": "0123456789012",
        "Image Src": "https://cdn.example.com/shirt-front.jpg",
        "Image Position": "1",
        "Variant Weight Unit": "kg",
        "Status": "active",
    },
    {
        "Handle": "linen-shirt",
        "Option1 Value": "M",
        "Option2 Value": "White",
        "Variant SKU": "LS-M-W",
        "Variant Grams": "270",
        "Variant Inventory Qty": "6",
        "Variant Price": "49.00",
        "Variant Weight Unit": "kg",
        "Image Src": "https://cdn.example.com/shirt-back.jpg",
        "Image Position": "2",
    },
    {"Handle": "linen-shirt", "Image Src": "https://cdn.example.com/shirt-detail.jpg"},
]
MUG = [
    {
        "Handle": "mug",
        "Title": "Mug",
        "Option1 Name": "Title",
        "Option1 Value": "Default Title",
        "Variant Price": "12.50",
        "Variant Inventory Qty": "10",
    }
]
BROKEN = [
    {
        "Handle": "broken",
        "Title": "Broken",
        "Option1 Name": "Size",
        "Option1 Value": "S",
        "Variant Price": "cheap",
    },
    {
        "Handle": "broken",
        "Option1 Value": "M",
        "Variant Price": "1",
        "Variant Barcode": "3.65275E+11",
    },
]


class TestParsing:
    def test_continuation_rows_and_line_numbers(self) -> None:
        products = parse_products(csv_text(*SHIRT, *MUG, *BROKEN))
        shirt, mug, broken = products
        assert (shirt.handle, shirt.first_line) == ("linen-shirt", 2)
        assert [v.line for v in shirt.variants] == [2, 3]
        assert [i.line for i in shirt.images] == [2, 3, 4]
        assert shirt.option_names == ["Size", "Color"]
        assert mug.first_line == 5
        assert [(e.line, e.message.split(":")[0]) for e in broken.errors] == [(6, "Variant Price")]
        # A mangled barcode is left out with a warning; the row itself is fine.
        assert [(w.line, w.message.split(":")[0]) for w in broken.warnings] == [
            (7, "Variant Barcode")
        ]
        assert "'3.65275E+11'" in broken.warnings[0].message
        assert "scientific notation" in broken.warnings[0].message
        assert broken.variants[1].barcode is None
        assert broken.variants[1].barcode_unreadable

    def test_quoted_multiline_cells_keep_line_numbers_right(self) -> None:
        first = dict(MUG[0], **{"Body (HTML)": "line one\nline two\nline three"})
        second = dict(MUG[0], Handle="other", **{"Variant Price": "-1"})
        products = parse_products(csv_text(first, second))
        assert products[1].first_line == 5
        assert products[1].errors[0].line == 5

    def test_a_file_without_handle_column_is_refused(self) -> None:
        from shopdb.catalog.imports.csv_format import CsvFormatError

        with pytest.raises(CsvFormatError):
            parse_products("Title,Price\nHat,1\n")


async def post_csv(
    client: httpx.AsyncClient, headers: Headers, text: str, **params: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/products/import",
        files={"file": ("products.csv", text.encode(), "text/csv")},
        params=params,
        headers=headers,
    )


class TestImport:
    async def test_good_products_import_and_bad_lines_are_reported(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        response = await post_csv(client, admin, csv_text(*SHIRT, *MUG, *BROKEN))

        assert response.status_code == 200, response.text
        job = response.json()
        assert job["status"] == "completed"
        assert (job["total"], job["created"], job["updated"], job["failed"]) == (3, 2, 0, 1)
        assert [(e["line"], e["handle"]) for e in job["errors"]] == [(6, "broken")]
        assert [(w["line"], w["handle"]) for w in job["warnings"]] == [(7, "broken")]
        listed = await client.get("/api/v1/products", params={"sortBy": "title"}, headers=admin)
        shirt, mug = listed.json()["items"]
        assert [v["title"] for v in shirt["variants"]] == ["S / White", "M / White"]
        assert [v["inventoryQuantity"] for v in shirt["variants"]] == [4, 6]
        assert shirt["variants"][0]["weight"] == "0.25"
        assert shirt["variants"][0]["barcode"] == "0123456789012"
        assert shirt["variants"][0]["compareAtPrice"] == "59.00"
        assert [i["src"].rsplit("/", 1)[1] for i in shirt["images"]] == [
            "shirt-front.jpg",
            "shirt-back.jpg",
            "shirt-detail.jpg",
        ]
        assert shirt["tags"] == "linen, summer"
        assert mug["options"][0]["values"] == ["Default Title"]
        assert mug["variants"][0]["inventoryQuantity"] == 10
        assert await db_session.scalar(select(Job.status)) == "completed"

    async def test_reimport_updates_instead_of_duplicating(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        db_session: AsyncSession,
    ) -> None:
        first = await post_csv(client, admin, csv_text(*SHIRT, *MUG))
        assert first.json()["created"] == 2
        before = await client.get("/api/v1/products", params={"sortBy": "title"}, headers=admin)
        changed = [
            dict(SHIRT[0], **{"Variant Price": "45.00", "Variant Inventory Qty": "1"}),
            *SHIRT[1:],
            *MUG,
        ]

        again = await post_csv(client, admin, csv_text(*changed))

        # The shirt's price and stock changed; the mug's rows are as stored.
        assert (again.json()["created"], again.json()["updated"], again.json()["unchanged"]) == (
            0,
            1,
            1,
        )
        after = await client.get("/api/v1/products", params={"sortBy": "title"}, headers=admin)
        shirt_before, shirt_after = before.json()["items"][0], after.json()["items"][0]
        assert [v["id"] for v in shirt_after["variants"]] == [
            v["id"] for v in shirt_before["variants"]
        ]
        assert shirt_after["variants"][0]["price"] == "45.00"
        assert shirt_after["variants"][0]["inventoryQuantity"] == 1
        assert len(shirt_after["images"]) == 3
        assert await db_session.scalar(select(func.count()).select_from(Product)) == 2
        assert await db_session.scalar(select(func.count()).select_from(ProductVariant)) == 3

    async def test_large_files_run_as_a_background_job(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        services_of(app).settings.import_inline_max_products = 1
        try:
            response = await post_csv(client, admin, csv_text(*SHIRT, *MUG, *BROKEN))
        finally:
            services_of(app).settings.import_inline_max_products = 200
        assert response.status_code == 202
        assert response.json()["status"] == "queued"
        waiting = await client.get(response.headers["Location"], headers=admin)
        assert (waiting.json()["status"], waiting.json()["processed"]) == ("queued", 0)

        assert await run_jobs(app) == 2  # the import, then the deletion of its upload

        polled = await client.get(response.headers["Location"], headers=admin)
        assert polled.json()["status"] == "completed"
        assert (polled.json()["processed"], polled.json()["created"], polled.json()["failed"]) == (
            3,
            2,
            1,
        )

    async def test_not_csv_is_400(self, client: httpx.AsyncClient, admin: Headers) -> None:
        response = await post_csv(client, admin, "just some text\nwithout columns")
        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "file"
        binary = await client.post(
            "/api/v1/products/import",
            files={"file": ("x.csv", b"\xff\xfe\x00bad", "text/csv")},
            headers=admin,
        )
        assert binary.status_code == 400


class TestRoundTrip:
    async def test_export_then_import_gives_the_same_catalog(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        await make_product(
            "Boots",
            tags="leather, winter",
            options=[
                {"name": "Size", "values": ["40", "41"]},
                {"name": "Color", "values": ["Brown"]},
            ],
            variants=[
                {
                    "price": "120.00",
                    "option1": "40",
                    "option2": "Brown",
                    "sku": "B-40",
                    "weight": "1.25",
                    "inventoryQuantity": 3,
                },
                {
                    "price": "120.00",
                    "option1": "41",
                    "option2": "Brown",
                    "sku": "B-41",
                    "weight": "1.50",
                    "weightUnit": "oz",
                    "compareAtPrice": "150.00",
                    "barcode": "4006381333931",
                },
            ],
        )
        await make_product(
            "Scarf",
            status="draft",
            options=[],
            variants=[
                {
                    "price": "19.90",
                    "weight": "0.25",
                    "weightUnit": "lb",
                    "inventoryPolicy": "continue",
                    "taxable": False,
                }
            ],
        )
        exported = await client.get("/api/v1/products/export.csv", headers=admin)
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("text/csv")
        original = exported.text

        # As a new catalog: the same rows under new handles (and SKUs, which are unique).
        copied = (
            original.replace("boots,", "boots-copy,")
            .replace("scarf,", "scarf-copy,")
            .replace(",B-4", ",C-4")
        )
        imported = await post_csv(client, admin, copied)
        assert (imported.json()["created"], imported.json()["failed"]) == (2, 0), imported.json()
        # And onto itself: nothing changes.
        same = await post_csv(client, admin, original)
        assert (same.json()["updated"], same.json()["unchanged"], same.json()["failed"]) == (
            0,
            2,
            0,
        )

        again = (await client.get("/api/v1/products/export.csv", headers=admin)).text
        rows = list(csv.DictReader(io.StringIO(again)))
        by_handle: dict[str, list[dict[str, str]]] = {}
        for row in rows:
            by_handle.setdefault(row["Handle"], []).append(row)
        for handle in ("boots", "scarf"):
            copy = [
                dict(r, Handle=handle, **{"Variant SKU": r["Variant SKU"].replace("C-", "B-")})
                for r in by_handle[f"{handle}-copy"]
            ]
            assert copy == by_handle[handle]
        assert [r for r in rows if not r["Handle"].endswith("-copy")] == list(
            csv.DictReader(io.StringIO(original))
        )
        assert by_handle["boots"][1]["Variant Barcode"] == "4006381333931"
        assert by_handle["scarf"][0]["Status"] == "draft"
