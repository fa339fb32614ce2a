"""/api/v1/markets: CRUD with regions, one region per country per market, the market's
currency and tax-inclusive pricing written to its regions, ETags, events and permissions."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event, Market, MarketRegion
from tests.fixtures.catalog import Headers, TokenFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.kit.api_pages import walk_pages
from tests.markets.conftest import MARKETS, create_market, create_settings


def fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["details"]]


async def count(db_session: AsyncSession, model: Any) -> int:
    return int(await db_session.scalar(select(func.count(model.id))) or 0)


async def events(db_session: AsyncSession, topic: str, subject_id: int) -> list[dict[str, Any]]:
    rows = await db_session.scalars(
        select(Event.body)
        .where(Event.topic == topic, Event.subject_id == subject_id)
        .order_by(Event.id)
    )
    return list(rows)


class TestCreateAndRead:
    async def test_creates_a_market_whose_regions_take_its_currency_and_tax(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        await create_settings(client, headers, "EUR", "0.92")

        response = await client.post(
            MARKETS,
            json={
                "name": "Europe",
                "handle": "europe",
                "primaryLocale": "de-DE",
                "currency": "eur",
                "taxInclusivePricing": True,
                "regions": [
                    {"countryCode": "de"},
                    {"countryCode": "FR", "taxInclusivePricing": False},
                ],
            },
            headers=headers,
        )

        assert response.status_code == 201, response.text
        market = response.json()
        assert response.headers["ETag"] == '"1"'
        assert response.headers["Location"] == f"/api/v1/markets/{market['id']}"
        assert {k: market[k] for k in ("name", "handle", "primaryLocale", "enabled")} == {
            "name": "Europe",
            "handle": "europe",
            "primaryLocale": "de-DE",
            "enabled": True,
        }
        assert (market["currency"], market["taxInclusivePricing"]) == ("EUR", True)
        assert [
            (r["countryCode"], r["currency"], r["taxInclusivePricing"]) for r in market["regions"]
        ] == [("DE", "EUR", True), ("FR", "EUR", False)]
        stored = await db_session.scalars(
            select(MarketRegion.country_code).where(MarketRegion.market_id == market["id"])
        )
        assert sorted(stored) == ["DE", "FR"]
        assert await events(db_session, "markets/create", market["id"]) == [
            {"id": market["id"], "name": "Europe", "currency": "EUR", "countries": ["DE", "FR"]}
        ]

        again = await client.get(f"{MARKETS}/{market['id']}", headers=headers)
        assert again.status_code == 200
        assert again.json() == market

    async def test_the_shop_currency_is_the_default_and_needs_no_settings(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        market = await create_market(client, headers, "Home", "US")

        assert market["currency"] == "USD"
        assert market["taxInclusivePricing"] is False
        assert [(r["countryCode"], r["currency"]) for r in market["regions"]] == [("US", "USD")]

    async def test_lists_by_name_filtered_by_country_and_enabled(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        await create_market(client, headers, "Charlie", "CA")
        await create_market(client, headers, "Alpha", "US", "CA")
        await create_market(client, headers, "Bravo", "MX", enabled=False)

        every = await walk_pages(client, MARKETS, headers)
        in_canada = await walk_pages(client, MARKETS, headers, {"country": "ca"})
        enabled = await walk_pages(client, MARKETS, headers, {"enabled": "true"})

        assert [m["name"] for m in every] == ["Alpha", "Bravo", "Charlie"]
        assert [m["name"] for m in in_canada] == ["Alpha", "Charlie"]
        assert [m["name"] for m in enabled] == ["Alpha", "Charlie"]

    async def test_a_page_costs_the_same_queries_whatever_its_size(
        self, client: httpx.AsyncClient, headers: Headers, backend: Backend
    ) -> None:
        for position, code in enumerate("AD AE AF AG AI AL AM AO".split()):
            await create_market(client, headers, f"Market {position}", code)

        with statements_sent(backend.engine) as small:
            response = await client.get(MARKETS, params={"pageSize": 2}, headers=headers)
            assert len(response.json()["items"]) == 2
        with statements_sent(backend.engine) as large:
            response = await client.get(MARKETS, params={"pageSize": 8}, headers=headers)
            assert [len(m["regions"]) for m in response.json()["items"]] == [1] * 8

        assert len(large) == len(small)


class TestIdempotency:
    async def test_a_retried_create_with_its_key_answers_the_first_market(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        body = {"name": "Retry", "primaryLocale": "en", "regions": [{"countryCode": "IE"}]}
        keyed = {**headers, "Idempotency-Key": "market-retry-1"}

        first = await client.post(MARKETS, json=body, headers=keyed)
        second = await client.post(MARKETS, json=body, headers=keyed)

        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert await count(db_session, Market) == 1


class TestValidation:
    async def test_a_country_twice_in_one_request_is_400_naming_it(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        response = await client.post(
            MARKETS,
            json={
                "name": "Twice",
                "primaryLocale": "en",
                "regions": [{"countryCode": "DE"}, {"countryCode": "de"}],
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert fields(response) == ["regions[1].countryCode"]
        assert await count(db_session, Market) == 0

    async def test_bad_codes_and_locale_are_400(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        response = await client.post(
            MARKETS,
            json={
                "name": "Bad",
                "primaryLocale": "english please",
                "currency": "EURO",
                "regions": [{"countryCode": "XX"}],
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert sorted(fields(response)) == ["currency", "primaryLocale", "regions[0].countryCode"]

    async def test_a_currency_without_settings_is_422_and_nothing_is_written(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        response = await client.post(
            MARKETS,
            json={"name": "Japan", "primaryLocale": "ja", "currency": "JPY"},
            headers=headers,
        )
        per_region = await client.post(
            MARKETS,
            json={
                "name": "Japan",
                "primaryLocale": "ja",
                "regions": [{"countryCode": "JP", "currency": "JPY"}],
            },
            headers=headers,
        )

        assert response.status_code == 422
        assert response.json()["code"] == "CURRENCY_NOT_CONFIGURED"
        assert fields(response) == ["currency"]
        assert per_region.status_code == 422
        assert fields(per_region) == ["regions[0].currency"]
        assert await count(db_session, Market) == 0


class TestRegions:
    async def test_one_region_per_country_per_market(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        market = await create_market(client, headers, "Nordics", "SE")
        other = await create_market(client, headers, "Scandinavia")
        url = f"{MARKETS}/{market['id']}/regions"

        added = await client.post(url, json={"countryCode": "NO"}, headers=headers)
        duplicate = await client.post(url, json={"countryCode": "se"}, headers=headers)
        elsewhere = await client.post(
            f"{MARKETS}/{other['id']}/regions", json={"countryCode": "SE"}, headers=headers
        )

        assert added.status_code == 201, added.text
        assert added.json()["countryCode"] == "NO"
        assert duplicate.status_code == 409
        assert duplicate.json()["code"] == "MARKET_REGION_EXISTS"
        assert fields(duplicate) == ["countryCode"]
        assert elsewhere.status_code == 201  # another market may list the country
        listed = await client.get(url, headers=headers)
        assert [r["countryCode"] for r in listed.json()] == ["SE", "NO"]
        assert await count(db_session, MarketRegion) == 3

    async def test_moving_a_region_onto_a_listed_country_is_409_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        market = await create_market(client, headers, "Benelux", "BE", "NL")
        belgium = market["regions"][0]
        url = f"{MARKETS}/{market['id']}/regions/{belgium['id']}"

        response = await client.put(url, json={"countryCode": "NL"}, headers=headers)

        assert response.status_code == 409
        assert response.json()["code"] == "MARKET_REGION_EXISTS"
        db_session.expire_all()
        stored = await db_session.get(MarketRegion, belgium["id"])
        assert stored is not None
        assert stored.country_code == "BE"

    async def test_a_region_set_apart_then_deleted(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        await create_settings(client, headers, "CHF", "0.88")
        market = await create_market(client, headers, "Alps", "AT", "CH")
        switzerland = market["regions"][1]
        url = f"{MARKETS}/{market['id']}/regions/{switzerland['id']}"

        changed = await client.put(
            url, json={"currency": "chf", "taxInclusivePricing": True}, headers=headers
        )
        deleted = await client.delete(url, headers=headers)
        gone = await client.get(url, headers=headers)

        assert changed.status_code == 200, changed.text
        assert (changed.json()["currency"], changed.json()["taxInclusivePricing"]) == (
            "CHF",
            True,
        )
        assert deleted.status_code == 204
        assert gone.status_code == 404
        bodies = await events(db_session, "markets/update", market["id"])
        assert [b.get("region") or b.get("removed") for b in bodies] == ["CH", "CH"]

    async def test_regions_of_a_missing_market_are_404(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        response = await client.post(
            f"{MARKETS}/999999/regions", json={"countryCode": "DE"}, headers=headers
        )

        assert response.status_code == 404


class TestUpdateAndDelete:
    async def test_a_new_currency_and_tax_setting_reach_every_region(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        await create_settings(client, headers, "EUR", "0.92")
        market = await create_market(client, headers, "Europe", "DE", "FR")

        response = await client.put(
            f"{MARKETS}/{market['id']}",
            json={"currency": "EUR", "taxInclusivePricing": True, "name": "EU"},
            headers={**headers, "If-Match": '"1"'},
        )

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"2"'
        updated = response.json()
        assert (updated["name"], updated["currency"], updated["taxInclusivePricing"]) == (
            "EU",
            "EUR",
            True,
        )
        assert {(r["currency"], r["taxInclusivePricing"]) for r in updated["regions"]} == {
            ("EUR", True)
        }
        assert [b["changed"] for b in await events(db_session, "markets/update", market["id"])] == [
            ["currency", "name", "taxInclusivePricing"]
        ]

    async def test_a_stale_etag_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        market = await create_market(client, headers, "Home", "US")
        url = f"{MARKETS}/{market['id']}"
        await client.put(url, json={"name": "Domestic"}, headers=headers)

        stale = await client.put(url, json={"name": "Late"}, headers={**headers, "If-Match": '"1"'})

        assert stale.status_code == 412
        db_session.expire_all()
        stored = await db_session.get(Market, market["id"])
        assert stored is not None
        assert (stored.name, stored.version) == ("Domestic", 2)

    async def test_null_for_a_required_field_is_400(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        market = await create_market(client, headers, "Home", "US")

        response = await client.put(
            f"{MARKETS}/{market['id']}", json={"name": None}, headers=headers
        )

        assert response.status_code == 400
        assert fields(response) == ["name"]

    async def test_deleting_a_market_deletes_its_regions(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        market = await create_market(client, headers, "Gone", "PT", "ES")

        response = await client.delete(f"{MARKETS}/{market['id']}", headers=headers)
        again = await client.get(f"{MARKETS}/{market['id']}", headers=headers)

        assert response.status_code == 204
        assert again.status_code == 404
        assert await count(db_session, MarketRegion) == 0
        assert len(await events(db_session, "markets/delete", market["id"])) == 1


class TestPermissions:
    async def test_reading_needs_markets_read_and_writing_markets_write(
        self, client: httpx.AsyncClient, token_for: TokenFactory
    ) -> None:
        reader = token_for("markets:read")
        nobody = token_for("orders:read")

        listed = await client.get(MARKETS, headers=reader)
        refused_write = await client.post(
            MARKETS, json={"name": "X", "primaryLocale": "en"}, headers=reader
        )
        refused_read = await client.get(MARKETS, headers=nobody)

        assert listed.status_code == 200
        assert refused_write.status_code == 403
        assert refused_read.status_code == 403
