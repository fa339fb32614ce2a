"""/api/v1/tax-rates: CRUD, one rate per country and per province, validation naming fields."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, TaxRate
from tests.auth.helpers import bearer, make_user
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.kit.api_pages import walk_pages
from tests.tax.conftest import TAX_RATES, create_tax_rate


def fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["details"]]


async def rate_count(db_session: AsyncSession) -> int:
    return int(await db_session.scalar(select(func.count(TaxRate.id))) or 0)


class TestCrud:
    async def test_creates_a_country_rate_and_a_province_rate(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        gst = await client.post(
            TAX_RATES,
            json={"country": "ca", "name": "GST", "rate": "0.05", "shippingTaxable": True},
            headers=headers,
        )
        hst = await client.post(
            TAX_RATES,
            json={
                "country": "CA",
                "province": "on",
                "name": "HST",
                "rate": "0.13",
                "taxType": "harmonized",
            },
            headers=headers,
        )

        assert (gst.status_code, hst.status_code) == (201, 201), hst.text
        strip = ("id", "createdAt", "updatedAt")
        assert {k: v for k, v in gst.json().items() if k not in strip} == {
            "country": "CA",
            "province": None,
            "name": "GST",
            "rate": "0.05000",
            "shippingTaxable": True,
            "taxType": "normal",
        }
        assert {k: v for k, v in hst.json().items() if k not in strip} == {
            "country": "CA",
            "province": "ON",
            "name": "HST",
            "rate": "0.13000",
            "shippingTaxable": False,
            "taxType": "harmonized",
        }
        events = await db_session.scalar(
            select(func.count(Event.id)).where(Event.topic == "tax_rates/create")
        )
        assert events == 2

    async def test_lists_country_wide_first_and_filters_by_country(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        qc = await create_tax_rate(
            client, headers, country="CA", province="QC", name="QST", rate="0.09975"
        )
        ca = await create_tax_rate(client, headers, country="CA", name="GST", rate="0.05")
        de = await create_tax_rate(client, headers, country="DE", name="MwSt", rate="0.19")

        everything = await client.get(TAX_RATES, headers=headers)
        canada = await client.get(TAX_RATES, params={"country": "ca"}, headers=headers)

        assert [r["id"] for r in everything.json()["items"]] == [ca["id"], qc["id"], de["id"]]
        assert [r["id"] for r in canada.json()["items"]] == [ca["id"], qc["id"]]
        assert (everything.json()["totalCount"], canada.json()["totalCount"]) == (None, None)

    async def test_reads_updates_and_deletes(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        rate = await create_tax_rate(
            client, headers, country="US", province="NY", name="NY", rate="0.04"
        )
        url = f"{TAX_RATES}/{rate['id']}"

        one = await client.get(url, headers=headers)
        updated = await client.put(
            url, json={"rate": "0.08875", "shippingTaxable": True}, headers=headers
        )
        deleted = await client.delete(url, headers=headers)

        assert one.json() == rate
        assert updated.status_code == 200
        assert (updated.json()["rate"], updated.json()["shippingTaxable"]) == ("0.08875", True)
        assert updated.json()["name"] == "NY"
        assert deleted.status_code == 204
        assert (await client.get(url, headers=headers)).status_code == 404


class TestOnePerPlace:
    async def test_a_second_country_wide_rate_is_409(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        await create_tax_rate(client, headers, country="DE", name="MwSt", rate="0.19")
        before = await rate_count(db_session)

        response = await client.post(
            TAX_RATES, json={"country": "DE", "name": "Again", "rate": "0.07"}, headers=headers
        )

        assert response.status_code == 409
        assert response.json()["code"] == "TAX_RATE_EXISTS"
        assert fields(response) == ["country", "province"]
        assert await rate_count(db_session) == before

    async def test_a_second_rate_for_a_province_is_409_but_other_provinces_are_free(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_tax_rate(client, headers, country="CA", province="BC", name="PST", rate="0.07")

        again = await client.post(
            TAX_RATES,
            json={"country": "CA", "province": "BC", "name": "PST", "rate": "0.07"},
            headers=headers,
        )
        other = await client.post(
            TAX_RATES,
            json={"country": "CA", "province": "MB", "name": "RST", "rate": "0.07"},
            headers=headers,
        )

        assert (again.status_code, other.status_code) == (409, 201)

    async def test_moving_a_rate_onto_a_taken_place_is_409_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_tax_rate(client, headers, country="CA", name="GST", rate="0.05")
        pst = await create_tax_rate(
            client, headers, country="CA", province="SK", name="PST", rate="0.06"
        )

        response = await client.put(
            f"{TAX_RATES}/{pst['id']}", json={"province": None}, headers=headers
        )

        assert response.status_code == 409
        assert response.json()["code"] == "TAX_RATE_EXISTS"
        assert (await client.get(f"{TAX_RATES}/{pst['id']}", headers=headers)).json() == pst


class TestValidation:
    async def test_bad_values_are_400_naming_each_field(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        before = await rate_count(db_session)

        response = await client.post(
            TAX_RATES,
            json={
                "country": "XX",
                "province": "TOOLONG",
                "name": "",
                "rate": "1.5",
                "taxType": "stacked",
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert sorted(fields(response)) == ["country", "name", "province", "rate", "taxType"]
        assert await rate_count(db_session) == before

    async def test_a_rate_has_at_most_five_decimal_places(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(
            TAX_RATES, json={"country": "FR", "name": "TVA", "rate": "0.123456"}, headers=headers
        )
        assert response.status_code == 400
        assert fields(response) == ["rate"]

    async def test_a_country_wide_rate_cannot_be_harmonized_or_compounded(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        before = await rate_count(db_session)

        response = await client.post(
            TAX_RATES,
            json={"country": "CA", "name": "GST", "rate": "0.05", "taxType": "harmonized"},
            headers=headers,
        )

        assert response.status_code == 400
        assert fields(response) == ["taxType"]
        assert await rate_count(db_session) == before

    async def test_required_fields_cannot_be_nulled(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        rate = await create_tax_rate(client, headers, country="JP", name="JCT", rate="0.10")

        for field in ("rate", "name", "country"):
            response = await client.put(
                f"{TAX_RATES}/{rate['id']}", json={field: None}, headers=headers
            )
            assert response.status_code == 400
            assert fields(response) == [field]


class TestPermissions:
    async def test_reading_needs_settings_read_and_writing_settings_write(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        reader = await make_user(db_session, permissions=["settings:read"])
        shipper = await make_user(db_session, permissions=["shipping:read", "shipping:write"])
        body = {"country": "GB", "name": "VAT", "rate": "0.2"}

        assert (await client.get(TAX_RATES, headers=bearer(app, reader))).status_code == 200
        assert (
            await client.post(TAX_RATES, json=body, headers=bearer(app, reader))
        ).status_code == 403
        assert (await client.get(TAX_RATES, headers=bearer(app, shipper))).status_code == 403


class TestListQueries:
    async def test_a_page_costs_the_same_statements_for_2_or_12_rates(
        self, client: httpx.AsyncClient, headers: dict[str, str], backend: Backend
    ) -> None:
        for code in "AD AE AF AG AI AL AM AO AQ AR AS AT".split():
            await create_tax_rate(client, headers, country=code, name="VAT", rate="0.1")

        with statements_sent(backend.engine) as small:
            response = await client.get(TAX_RATES, params={"pageSize": 2}, headers=headers)
            assert len(response.json()["items"]) == 2
        with statements_sent(backend.engine) as large:
            response = await client.get(TAX_RATES, params={"pageSize": 12}, headers=headers)
            assert len(response.json()["items"]) == 12

        assert len(large) == len(small)
        assert not [s for s in large if "count(" in s.lower()]


class TestListPages:
    async def test_the_total_is_null_unless_asked_and_counts_the_filtered_rates(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_tax_rate(client, headers, country="CA", name="GST", rate="0.05")
        await create_tax_rate(
            client, headers, country="CA", province="QC", name="QST", rate="0.09975"
        )
        await create_tax_rate(client, headers, country="DE", name="MwSt", rate="0.19")

        plain = await client.get(TAX_RATES, params={"pageSize": 1}, headers=headers)
        everything = await client.get(
            TAX_RATES, params={"pageSize": 1, "withTotal": "true"}, headers=headers
        )
        canada = await client.get(
            TAX_RATES, params={"country": "CA", "withTotal": "true"}, headers=headers
        )

        assert plain.status_code == 200
        assert plain.json()["totalCount"] is None
        assert everything.json()["totalCount"] == 3
        assert canada.json()["totalCount"] == 2

    async def test_a_cursor_walk_visits_every_rate_once_country_wide_before_provinces(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        # Made out of order: provinces before their country-wide rate, countries mixed.
        places = [
            ("CA", "QC"),
            ("DE", None),
            ("CA", "ON"),
            ("US", "NY"),
            ("CA", None),
            ("AT", None),
            ("US", None),
            ("US", "CA"),
            ("CA", "BC"),
        ]
        made = {
            place: (
                await create_tax_rate(
                    client, headers, country=place[0], province=place[1], name="T", rate="0.05"
                )
            )["id"]
            for place in places
        }
        expected = [
            ("AT", None),
            ("CA", None),
            ("CA", "BC"),
            ("CA", "ON"),
            ("CA", "QC"),
            ("DE", None),
            ("US", None),
            ("US", "CA"),
            ("US", "NY"),
        ]

        walked = await walk_pages(client, TAX_RATES, headers, page_size=2)
        canada = await walk_pages(client, TAX_RATES, headers, {"country": "ca"}, page_size=1)

        assert [r["id"] for r in walked] == [made[place] for place in expected]
        assert [(r["country"], r["province"]) for r in canada] == [
            p for p in expected if p[0] == "CA"
        ]

    async def test_an_offset_page_past_10000_rows_is_400_and_a_forged_cursor_too(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        deepest = await client.get(TAX_RATES, params={"page": 40, "pageSize": 250}, headers=headers)
        too_deep = await client.get(
            TAX_RATES, params={"page": 41, "pageSize": 250}, headers=headers
        )
        forged = await client.get(TAX_RATES, params={"cursor": "nonsense"}, headers=headers)

        assert deepest.status_code == 200
        assert (too_deep.status_code, too_deep.json()["code"]) == (400, "VALIDATION_ERROR")
        assert fields(too_deep) == ["page"]
        assert (forged.status_code, fields(forged)) == (400, ["cursor"])
