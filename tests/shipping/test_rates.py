"""/api/v1/shipping-zones/{id}/rates: CRUD and validation naming fields. Weights are grams."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import ShippingRate
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.kit.api_pages import walk_pages
from tests.shipping.conftest import ZONES, create_rate, create_zone


def fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["details"]]


async def rate_count(db_session: AsyncSession) -> int:
    return int(await db_session.scalar(select(func.count(ShippingRate.id))) or 0)


class TestCrud:
    async def test_creates_a_weight_and_price_based_rate(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])

        response = await client.post(
            f"{ZONES}/{zone['id']}/rates",
            json={
                "name": "Heavy",
                "price": "12.5",
                "currency": "usd",
                "minWeight": "1000",
                "maxWeight": "5000.5",
                "minSubtotal": "0",
                "maxSubtotal": "100",
            },
            headers=headers,
        )

        assert response.status_code == 201, response.text
        rate = response.json()
        assert {k: v for k, v in rate.items() if k not in ("id", "createdAt", "updatedAt")} == {
            "shippingZoneId": zone["id"],
            "name": "Heavy",
            "price": "12.50",
            "currency": "USD",
            "minWeight": "1000.00",
            "maxWeight": "5000.50",
            "minSubtotal": "0.00",
            "maxSubtotal": "100.00",
        }
        stored = await db_session.get(ShippingRate, rate["id"])
        assert stored is not None
        assert (str(stored.min_weight), str(stored.max_weight)) == ("1000.00", "5000.50")

    async def test_lists_reads_updates_and_deletes(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        first = await create_rate(client, headers, zone["id"], name="Standard")
        second = await create_rate(client, headers, zone["id"], name="Express", price="20.00")
        base = f"{ZONES}/{zone['id']}/rates"

        listed = await client.get(base, headers=headers)
        one = await client.get(f"{base}/{second['id']}", headers=headers)
        updated = await client.put(
            f"{base}/{first['id']}", json={"price": "6.00", "maxWeight": "2000"}, headers=headers
        )
        deleted = await client.delete(f"{base}/{second['id']}", headers=headers)

        assert [r["id"] for r in listed.json()["items"]] == [first["id"], second["id"]]
        assert (listed.json()["totalCount"], listed.json()["nextCursor"]) == (None, None)
        assert one.json() == second
        assert updated.status_code == 200
        assert (updated.json()["price"], updated.json()["maxWeight"]) == ("6.00", "2000.00")
        assert updated.json()["name"] == "Standard"
        assert deleted.status_code == 204
        assert (await client.get(f"{base}/{second['id']}", headers=headers)).status_code == 404

    async def test_a_bound_sent_as_null_is_removed(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        rate = await create_rate(client, headers, zone["id"], maxWeight="1000")

        response = await client.put(
            f"{ZONES}/{zone['id']}/rates/{rate['id']}", json={"maxWeight": None}, headers=headers
        )

        assert response.status_code == 200
        assert response.json()["maxWeight"] is None

    async def test_a_rate_is_only_found_under_its_own_zone(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        home = await create_zone(client, headers, "US", [{"code": "US"}])
        away = await create_zone(client, headers, "CA", [{"code": "CA"}])
        rate = await create_rate(client, headers, home["id"])

        wrong = f"{ZONES}/{away['id']}/rates/{rate['id']}"
        assert (await client.get(wrong, headers=headers)).status_code == 404
        assert (await client.put(wrong, json={"name": "x"}, headers=headers)).status_code == 404
        assert (await client.delete(wrong, headers=headers)).status_code == 404
        assert (
            await client.get(f"{ZONES}/{home['id']}/rates/{rate['id']}", headers=headers)
        ).status_code == 200

    async def test_rates_of_an_unknown_zone_are_404(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        before = await rate_count(db_session)
        created = await client.post(
            f"{ZONES}/999999/rates",
            json={"name": "X", "price": "1.00", "currency": "USD"},
            headers=headers,
        )
        listed = await client.get(f"{ZONES}/999999/rates", headers=headers)

        assert (created.status_code, listed.status_code) == (404, 404)
        assert await rate_count(db_session) == before


class TestValidation:
    async def test_bad_values_are_400_naming_each_field_and_nothing_is_created(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        before = await rate_count(db_session)

        response = await client.post(
            f"{ZONES}/{zone['id']}/rates",
            json={
                "name": "",
                "price": "-1",
                "currency": "US",
                "minWeight": "-5",
                "maxWeight": "1000000",
                "minSubtotal": "1.001",
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert sorted(fields(response)) == [
            "currency",
            "maxWeight",
            "minSubtotal",
            "minWeight",
            "name",
            "price",
        ]
        assert await rate_count(db_session) == before

    async def test_a_maximum_not_above_its_minimum_is_400(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        before = await rate_count(db_session)

        response = await client.post(
            f"{ZONES}/{zone['id']}/rates",
            json={
                "name": "Odd",
                "price": "1.00",
                "currency": "USD",
                "minWeight": "500",
                "maxWeight": "500",
                "minSubtotal": "50",
                "maxSubtotal": "10",
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert fields(response) == ["maxWeight", "maxSubtotal"]
        assert await rate_count(db_session) == before

    async def test_an_update_that_inverts_a_range_is_400_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        rate = await create_rate(client, headers, zone["id"], minWeight="100", maxWeight="1000")
        url = f"{ZONES}/{zone['id']}/rates/{rate['id']}"

        inverted = await client.put(url, json={"minWeight": "2000"}, headers=headers)
        nulled = await client.put(url, json={"price": None}, headers=headers)

        assert inverted.status_code == 400
        assert fields(inverted) == ["maxWeight"]
        assert nulled.status_code == 400
        assert fields(nulled) == ["price"]
        assert (await client.get(url, headers=headers)).json() == rate


class TestListPages:
    async def test_the_total_is_null_unless_asked_and_counts_the_zones_rates_only(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        home = await create_zone(client, headers, "US", [{"code": "US"}])
        away = await create_zone(client, headers, "CA", [{"code": "CA"}])
        for name in ("A", "B", "C"):
            await create_rate(client, headers, home["id"], name=name)
        await create_rate(client, headers, away["id"], name="Elsewhere")
        url = f"{ZONES}/{home['id']}/rates"

        plain = await client.get(url, params={"pageSize": 2}, headers=headers)
        counted = await client.get(
            url, params={"pageSize": 2, "withTotal": "true"}, headers=headers
        )

        assert plain.status_code == 200
        assert plain.json()["totalCount"] is None
        assert plain.json()["nextCursor"] is not None
        assert counted.json()["totalCount"] == 3

    async def test_a_cursor_walk_visits_every_rate_of_the_zone_once_by_id(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        home = await create_zone(client, headers, "US", [{"code": "US"}])
        away = await create_zone(client, headers, "CA", [{"code": "CA"}])
        mine: list[int] = []
        for n in range(7):
            mine.append((await create_rate(client, headers, home["id"], name=f"R{n}"))["id"])
            await create_rate(client, headers, away["id"], name=f"Other {n}")

        walked = await walk_pages(client, f"{ZONES}/{home['id']}/rates", headers, page_size=2)

        assert [r["id"] for r in walked] == mine
        assert {r["shippingZoneId"] for r in walked} == {home["id"]}

    async def test_an_offset_page_past_10000_rows_is_400(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        url = f"{ZONES}/{zone['id']}/rates"

        too_deep = await client.get(url, params={"page": 41, "pageSize": 250}, headers=headers)
        forged = await client.get(url, params={"cursor": "eyJ4IjoxfQ"}, headers=headers)

        assert (too_deep.status_code, fields(too_deep)) == (400, ["page"])
        assert (forged.status_code, fields(forged)) == (400, ["cursor"])

    async def test_a_page_costs_the_same_statements_for_2_or_12_rates(
        self, client: httpx.AsyncClient, headers: dict[str, str], backend: Backend
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        for n in range(12):
            await create_rate(client, headers, zone["id"], name=f"R{n}")
        url = f"{ZONES}/{zone['id']}/rates"

        with statements_sent(backend.engine, first_word=True) as small:
            response = await client.get(url, params={"pageSize": 2}, headers=headers)
            assert len(response.json()["items"]) == 2
        with statements_sent(backend.engine, first_word=True) as large:
            response = await client.get(url, params={"pageSize": 12}, headers=headers)
            assert len(response.json()["items"]) == 12
        with statements_sent(backend.engine, first_word=True) as counted:
            await client.get(url, params={"pageSize": 12, "withTotal": "true"}, headers=headers)

        assert small == large
        # The COUNT is the one statement withTotal adds.
        assert len(counted) == len(large) + 1
