"""/api/v1/currency-settings: an exchange rate (> 0) and a rounding rule per currency, one row
per currency, and no deleting the settings of a currency a market is priced in."""

from __future__ import annotations

from decimal import Decimal

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import CurrencySettings, Event
from tests.fixtures.catalog import Headers
from tests.kit.api_pages import walk_pages
from tests.markets.conftest import CURRENCY_SETTINGS, MARKETS, create_market, create_settings


def fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["details"]]


async def stored_count(db_session: AsyncSession) -> int:
    return int(await db_session.scalar(select(func.count(CurrencySettings.id))) or 0)


class TestCreateAndRead:
    async def test_creates_reads_and_lists_by_currency(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        response = await client.post(
            CURRENCY_SETTINGS,
            json={"currency": "gbp", "exchangeRate": "0.78912345", "roundingRule": "up_to_0_99"},
            headers=headers,
        )
        await create_settings(client, headers, "EUR", "0.92")

        assert response.status_code == 201, response.text
        created = response.json()
        assert response.headers["ETag"] == '"1"'
        assert (created["currency"], created["exchangeRate"], created["roundingRule"]) == (
            "GBP",
            "0.78912345",
            "up_to_0_99",
        )
        read = await client.get(f"{CURRENCY_SETTINGS}/{created['id']}", headers=headers)
        assert read.json() == created
        listed = await walk_pages(client, CURRENCY_SETTINGS, headers)
        assert [s["currency"] for s in listed] == ["EUR", "GBP"]
        only = await client.get(CURRENCY_SETTINGS, params={"currency": "eur"}, headers=headers)
        assert [s["currency"] for s in only.json()["items"]] == ["EUR"]
        topics = await db_session.scalars(
            select(Event.topic).where(Event.subject_type == "CurrencySettings")
        )
        assert list(topics) == ["currency_settings/create", "currency_settings/create"]

    async def test_a_second_row_for_a_currency_is_409(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        await create_settings(client, headers, "EUR", "0.92")

        response = await client.post(
            CURRENCY_SETTINGS, json={"currency": "EUR", "exchangeRate": "0.9"}, headers=headers
        )

        assert response.status_code == 409
        assert response.json()["code"] == "CURRENCY_SETTINGS_EXIST"
        assert await stored_count(db_session) == 1


class TestValidation:
    async def test_a_rate_must_be_positive_with_at_most_eight_places(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        answers = [
            await client.post(
                CURRENCY_SETTINGS, json={"currency": "EUR", "exchangeRate": rate}, headers=headers
            )
            for rate in ("0", "-1.5", "0.123456789", "NaN", "12345678901")
        ]

        assert [a.status_code for a in answers] == [400] * 5
        assert {tuple(fields(a)) for a in answers} == {("exchangeRate",)}
        assert await stored_count(db_session) == 0

    async def test_an_unknown_rule_and_a_fractional_rule_without_cents_are_400(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        unknown = await client.post(
            CURRENCY_SETTINGS,
            json={"currency": "EUR", "exchangeRate": "0.9", "roundingRule": "sideways"},
            headers=headers,
        )
        yen = await client.post(
            CURRENCY_SETTINGS,
            json={"currency": "JPY", "exchangeRate": "151.2", "roundingRule": "up_to_0_99"},
            headers=headers,
        )

        assert (unknown.status_code, fields(unknown)) == (400, ["roundingRule"])
        assert (yen.status_code, fields(yen)) == (400, ["roundingRule"])
        assert "JPY has none" in yen.json()["details"][0]["message"]

    async def test_the_shop_currency_converts_at_one(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        wrong = await client.post(
            CURRENCY_SETTINGS, json={"currency": "USD", "exchangeRate": "1.1"}, headers=headers
        )
        rounding_only = await client.post(
            CURRENCY_SETTINGS,
            json={"currency": "USD", "exchangeRate": "1", "roundingRule": "up_to_0_99"},
            headers=headers,
        )

        assert (wrong.status_code, fields(wrong)) == (400, ["exchangeRate"])
        assert rounding_only.status_code == 201


class TestUpdateAndDelete:
    async def test_updates_the_rate_and_rule_with_if_match(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        settings = await create_settings(client, headers, "EUR", "0.92")
        url = f"{CURRENCY_SETTINGS}/{settings['id']}"

        response = await client.put(
            url,
            json={"exchangeRate": "0.93", "roundingRule": "nearest_0_05", "currency": "EUR"},
            headers={**headers, "If-Match": '"1"'},
        )
        stale = await client.put(
            url, json={"exchangeRate": "0.5"}, headers={**headers, "If-Match": '"1"'}
        )

        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"2"'
        assert (response.json()["exchangeRate"], response.json()["roundingRule"]) == (
            "0.93000000",
            "nearest_0_05",
        )
        assert stale.status_code == 412
        db_session.expire_all()
        stored = await db_session.get(CurrencySettings, settings["id"])
        assert stored is not None
        assert stored.exchange_rate == Decimal("0.93")
        bodies = await db_session.scalars(
            select(Event.body).where(Event.topic == "currency_settings/update")
        )
        assert [b["changed"] for b in bodies] == [["exchangeRate", "roundingRule"]]

    async def test_settings_in_use_cannot_be_deleted_until_the_market_moves(
        self, client: httpx.AsyncClient, headers: Headers, db_session: AsyncSession
    ) -> None:
        settings = await create_settings(client, headers, "EUR", "0.92")
        market = await create_market(client, headers, "Europe", "DE", currency="EUR")
        url = f"{CURRENCY_SETTINGS}/{settings['id']}"

        refused = await client.delete(url, headers=headers)
        await client.put(f"{MARKETS}/{market['id']}", json={"currency": "USD"}, headers=headers)
        deleted = await client.delete(url, headers=headers)

        assert refused.status_code == 409
        assert refused.json()["code"] == "CURRENCY_IN_USE"
        assert deleted.status_code == 204
        assert await stored_count(db_session) == 0

    async def test_a_region_set_apart_in_the_currency_holds_it_too(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        settings = await create_settings(client, headers, "CHF", "0.88")
        await create_market(
            client, headers, "Alps", regions=[{"countryCode": "CH", "currency": "CHF"}]
        )

        refused = await client.delete(f"{CURRENCY_SETTINGS}/{settings['id']}", headers=headers)

        assert refused.status_code == 409

    async def test_missing_settings_are_404(
        self, client: httpx.AsyncClient, headers: Headers
    ) -> None:
        assert (await client.get(f"{CURRENCY_SETTINGS}/999999", headers=headers)).status_code == 404
        deleted = await client.delete(f"{CURRENCY_SETTINGS}/999999", headers=headers)
        assert deleted.status_code == 404
