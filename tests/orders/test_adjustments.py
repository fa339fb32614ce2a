"""Discounts, gift cards, shipping and tax on a placed order: every total reconciles to the
cent, and a declined order gives the code's use and the gift card's balance back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from shopdb.db import Database
from tests.fixtures.catalog import Headers
from tests.orders.helpers import (
    DECLINE,
    discount_used,
    gift_card_balance,
    level,
    make_locations,
    make_variant,
    order_body,
    order_count,
    payment_mirror,
    place,
)


async def discount_code(
    client: httpx.AsyncClient, headers: Headers, code: str, **fields: Any
) -> dict[str, Any]:
    body = {"code": code, "type": "percentage", "value": "10", **fields}
    response = await client.post("/api/v1/discount-codes", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def gift_card(client: httpx.AsyncClient, headers: Headers, value: str) -> dict[str, Any]:
    body = {"initialValue": value, "currency": "USD"}
    response = await client.post("/api/v1/gift-cards", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def shipping_rate(client: httpx.AsyncClient, headers: Headers, price: str) -> int:
    zone = await client.post(
        "/api/v1/shipping-zones",
        json={"name": "Domestic", "countries": [{"code": "US"}]},
        headers=headers,
    )
    assert zone.status_code == 201, zone.text
    rate = await client.post(
        f"/api/v1/shipping-zones/{zone.json()['id']}/rates",
        json={"name": "Standard", "price": price, "currency": "USD"},
        headers=headers,
    )
    assert rate.status_code == 201, rate.text
    rate_id: int = rate.json()["id"]
    return rate_id


async def tax_rate(client: httpx.AsyncClient, headers: Headers, rate: str) -> None:
    response = await client.post(
        "/api/v1/tax-rates",
        json={"country": "US", "name": "Sales tax", "rate": rate},
        headers=headers,
    )
    assert response.status_code == 201, response.text


def money(value: str) -> Decimal:
    return Decimal(value)


def reconciles(order: dict[str, Any]) -> None:
    lines = [money(li["price"]) * li["quantity"] for li in order["lineItems"]]
    assert sum(lines) == money(order["subtotalPrice"])
    shares = sum(money(li["totalDiscount"]) for li in order["lineItems"])
    assert shares == money(order["totalDiscounts"])
    tax = Decimal(0) if order["taxesIncluded"] else money(order["totalTax"])
    assert money(order["totalPrice"]) == (
        money(order["subtotalPrice"])
        - money(order["totalDiscounts"])
        + money(order["totalShipping"])
        + tax
    )
    paid = sum(money(t["amount"]) for t in order["transactions"] if t["status"] == "success")
    assert paid == money(order["totalPrice"])


class TestTotals:
    async def test_discount_shipping_and_tax_reconcile_to_the_cent(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "19.99", {loc: 10}, weight="0.2")
        mug = await make_variant(database, "7.33", {loc: 10}, title="Mug", taxable=False)
        await discount_code(client, admin, "TENOFF")
        rate_id = await shipping_rate(client, admin, "4.95")
        await tax_rate(client, admin, "0.0825")
        body = order_body(
            (tee.variant_id, 3),
            (mug.variant_id, 1),
            discountCode="TENOFF",
            shippingRateId=rate_id,
            shippingAddress={"address1": "1 Main St", "city": "Austin", "countryCode": "US"},
        )

        response = await place(client, admin, body)

        assert response.status_code == 201, response.text
        order = response.json()
        assert order["subtotalPrice"] == "67.30"
        assert order["totalDiscounts"] == "6.73"
        assert order["totalShipping"] == "4.95"
        # 8.25% of the taxable tee lines after their share of the discount (59.97 - 6.00).
        assert order["totalTax"] == "4.45"
        assert order["totalPrice"] == "69.97"
        assert order["discountCode"] == "TENOFF"
        assert order["shippingLine"] == {"rateId": rate_id, "title": "Standard", "price": "4.95"}
        assert [t["title"] for t in order["taxLines"]] == ["Sales tax"]
        reconciles(order)
        async with database.session() as session:
            assert await discount_used(session, "TENOFF") == 1

    async def test_a_discount_never_makes_the_total_negative(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})
        await discount_code(
            client, admin, "BIGONE", type="fixed_amount", value="50.00", currency="USD"
        )

        response = await place(
            client, admin, order_body((tee.variant_id, 1), discountCode="BIGONE")
        )

        assert response.status_code == 201, response.text
        order = response.json()
        assert order["totalDiscounts"] == "5.00"
        assert order["totalPrice"] == "0.00"
        assert order["financialStatus"] == "paid"
        assert order["transactions"] == []

    async def test_a_gift_card_pays_part_and_the_card_the_rest(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "30.00", {loc: 10})
        card = await gift_card(client, admin, "12.50")

        response = await place(
            client, admin, order_body((tee.variant_id, 1), giftCardCodes=[card["code"]])
        )

        assert response.status_code == 201, response.text
        order = response.json()
        assert [(t["gateway"], t["amount"]) for t in order["transactions"]] == [
            ("gift_card", "12.50"),
            ("test", "17.50"),
        ]
        assert order["financialStatus"] == "paid"
        reconciles(order)
        async with database.session() as session:
            assert await gift_card_balance(session, card["id"]) == Decimal("0.00")
            truth, mirror = await payment_mirror(session, order["id"])
            assert len(truth) == 2
            assert truth == mirror

    async def test_a_gift_card_covering_everything_needs_no_payment(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "8.00", {loc: 10})
        card = await gift_card(client, admin, "20.00")
        body = order_body((tee.variant_id, 2), giftCardCodes=[card["code"]])
        del body["payment"]

        response = await place(client, admin, body)

        assert response.status_code == 201, response.text
        assert response.json()["financialStatus"] == "paid"
        async with database.session() as session:
            assert await gift_card_balance(session, card["id"]) == Decimal("4.00")


class TestDeclineGivesBack:
    async def test_the_code_use_the_gift_card_and_the_stock(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "30.00", {loc: 10})
        await discount_code(client, admin, "ONCE", usageLimit=1)
        card = await gift_card(client, admin, "10.00")
        body = order_body((tee.variant_id, 2), discountCode="ONCE", giftCardCodes=[card["code"]])
        body["payment"]["token"] = DECLINE

        response = await place(client, admin, body)

        assert response.status_code == 402, response.text
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (10, 0)
            assert await discount_used(session, "ONCE") == 0
            assert await gift_card_balance(session, card["id"]) == Decimal("10.00")
            assert await order_count(session) == 0

        # What the decline gave back can be used by the next order.
        body["payment"]["token"] = "4242424242424242"
        again = await place(client, admin, body)
        assert again.status_code == 201, again.text
        assert again.json()["totalDiscounts"] == "6.00"
