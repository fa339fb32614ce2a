"""POST /api/v1/shipping-rates/quote and the service functions checkout calls."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.shipping import service
from shopdb.shipping.errors import ShippingRateNotApplicable
from shopdb.shipping.service import ShippingQuote
from tests.auth.helpers import bearer, make_user
from tests.shipping.conftest import QUOTE, create_rate, create_zone


def quote_body(
    country: str,
    province: str | None = None,
    *,
    grams: str = "500",
    subtotal: str = "50.00",
    currency: str = "USD",
) -> dict[str, Any]:
    return {
        "address": {"country": country, "province": province},
        "weightGrams": grams,
        "subtotal": subtotal,
        "currency": currency,
    }


async def quoted(client: httpx.AsyncClient, headers: dict[str, str], **kwargs: Any) -> list[str]:
    country = kwargs.pop("country")
    response = await client.post(QUOTE, json=quote_body(country, **kwargs), headers=headers)
    assert response.status_code == 200, response.text
    return [rate["name"] for rate in response.json()["rates"]]


@pytest.fixture
async def zones(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """Quebec, the rest of Canada, the US, and the rest of the world, each with its rates."""
    quebec = await create_zone(client, headers, "Quebec", [{"code": "CA", "provinces": ["QC"]}])
    canada = await create_zone(client, headers, "Canada", [{"code": "CA"}])
    usa = await create_zone(client, headers, "USA", [{"code": "US"}])
    world = await create_zone(client, headers, "World", [{"code": "*"}])
    return {
        "quebec": await create_rate(
            client, headers, quebec["id"], name="Quebec post", price="7.00"
        ),
        "canada": await create_rate(
            client, headers, canada["id"], name="Canada post", price="9.00"
        ),
        "world": await create_rate(client, headers, world["id"], name="Worldwide", price="30.00"),
        "light": await create_rate(
            client, headers, usa["id"], name="Light", price="5.00", maxWeight="1000"
        ),
        "heavy": await create_rate(
            client,
            headers,
            usa["id"],
            name="Heavy",
            price="15.00",
            minWeight="1000",
            maxWeight="20000",
        ),
        "free": await create_rate(
            client, headers, usa["id"], name="Free over 100", price="0.00", minSubtotal="100"
        ),
        "small": await create_rate(
            client, headers, usa["id"], name="Small orders", price="8.00", maxSubtotal="100"
        ),
        "euro": await create_rate(
            client, headers, usa["id"], name="In euros", price="4.00", currency="EUR"
        ),
        "usa": usa,
    }


class TestZoneSelection:
    async def test_a_province_zone_beats_its_country_zone_which_beats_the_rest_of_world(
        self, client: httpx.AsyncClient, headers: dict[str, str], zones: dict[str, Any]
    ) -> None:
        assert await quoted(client, headers, country="CA", province="QC") == ["Quebec post"]
        assert await quoted(client, headers, country="ca", province="on") == ["Canada post"]
        assert await quoted(client, headers, country="CA") == ["Canada post"]
        assert await quoted(client, headers, country="FR") == ["Worldwide"]

    async def test_no_zone_for_the_address_quotes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        zone = await create_zone(client, headers, "US", [{"code": "US"}])
        await create_rate(client, headers, zone["id"])

        assert await quoted(client, headers, country="DE") == []

    async def test_answers_with_rate_ids_zone_and_price_cheapest_first(
        self, client: httpx.AsyncClient, headers: dict[str, str], zones: dict[str, Any]
    ) -> None:
        response = await client.post(QUOTE, json=quote_body("US", grams="999.99"), headers=headers)

        assert response.json() == {
            "rates": [
                {
                    "id": zones[key]["id"],
                    "shippingZoneId": zones["usa"]["id"],
                    "name": zones[key]["name"],
                    "price": price,
                    "currency": "USD",
                }
                for key, price in (("light", "5.00"), ("small", "8.00"))
            ]
        }


class TestBounds:
    async def test_weight_minimum_is_inclusive_and_maximum_exclusive(
        self, client: httpx.AsyncClient, headers: dict[str, str], zones: dict[str, Any]
    ) -> None:
        assert await quoted(client, headers, country="US", grams="0") == ["Light", "Small orders"]
        assert await quoted(client, headers, country="US", grams="1000") == [
            "Small orders",
            "Heavy",
        ]
        assert await quoted(client, headers, country="US", grams="19999.999") == [
            "Small orders",
            "Heavy",
        ]
        assert await quoted(client, headers, country="US", grams="20000") == ["Small orders"]

    async def test_subtotal_minimum_is_inclusive_and_maximum_exclusive(
        self, client: httpx.AsyncClient, headers: dict[str, str], zones: dict[str, Any]
    ) -> None:
        assert await quoted(client, headers, country="US", subtotal="99.99") == [
            "Light",
            "Small orders",
        ]
        assert await quoted(client, headers, country="US", subtotal="100.00") == [
            "Free over 100",
            "Light",
        ]

    async def test_only_rates_in_the_orders_currency(
        self, client: httpx.AsyncClient, headers: dict[str, str], zones: dict[str, Any]
    ) -> None:
        assert await quoted(client, headers, country="US", currency="eur") == ["In euros"]
        assert await quoted(client, headers, country="US", currency="GBP") == []


class TestRequest:
    async def test_bad_address_weight_and_currency_are_400_naming_fields(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(
            QUOTE,
            json={
                "address": {"country": "XX", "province": "Q/C"},
                "weightGrams": "-1",
                "subtotal": "abc",
                "currency": "US",
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert sorted(d["field"] for d in response.json()["details"]) == [
            "address.country",
            "address.province",
            "currency",
            "subtotal",
            "weightGrams",
        ]

    async def test_open_to_shipping_read_or_orders_write_only(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        body = quote_body("US")
        codes = {}
        for permissions in (["shipping:read"], ["orders:write"], ["orders:read", "products:read"]):
            user = await make_user(db_session, permissions=permissions)
            response = await client.post(QUOTE, json=body, headers=bearer(app, user))
            codes[permissions[0]] = response.status_code

        assert codes == {"shipping:read": 200, "orders:write": 200, "orders:read": 403}
        assert (await client.post(QUOTE, json=body)).status_code == 401


class TestServiceForCheckout:
    async def test_quote_rates_returns_shipping_quotes(
        self, zones: dict[str, Any], db_session: AsyncSession
    ) -> None:
        quotes = await service.quote_rates(
            db_session,
            country="US",
            province=None,
            weight_grams=Decimal("2500"),
            subtotal=Decimal("150.00"),
            currency="USD",
        )

        assert quotes == [
            ShippingQuote(
                zones["free"]["id"], zones["usa"]["id"], "Free over 100", Decimal("0.00"), "USD"
            ),
            ShippingQuote(
                zones["heavy"]["id"], zones["usa"]["id"], "Heavy", Decimal("15.00"), "USD"
            ),
        ]

    async def test_rate_for_order_accepts_a_rate_that_applies(
        self, zones: dict[str, Any], db_session: AsyncSession
    ) -> None:
        quote = await service.rate_for_order(
            db_session,
            zones["quebec"]["id"],
            country="CA",
            province="qc",
            weight_grams=Decimal("100"),
            subtotal=Decimal("10"),
            currency="USD",
        )

        assert (quote.rate_id, quote.price, quote.name) == (
            zones["quebec"]["id"],
            Decimal("7.00"),
            "Quebec post",
        )

    @pytest.mark.parametrize(
        ("key", "country", "province", "grams", "currency", "reason"),
        [
            ("missing", "US", None, "1", "USD", "does not exist"),
            ("euro", "US", None, "1", "USD", "is priced in EUR, the order in USD"),
            ("canada", "CA", "QC", "1", "USD", "is not offered for shipping to CA-QC"),
            ("world", "US", None, "1", "USD", "is not offered for shipping to US"),
            (
                "light",
                "US",
                None,
                "1000",
                "USD",
                "applies to weights of under 1000.00 g; the order weighs 1000 g",
            ),
            (
                "free",
                "US",
                None,
                "1",
                "USD",
                "applies to subtotals of at least 100.00; the order's is 10",
            ),
        ],
    )
    async def test_rate_for_order_refuses_a_rate_that_does_not_apply(
        self,
        zones: dict[str, Any],
        db_session: AsyncSession,
        key: str,
        country: str,
        province: str | None,
        grams: str,
        currency: str,
        reason: str,
    ) -> None:
        rate_id = zones[key]["id"] if key in zones else 999_999

        with pytest.raises(ShippingRateNotApplicable) as refused:
            await service.rate_for_order(
                db_session,
                rate_id,
                country=country,
                province=province,
                weight_grams=Decimal(grams),
                subtotal=Decimal("10"),
                currency=currency,
                field="checkout.shippingRateId",
            )

        assert refused.value.status_code == 400
        assert refused.value.code == "SHIPPING_RATE_NOT_APPLICABLE"
        assert refused.value.details == [{"field": "checkout.shippingRateId", "message": reason}]
