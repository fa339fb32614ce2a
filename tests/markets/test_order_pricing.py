"""Orders shipped to a market's country are priced in its currency as well: unit prices
converted and rounded by the currency's rule, the order's other amounts recomputed so that
they add up exactly in that currency, and the shop-currency amounts kept as they were.

The expected amounts are worked out by hand in each test's comments from markets/rules.py's
documented rules (convert at the rate, round half up to cents, then apply the rule to the unit
price; the discount is the same share of the subtotal; shipping converted to cents; tax again
on the converted amounts)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.keys import field_cipher
from shopdb.models import Market
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.markets.conftest import MARKETS, create_market, create_settings
from tests.orders.gateways import ScriptedGateway, use_gateway
from tests.orders.helpers import ORDERS, Stocked, make_locations, make_variant, order_body, place
from tests.orders.test_adjustments import discount_code
from tests.orders.test_documents import assert_documents_match

D = Decimal


async def shipping_rate(client: httpx.AsyncClient, headers: Headers, *countries: str) -> int:
    zone = await client.post(
        "/api/v1/shipping-zones",
        json={"name": "Abroad", "countries": [{"code": c} for c in countries]},
        headers=headers,
    )
    assert zone.status_code == 201, zone.text
    rate = await client.post(
        f"/api/v1/shipping-zones/{zone.json()['id']}/rates",
        json={"name": "International", "price": "4.95", "currency": "USD"},
        headers=headers,
    )
    assert rate.status_code == 201, rate.text
    rate_id: int = rate.json()["id"]
    return rate_id


async def tax_rate(client: httpx.AsyncClient, headers: Headers, country: str, rate: str) -> None:
    response = await client.post(
        "/api/v1/tax-rates",
        json={"country": country, "name": f"VAT {country}", "rate": rate},
        headers=headers,
    )
    assert response.status_code == 201, response.text


@pytest.fixture
async def goods(database: Database) -> tuple[Stocked, Stocked]:
    """A taxable tee at 19.99 and an untaxed mug at 7.33 (USD, the shop's currency)."""
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "19.99", {loc: 50})
    mug = await make_variant(database, "7.33", {loc: 50}, title="Mug", taxable=False)
    return tee, mug


def three_tees_and_a_mug(goods: tuple[Stocked, Stocked], country: str, **fields: Any) -> Any:
    tee, mug = goods
    return order_body(
        (tee.variant_id, 3),
        (mug.variant_id, 1),
        shippingAddress={"address1": "1 Hauptstr.", "countryCode": country},
        **fields,
    )


def amounts(order: dict[str, Any], *names: str) -> list[str]:
    return [order[name] for name in names]


PRESENTMENT = (
    "presentmentSubtotalPrice",
    "presentmentTotalDiscounts",
    "presentmentTotalShipping",
    "presentmentTotalTax",
    "presentmentTotalPrice",
)
SHOP = ("subtotalPrice", "totalDiscounts", "totalShipping", "totalTax", "totalPrice")


def adds_up_in_presentment(order: dict[str, Any]) -> None:
    lines = order["lineItems"]
    assert sum(D(li["presentmentPrice"]) * li["quantity"] for li in lines) == D(
        order["presentmentSubtotalPrice"]
    )
    assert sum(D(li["presentmentTotalDiscount"]) for li in lines) == D(
        order["presentmentTotalDiscounts"]
    )
    assert sum(D(t["presentmentAmount"]) for t in order["taxLines"]) == D(
        order["presentmentTotalTax"]
    )
    tax = D(0) if order["taxesIncluded"] else D(order["presentmentTotalTax"])
    assert D(order["presentmentTotalPrice"]) == (
        D(order["presentmentSubtotalPrice"])
        - D(order["presentmentTotalDiscounts"])
        + D(order["presentmentTotalShipping"])
        + tax
    )


async def read_back(
    client: httpx.AsyncClient, headers: Headers, order: dict[str, Any]
) -> dict[str, Any]:
    response = await client.get(f"{ORDERS}/{order['id']}", headers=headers)
    assert response.status_code == 200, response.text
    read: dict[str, Any] = response.json()
    return read


