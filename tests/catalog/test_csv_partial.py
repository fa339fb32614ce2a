"""A file with only some columns changes only those: existing values are used for the rest."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from tests.catalog.test_csv import SHIRT, csv_text, post_csv
from tests.fixtures.catalog import Headers, ProductFactory


def partial_csv(columns: list[str], *rows: dict[str, str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buffer.getvalue()


async def product_by_handle(client: httpx.AsyncClient, headers: Headers, handle: str) -> Any:
    listed = await client.get("/api/v1/products", params={"pageSize": 50}, headers=headers)
    assert listed.status_code == 200, listed.text
    (found,) = [p for p in listed.json()["items"] if p["handle"] == handle]
    return found


def without(product: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in product.items() if k not in {*names, "updatedAt"}}


class TestMissingColumnsKeepStoredValues:
    async def test_handle_title_and_price_change_only_title_and_prices(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
    ) -> None:
        # Given a product imported from a full file, and a draft made through the API.
        assert (await post_csv(client, admin, csv_text(*SHIRT))).json()["created"] == 1
        draft = await make_product(
            "Wool Hat",
            handle="wool-hat",
            status="draft",
            vendor="Acme",
            bodyHtml="<p>Warm</p>",
            productType="Hat",
            tags="wool, winter",
            options=[{"name": "Size", "values": ["S", "L"]}],
            variants=[
                {"price": "20.00", "option1": "S", "sku": "WH-S", "weight": "0.155"},
                {"price": "22.00", "option1": "L", "sku": "WH-L", "inventoryQuantity": 7},
            ],
        )
        shirt_before = await product_by_handle(client, admin, "linen-shirt")
        hat_before = await product_by_handle(client, admin, "wool-hat")
        text = partial_csv(
            ["Handle", "Title", "Variant Price"],
            {"Handle": "linen-shirt", "Title": "Linen Shirt II", "Variant Price": "45.00"},
            {"Handle": "linen-shirt", "Variant Price": "46.00"},
            {"Handle": "wool-hat", "Title": "Wool Hat", "Variant Price": "21.00"},
        )

        response = await post_csv(client, admin, text)

        job = response.json()
        assert (job["updated"], job["failed"], job["errors"]) == (2, 0, [])
        shirt = await product_by_handle(client, admin, "linen-shirt")
        assert shirt["title"] == "Linen Shirt II"
        assert [v["price"] for v in shirt["variants"]] == ["45.00", "46.00"]
        assert without(shirt, "title", "variants") == without(shirt_before, "title", "variants")
        for before, after in zip(shirt_before["variants"], shirt["variants"], strict=True):
            assert without(after, "price") == without(before, "price")
        hat = await product_by_handle(client, admin, "wool-hat")
        assert hat["status"] == "draft"
        assert (hat["vendor"], hat["bodyHtml"], hat["productType"], hat["tags"]) == (
            "Acme",
            "<p>Warm</p>",
            "Hat",
            "wool, winter",
        )
        # The one row is the first variant; the second is kept as it was.
        assert [v["price"] for v in hat["variants"]] == ["21.00", "22.00"]
        assert without(hat, "variants") == without(hat_before, "variants")
        assert [without(v, "price") for v in hat["variants"]] == [
            without(v, "price") for v in hat_before["variants"]
        ]
        assert hat["variants"][1]["inventoryQuantity"] == 7
        assert hat["variants"][0]["weight"] == "0.155"
        assert draft["id"] == hat["id"]

    async def test_a_blank_status_keeps_a_draft_a_draft(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        first = dict(SHIRT[0], Status="draft")
        assert (await post_csv(client, admin, csv_text(first, *SHIRT[1:]))).json()["created"] == 1
        blank = dict(SHIRT[0], Status="", Vendor="Southwind")

        response = await post_csv(client, admin, csv_text(blank, *SHIRT[1:]))

        assert response.json()["updated"] == 1
        shirt = await product_by_handle(client, admin, "linen-shirt")
        assert (shirt["status"], shirt["vendor"]) == ("draft", "Southwind")

    async def test_an_empty_cell_in_a_present_column_clears_the_value(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        assert (await post_csv(client, admin, csv_text(*SHIRT))).json()["created"] == 1
        text = partial_csv(
            ["Handle", "Vendor", "Variant SKU", "Variant Price"],
            {"Handle": "linen-shirt", "Vendor": "", "Variant SKU": "", "Variant Price": "47.00"},
        )

        response = await post_csv(client, admin, text)

        assert response.json()["updated"] == 1
        shirt = await product_by_handle(client, admin, "linen-shirt")
        # Without a Title column the handle's first row is its product row: the empty Vendor
        # clears the vendor; the row is also the first variant, whose SKU it clears.
        assert shirt["vendor"] is None
        assert [v["sku"] for v in shirt["variants"]] == [None, "LS-M-W"]
        assert [v["price"] for v in shirt["variants"]] == ["47.00", "49.00"]

    async def test_more_rows_than_variants_without_option_columns_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        assert (await post_csv(client, admin, csv_text(*SHIRT))).json()["created"] == 1
        before = await product_by_handle(client, admin, "linen-shirt")
        text = partial_csv(
            ["Handle", "Variant Price"],
            *({"Handle": "linen-shirt", "Variant Price": price} for price in ("1", "2", "3")),
        )

        response = await post_csv(client, admin, text)

        job = response.json()
        assert (job["updated"], job["failed"]) == (0, 1)
        assert [(e["line"], e["message"]) for e in job["errors"]] == [
            (4, "Option1 Value: needed for a variant the product does not have")
        ]
        assert await product_by_handle(client, admin, "linen-shirt") == before

    async def test_a_handle_and_status_file_archives_and_cannot_create(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        assert (await post_csv(client, admin, csv_text(*SHIRT))).json()["created"] == 1
        before = await product_by_handle(client, admin, "linen-shirt")
        text = partial_csv(
            ["Handle", "Status"],
            {"Handle": "linen-shirt", "Status": "archived"},
            {"Handle": "no-such-product", "Status": "archived"},
        )

        response = await post_csv(client, admin, text)

        job = response.json()
        assert (job["updated"], job["created"], job["failed"]) == (1, 0, 1)
        assert [(e["line"], e["handle"], e["message"]) for e in job["errors"]] == [
            (3, "no-such-product", "Title: required for a new product")
        ]
        shirt = await product_by_handle(client, admin, "linen-shirt")
        assert shirt["status"] == "archived"
        assert without(shirt, "status") == without(before, "status")
        listed = await client.get("/api/v1/products", headers=admin)
        assert [p["handle"] for p in listed.json()["items"]] == ["linen-shirt"]
