"""/api/v1/shipping-zones: CRUD, validation naming fields, one zone per country."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, ShippingRate, ShippingZone
from tests.auth.helpers import bearer, make_user
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.kit.api_pages import walk_pages
from tests.shipping.conftest import ZONES, create_rate, create_zone


async def zone_count(db_session: AsyncSession) -> int:
    return int(await db_session.scalar(select(func.count(ShippingZone.id))) or 0)


def fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["details"]]


class TestCreateAndRead:
    async def test_creates_a_zone_with_countries_provinces_and_rest_of_world(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        response = await client.post(
            ZONES,
            json={
                "name": "North America",
                "countries": [{"code": "ca", "provinces": ["qc", "ON"]}, {"code": "US"}],
            },
            headers=headers,
        )

        assert response.status_code == 201, response.text
        zone = response.json()
        assert zone["name"] == "North America"
        assert zone["countries"] == [
            {"code": "CA", "provinces": ["QC", "ON"]},
            {"code": "US", "provinces": []},
        ]
        assert zone["rates"] == []
        stored = await db_session.get(ShippingZone, zone["id"])
        assert stored is not None
        assert stored.countries == ["CA-QC", "CA-ON", "US"]  # the seed's array of codes
        events = await db_session.scalar(
            select(func.count(Event.id)).where(
                Event.topic == "shipping_zones/create", Event.subject_id == zone["id"]
            )
        )
        assert events == 1

    async def test_reads_one_and_lists_by_name_with_rates(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        world = await create_zone(client, headers, "World", [{"code": "*"}])
        europe = await create_zone(client, headers, "Europe", [{"code": "DE"}, {"code": "FR"}])
        rate = await create_rate(client, headers, europe["id"], currency="EUR")

        one = await client.get(f"{ZONES}/{europe['id']}", headers=headers)
        listed = await client.get(
            ZONES, params={"pageSize": 1, "page": 2, "withTotal": "true"}, headers=headers
        )

        assert one.status_code == 200
        assert one.json()["rates"] == [rate]
        assert listed.status_code == 200
        page = listed.json()
        assert (page["totalCount"], page["page"], page["pageSize"]) == (2, 2, 1)
        assert [z["id"] for z in page["items"]] == [world["id"]]  # Europe, then World
        assert page["nextCursor"] is None

    async def test_unknown_zone_is_404(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.get(f"{ZONES}/999999", headers=headers)
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


class TestUpdateAndDelete:
    async def test_renames_and_replaces_countries(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "Home", [{"code": "US"}])

        response = await client.put(
            f"{ZONES}/{zone['id']}",
            json={"name": "Home and Canada", "countries": [{"code": "US"}, {"code": "CA"}]},
            headers=headers,
        )

        assert response.status_code == 200, response.text
        assert response.json()["name"] == "Home and Canada"
        assert response.json()["countries"] == [
            {"code": "US", "provinces": []},
            {"code": "CA", "provinces": []},
        ]

    async def test_a_name_alone_keeps_the_countries(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "Home", [{"code": "US"}])

        response = await client.put(f"{ZONES}/{zone['id']}", json={"name": "US"}, headers=headers)

        assert response.status_code == 200
        assert response.json()["countries"] == [{"code": "US", "provinces": []}]

    async def test_null_name_or_countries_is_400_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "Home", [{"code": "US"}])

        for body in ({"name": None}, {"countries": None}):
            response = await client.put(f"{ZONES}/{zone['id']}", json=body, headers=headers)
            assert response.status_code == 400
            assert fields(response) == list(body)
        after = await client.get(f"{ZONES}/{zone['id']}", headers=headers)
        assert after.json() == zone

    async def test_delete_removes_the_zone_and_its_rates(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        zone = await create_zone(client, headers, "Gone", [{"code": "NZ"}])
        await create_rate(client, headers, zone["id"], currency="NZD")

        response = await client.delete(f"{ZONES}/{zone['id']}", headers=headers)

        assert response.status_code == 204
        assert (await client.get(f"{ZONES}/{zone['id']}", headers=headers)).status_code == 404
        rates = await db_session.scalar(
            select(func.count(ShippingRate.id)).where(ShippingRate.shipping_zone_id == zone["id"])
        )
        assert rates == 0


class TestValidation:
    async def test_each_bad_code_is_named_and_nothing_is_created(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        before = await zone_count(db_session)

        response = await client.post(
            ZONES,
            json={
                "name": "Bad",
                "countries": [
                    {"code": "UK"},
                    {"code": "*", "provinces": ["QC"]},
                    {"code": "CA", "provinces": ["Q.C"]},
                    {"code": "ca"},
                ],
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert fields(response) == [
            "countries[0].code",
            "countries[1].provinces",
            "countries[2].provinces[0]",
            "countries[3].code",
        ]
        assert await zone_count(db_session) == before

    async def test_missing_name_and_empty_countries_are_400(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(ZONES, json={"countries": []}, headers=headers)

        assert response.status_code == 400
        assert sorted(fields(response)) == ["countries", "name"]

    async def test_unknown_fields_are_refused(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(
            ZONES,
            json={"name": "X", "countries": [{"code": "US"}], "colour": "red"},
            headers=headers,
        )
        assert response.status_code == 400
        assert fields(response) == ["colour"]


class TestOneZonePerCode:
    async def test_a_country_already_in_another_zone_is_409_naming_it(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        first = await create_zone(client, headers, "US", [{"code": "US"}])
        before = await zone_count(db_session)

        response = await client.post(
            ZONES,
            json={"name": "Again", "countries": [{"code": "MX"}, {"code": "US"}]},
            headers=headers,
        )

        assert response.status_code == 409
        body: dict[str, Any] = response.json()
        assert body["code"] == "SHIPPING_ZONE_OVERLAP"
        assert body["details"] == [
            {
                "field": "countries[1].code",
                "message": f"US is already in shipping zone {first['id']}",
            }
        ]
        assert await zone_count(db_session) == before

    async def test_the_rest_of_world_belongs_to_one_zone(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_zone(client, headers, "World", [{"code": "*"}])

        response = await client.post(
            ZONES, json={"name": "World 2", "countries": [{"code": "*"}]}, headers=headers
        )

        assert response.status_code == 409

    async def test_a_province_zone_may_sit_beside_its_country_zone(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_zone(client, headers, "Canada", [{"code": "CA"}])
        await create_zone(client, headers, "Quebec", [{"code": "CA", "provinces": ["QC"]}])

        again = await client.post(
            ZONES,
            json={"name": "Quebec 2", "countries": [{"code": "CA", "provinces": ["ON", "QC"]}]},
            headers=headers,
        )

        assert again.status_code == 409
        assert fields(again) == ["countries[0].provinces[1]"]

    async def test_a_zone_keeps_its_own_codes_on_update(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        other = await create_zone(client, headers, "CA", [{"code": "CA"}])

        same = await client.put(
            f"{ZONES}/{zone['id']}",
            json={"countries": [{"code": "US"}, {"code": "PR"}]},
            headers=headers,
        )
        taken = await client.put(
            f"{ZONES}/{zone['id']}", json={"countries": [{"code": "CA"}]}, headers=headers
        )

        assert same.status_code == 200
        assert taken.status_code == 409
        assert (
            taken.json()["details"][0]["message"] == f"CA is already in shipping zone {other['id']}"
        )
        still = await client.get(f"{ZONES}/{zone['id']}", headers=headers)
        assert [c["code"] for c in still.json()["countries"]] == ["US", "PR"]


class TestPermissions:
    async def test_reading_needs_shipping_read_and_writing_shipping_write(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        reader = await make_user(db_session, permissions=["shipping:read"])
        writer = await make_user(db_session, permissions=["shipping:write"])
        body = {"name": "Z", "countries": [{"code": "US"}]}

        assert (await client.get(ZONES, headers=bearer(app, reader))).status_code == 200
        assert (await client.post(ZONES, json=body, headers=bearer(app, reader))).status_code == 403
        assert (await client.get(ZONES, headers=bearer(app, writer))).status_code == 403
        assert (await client.post(ZONES, json=body, headers=bearer(app, writer))).status_code == 201


class TestListQueries:
    async def test_a_page_of_zones_costs_the_same_statements_for_2_or_12_zones(
        self, client: httpx.AsyncClient, headers: dict[str, str], backend: Backend
    ) -> None:
        codes = "AD AE AF AG AI AL AM AO AQ AR AS AT".split()
        for position, code in enumerate(codes):
            zone = await create_zone(client, headers, f"Zone {position:02d}", [{"code": code}])
            await create_rate(client, headers, zone["id"])

        with statements_sent(backend.engine) as small:
            response = await client.get(ZONES, params={"pageSize": 2}, headers=headers)
            assert len(response.json()["items"]) == 2
        with statements_sent(backend.engine) as large:
            response = await client.get(ZONES, params={"pageSize": 12}, headers=headers)
            assert [len(z["rates"]) for z in response.json()["items"]] == [1] * 12

        assert len(large) == len(small)
        # The page of zones and their rates in one IN query; no COUNT unasked.
        shipping = [s for s in large if "shipping_" in s]
        assert [s.split(None, 1)[0].upper() for s in shipping] == ["SELECT"] * 2
        assert not [s for s in large if "count(" in s.lower()]


class TestListPages:
    async def test_the_total_is_null_unless_asked_and_counts_every_zone(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        for name, code in (("A", "AD"), ("B", "AE"), ("C", "AF")):
            await create_zone(client, headers, name, [{"code": code}])

        plain = await client.get(ZONES, params={"pageSize": 2}, headers=headers)
        counted = await client.get(
            ZONES, params={"pageSize": 2, "withTotal": "true"}, headers=headers
        )

        assert plain.status_code == 200
        assert plain.json()["totalCount"] is None
        assert counted.json()["totalCount"] == 3
        assert [z["name"] for z in counted.json()["items"]] == ["A", "B"]

    async def test_a_cursor_walk_visits_every_zone_once_by_name_then_id(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        # Names repeat, so ties on the name are broken by the id, across page boundaries.
        names = ["Beta", "Alpha", "Beta", "Gamma", "Beta", "Alpha", "Beta"]
        codes = "AD AE AF AG AI AL AM".split()
        made = [
            (name, (await create_zone(client, headers, name, [{"code": code}]))["id"])
            for name, code in zip(names, codes, strict=True)
        ]

        walked = await walk_pages(client, ZONES, headers, page_size=2)

        assert [(z["name"], z["id"]) for z in walked] == sorted(made)

    async def test_an_offset_page_past_10000_rows_is_400_pointing_to_the_cursor(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_zone(client, headers, "Only", [{"code": "US"}])

        deepest = await client.get(ZONES, params={"page": 200, "pageSize": 50}, headers=headers)
        too_deep = await client.get(ZONES, params={"page": 201, "pageSize": 50}, headers=headers)

        assert deepest.status_code == 200
        assert deepest.json()["items"] == []
        assert too_deep.status_code == 400
        assert too_deep.json()["code"] == "VALIDATION_ERROR"
        assert fields(too_deep) == ["page"]
        assert "cursor" in too_deep.json()["details"][0]["message"]

    async def test_a_cursor_of_another_list_or_a_forged_one_is_400(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        for name in ("One", "Two"):
            await create_rate(client, headers, zone["id"], name=name)
        rates = await client.get(
            f"{ZONES}/{zone['id']}/rates", params={"pageSize": 1}, headers=headers
        )
        by_id = rates.json()["nextCursor"]
        assert by_id is not None

        mixed = await client.get(ZONES, params={"cursor": by_id}, headers=headers)
        forged = await client.get(ZONES, params={"cursor": "not-a-cursor"}, headers=headers)

        assert (mixed.status_code, fields(mixed)) == (400, ["cursor"])
        assert (forged.status_code, fields(forged)) == (400, ["cursor"])