class TestPricedInTheMarketCurrency:
    async def test_discount_shipping_and_tax_at_an_awkward_rate_add_up_to_the_cent(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        goods: tuple[Stocked, Stocked],
        backend: Backend,
        db_session: AsyncSession,
    ) -> None:
        await create_settings(client, admin, "EUR", "0.91234567")
        await create_market(client, admin, "Europe", "DE", currency="EUR")
        await discount_code(client, admin, "TENOFF")
        rate_id = await shipping_rate(client, admin, "DE")
        await tax_rate(client, admin, "DE", "0.19")

        response = await place(
            client,
            admin,
            three_tees_and_a_mug(goods, "DE", discountCode="TENOFF", shippingRateId=rate_id),
        )

        assert response.status_code == 201, response.text
        order = response.json()
        # The shop's amounts, as without a market: 67.30 - 6.73 + 4.95 + 10.25 (19% of the
        # tees' 59.97 less their 6.00 share of the discount: 10.2543).
        assert order["currency"] == "USD"
        assert amounts(order, *SHOP) == ["67.30", "6.73", "4.95", "10.25", "75.77"]
        assert [t["amount"] for t in order["transactions"]] == ["75.77"]
        # 19.99 x 0.91234567 = 18.2378 -> 18.24; 7.33 x 0.91234567 = 6.6875 -> 6.69.
        # Subtotal 3 x 18.24 + 6.69 = 61.41; discount 6.73 x 61.41 / 67.30 = 6.141 -> 6.14,
        # split 5.47 / 0.67 (the cent left to the larger remainder); shipping 4.95 x rate =
        # 4.5161 -> 4.52; tax 19% of 54.72 - 5.47 = 49.25: 9.3575 -> 9.36.
        # Total 61.41 - 6.14 + 4.52 + 9.36 = 69.15.
        assert order["presentmentCurrency"] == "EUR"
        assert order["presentmentExchangeRate"] == "0.91234567"
        assert amounts(order, *PRESENTMENT) == ["61.41", "6.14", "4.52", "9.36", "69.15"]
        assert [li["presentmentPrice"] for li in order["lineItems"]] == ["18.24", "6.69"]
        assert [li["presentmentTotalDiscount"] for li in order["lineItems"]] == ["5.47", "0.67"]
        assert [li["price"] for li in order["lineItems"]] == ["19.99", "7.33"]
        assert [(t["amount"], t["presentmentAmount"]) for t in order["taxLines"]] == [
            ("10.25", "9.36")
        ]
        adds_up_in_presentment(order)

        assert await read_back(client, admin, order) == order
        if backend.name == "postgresql":  # the document built in SQL agrees with the models
            await assert_documents_match(db_session, field_cipher(backend.settings), [order["id"]])

    async def test_prices_rounded_up_to_99_keep_a_percentage_discount_a_percentage(
        self, client: httpx.AsyncClient, admin: Headers, goods: tuple[Stocked, Stocked]
    ) -> None:
        await create_settings(client, admin, "GBP", "0.78912345", "up_to_0_99")
        await create_market(client, admin, "United Kingdom", "GB", currency="GBP")
        await discount_code(client, admin, "TENOFF")

        response = await place(
            client, admin, three_tees_and_a_mug(goods, "GB", discountCode="TENOFF")
        )

        assert response.status_code == 201, response.text
        order = response.json()
        # 19.99 x 0.78912345 = 15.7746 -> 15.77 -> 15.99; 7.33 x ... = 5.7843 -> 5.78 -> 5.99.
        # Subtotal 3 x 15.99 + 5.99 = 53.96; discount 6.73 x 53.96 / 67.30 = 5.396 -> 5.40
        # (ten percent of what the buyer sees), split 4.80 / 0.60. No shipping, no tax.
        assert [li["presentmentPrice"] for li in order["lineItems"]] == ["15.99", "5.99"]
        assert amounts(order, *PRESENTMENT) == ["53.96", "5.40", "0.00", "0.00", "48.56"]
        assert [li["presentmentTotalDiscount"] for li in order["lineItems"]] == ["4.80", "0.60"]
        assert amounts(order, *SHOP) == ["67.30", "6.73", "0.00", "0.00", "60.57"]
        adds_up_in_presentment(order)

    async def test_a_currency_without_cents(
        self, client: httpx.AsyncClient, admin: Headers, goods: tuple[Stocked, Stocked]
    ) -> None:
        await create_settings(client, admin, "JPY", "151.237")
        await create_market(client, admin, "Japan", "JP", currency="JPY", primaryLocale="ja")

        response = await place(client, admin, three_tees_and_a_mug(goods, "JP"))

        assert response.status_code == 201, response.text
        order = response.json()
        # 19.99 x 151.237 = 3023.23 -> 3023 yen; 7.33 x 151.237 = 1108.57 -> 1109 yen.
        assert [D(li["presentmentPrice"]) for li in order["lineItems"]] == [D(3023), D(1109)]
        assert D(order["presentmentTotalPrice"]) == D(3 * 3023 + 1109)
        assert await read_back(client, admin, order) == order

    async def test_a_tax_inclusive_region_prices_tax_inclusive_in_both_currencies(
        self, client: httpx.AsyncClient, admin: Headers, goods: tuple[Stocked, Stocked]
    ) -> None:
        await create_settings(client, admin, "EUR", "0.91234567")
        await create_market(
            client,
            admin,
            "Europe",
            currency="EUR",
            regions=[{"countryCode": "DE"}, {"countryCode": "FR", "taxInclusivePricing": True}],
        )
        await tax_rate(client, admin, "FR", "0.20")

        response = await place(client, admin, three_tees_and_a_mug(goods, "FR"))

        assert response.status_code == 201, response.text
        order = response.json()
        assert order["taxesIncluded"] is True
        # Shop: the tees' 59.97 hold 59.97 - 59.97 / 1.2 = 9.995 -> 10.00 of tax; the total
        # is the prices. Presentment: 3 x 18.24 = 54.72 holds 54.72 / 1.2 = 45.60 net, 9.12.
        assert amounts(order, *SHOP) == ["67.30", "0.00", "0.00", "10.00", "67.30"]
        assert amounts(order, *PRESENTMENT) == ["61.41", "0.00", "0.00", "9.12", "61.41"]
        adds_up_in_presentment(order)

    async def test_a_new_rate_prices_later_orders_and_leaves_placed_ones(
        self, client: httpx.AsyncClient, admin: Headers, goods: tuple[Stocked, Stocked]
    ) -> None:
        settings = await create_settings(client, admin, "EUR", "0.9")
        await create_market(client, admin, "Europe", "DE", currency="EUR")
        first = (await place(client, admin, three_tees_and_a_mug(goods, "DE"))).json()

        await client.put(
            f"/api/v1/currency-settings/{settings['id']}",
            json={"exchangeRate": "1.1", "roundingRule": "up_to_whole"},
            headers=admin,
        )
        second = (await place(client, admin, three_tees_and_a_mug(goods, "DE"))).json()

        # 19.99 x 0.9 = 17.991 -> 17.99; 7.33 x 0.9 = 6.597 -> 6.60: 3 x 17.99 + 6.60.
        assert (await read_back(client, admin, first))["presentmentTotalPrice"] == "60.57"
        # 19.99 x 1.1 = 21.989 -> 21.99 -> 22; 7.33 x 1.1 = 8.063 -> 8.06 -> 9: 3 x 22 + 9.
        assert second["presentmentTotalPrice"] == "75.00"
        assert second["presentmentExchangeRate"] == "1.10000000"


