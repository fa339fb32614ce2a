"""An import never changes a weight it was given: the grams come back out exactly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.catalog.test_csv import csv_text, post_csv
from tests.catalog.test_csv_round_trip import column, export
from tests.fixtures.catalog import Headers, ProductFactory

# grams -> the weight shown in each unit (six decimals at most, trailing zeros dropped).
GRAMS = {
    "155": {"g": "155.00", "kg": "0.155", "lb": "0.341717", "oz": "5.467464"},
    "5": {"g": "5.00", "kg": "0.005", "lb": "0.011023", "oz": "0.17637"},
    "0.5": {"g": "0.50", "kg": "0.0005", "lb": "0.001102", "oz": "0.017637"},
    "12345": {"g": "12345.00", "kg": "12.345", "lb": "27.216066", "oz": "435.45706"},
}
UNITS = ("g", "kg", "lb", "oz")


def weighed(grams: str, unit: str) -> dict[str, str]:
    return {
        "Handle": f"parcel-{unit}-{grams.replace('.', '-')}",
        "Title": f"Parcel {grams} {unit}",
        "Option1 Name": "Title",
        "Option1 Value": "Default Title",
        "Variant Price": "1.00",
        "Variant Grams": grams,
        "Variant Weight Unit": unit,
    }


class TestGramsAreKeptExactly:
    async def test_grams_in_every_unit_are_stored_unrounded_and_exported_unchanged(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        rows = [weighed(grams, unit) for grams in GRAMS for unit in UNITS]
        text = csv_text(*rows)

        response = await post_csv(client, admin, text)

        assert response.status_code == 200, response.text
        assert (response.json()["created"], response.json()["failed"]) == (16, 0)
        listed = await client.get(
            "/api/v1/products", params={"sortBy": "title", "pageSize": 50}, headers=admin
        )
        shown = {
            p["handle"]: (p["variants"][0]["weight"], p["variants"][0]["weightUnit"])
            for p in listed.json()["items"]
        }
        for grams, by_unit in GRAMS.items():
            for unit, weight in by_unit.items():
                assert shown[weighed(grams, unit)["Handle"]] == (weight, unit)
        exported = await export(client, admin)
        by_handle = dict(
            zip(column(exported, "Handle"), column(exported, "Variant Grams"), strict=True)
        )
        assert by_handle == {row["Handle"]: row["Variant Grams"] for row in rows}
        units = dict(
            zip(column(exported, "Handle"), column(exported, "Variant Weight Unit"), strict=True)
        )
        assert units == {row["Handle"]: row["Variant Weight Unit"] for row in rows}

        # Importing the export back changes nothing.
        again = await post_csv(client, admin, exported)
        assert (again.json()["unchanged"], again.json()["failed"]) == (16, 0)
        assert await export(client, admin) == exported

    async def test_grams_a_unit_cannot_hold_exactly_are_refused_not_rounded(
        self, client: httpx.AsyncClient, admin: Headers, location: dict[str, Any]
    ) -> None:
        response = await post_csv(client, admin, csv_text(weighed("0.0001", "kg")))

        job = response.json()
        assert (job["created"], job["failed"]) == (0, 1)
        assert job["errors"][0]["line"] == 2
        assert job["errors"][0]["message"].startswith("Variant Grams: '0.0001' cannot be kept")
        listed = await client.get("/api/v1/products", headers=admin)
        assert listed.json()["items"] == []

    @pytest.mark.parametrize(
        ("weight", "unit", "grams"),
        [("0.25", "kg", "250"), ("1.5", "oz", "42.52428"), ("0.000001", "lb", "0.0005")],
    )
    async def test_a_weight_set_through_the_api_survives_export_and_import(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        location: dict[str, Any],
        make_product: ProductFactory,
        weight: str,
        unit: str,
        grams: str,
    ) -> None:
        product = await make_product(
            "Crate", options=[], variants=[{"price": "3.00", "weight": weight, "weightUnit": unit}]
        )
        exported = await export(client, admin)
        assert column(exported, "Variant Grams") == [grams]

        again = await post_csv(client, admin, exported)

        assert again.json()["unchanged"] == 1
        stored = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert stored.json()["variants"][0]["weight"] == product["variants"][0]["weight"]
        assert await export(client, admin) == exported


class TestApiWeights:
    async def test_six_decimals_are_kept_and_a_seventh_is_refused(
        self, client: httpx.AsyncClient, admin: Headers, make_product: ProductFactory
    ) -> None:
        product = await make_product(
            "Feather", options=[], variants=[{"price": "1.00", "weight": "0.000155"}]
        )
        assert product["variants"][0]["weight"] == "0.000155"

        refused = await client.post(
            "/api/v1/products",
            json={"title": "Dust", "variants": [{"price": "1.00", "weight": "0.0000155"}]},
            headers=admin,
        )

        assert refused.status_code == 400, refused.text
        assert refused.json()["details"][0]["field"] == "variants[0].weight"
        stored = await client.get(f"/api/v1/products/{product['id']}", headers=admin)
        assert stored.json()["variants"][0]["weight"] == "0.000155"
        listed = await client.get("/api/v1/products", headers=admin)
        assert [p["title"] for p in listed.json()["items"]] == ["Feather"]