class TestPlacedInSteps:
    async def test_an_order_paid_through_a_remote_gateway_keeps_its_presentment(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        goods: tuple[Stocked, Stocked],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        gateway = ScriptedGateway()  # remote: quote, reserve, pay, record in turn
        use_gateway(monkeypatch, gateway)
        await create_settings(client, admin, "EUR", "0.91234567")
        await create_market(client, admin, "Europe", "DE", currency="EUR")
        await discount_code(client, admin, "TENOFF")

        response = await place(
            client, admin, three_tees_and_a_mug(goods, "DE", discountCode="TENOFF")
        )

        assert response.status_code == 201, response.text
        order = response.json()
        assert gateway.operations() == ["sale"]
        # The first test's amounts without shipping and tax: charged in dollars.
        assert [c[1]["amount"] for c in gateway.calls] == [D("60.57")]
        assert amounts(order, *PRESENTMENT) == ["61.41", "6.14", "0.00", "0.00", "55.27"]
        assert await read_back(client, admin, order) == order


class TestNotPricedInAMarket:
    async def test_no_market_for_the_country_leaves_the_presentment_empty(
        self, client: httpx.AsyncClient, admin: Headers, goods: tuple[Stocked, Stocked]
    ) -> None:
        await create_settings(client, admin, "EUR", "0.92")
        await create_market(client, admin, "Europe", "DE", currency="EUR")

        response = await place(client, admin, three_tees_and_a_mug(goods, "US"))

        order = response.json()
        assert response.status_code == 201, response.text
        assert order["presentmentCurrency"] is None
        assert amounts(order, *PRESENTMENT) == [None] * 5
        assert [li["presentmentPrice"] for li in order["lineItems"]] == [None, None]
        assert await read_back(client, admin, order) == order

    async def test_a_disabled_market_prices_nothing(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        goods: tuple[Stocked, Stocked],
        db_session: AsyncSession,
    ) -> None:
        await create_settings(client, admin, "EUR", "0.92")
        market = await create_market(client, admin, "Europe", "DE", currency="EUR")
        await client.put(f"{MARKETS}/{market['id']}", json={"enabled": False}, headers=admin)

        order = (await place(client, admin, three_tees_and_a_mug(goods, "DE"))).json()

        assert order["presentmentCurrency"] is None
        db_session.expire_all()
        stored = await db_session.get(Market, market["id"])
        assert stored is not None
        assert stored.enabled is False

    async def test_a_market_in_the_shop_currency_without_settings_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, goods: tuple[Stocked, Stocked]
    ) -> None:
        await create_market(client, admin, "Home", "US")

        order = (await place(client, admin, three_tees_and_a_mug(goods, "US"))).json()

        assert order["presentmentCurrency"] is None


class TestOrderLists:
    async def test_the_list_shows_both_amounts(
        self, client: httpx.AsyncClient, admin: Headers, goods: tuple[Stocked, Stocked]
    ) -> None:
        await create_settings(client, admin, "EUR", "0.91234567")
        await create_market(client, admin, "Europe", "DE", currency="EUR")
        placed = (await place(client, admin, three_tees_and_a_mug(goods, "DE"))).json()

        listed = await client.get(ORDERS, headers=admin)

        assert listed.status_code == 200
        (summary,) = [o for o in listed.json()["items"] if o["id"] == placed["id"]]
        assert (summary["totalPrice"], summary["presentmentTotalPrice"]) == ("67.30", "61.41")
        assert summary["presentmentCurrency"] == "EUR"
