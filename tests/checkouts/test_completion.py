"""POST /api/v1/checkouts/{token}/complete on SQLite and PostgreSQL: the checkout becomes an
order through the orders' own placement (same totals, stock, payment, events, idempotency);
a completed checkout is neither completed again nor changed."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from shopdb.db import Database
from tests.checkouts.conftest import Live
from tests.checkouts.helpers import CHECKOUTS, checkout_body, complete, create, stored
from tests.fixtures.catalog import Headers
from tests.orders.helpers import (
    DECLINE,
    discount_used,
    gift_card_balance,
    level,
    make_locations,
    make_variant,
    order_count,
    order_events,
)
from tests.orders.test_adjustments import (
    discount_code,
    gift_card,
    reconciles,
    shipping_rate,
    tax_rate,
)

US = {"countryCode": "US", "city": "Oakland"}


class TestCompleting:
    async def test_completion_places_the_order_with_the_checkouts_totals(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "19.99", {loc: 10}, weight="0.2")
        mug = await make_variant(database, "7.33", {loc: 10}, title="Mug", taxable=False)
        await discount_code(client, admin, "TENOFF")
        rate_id = await shipping_rate(client, admin, "4.95")
        await tax_rate(client, admin, "0.0825")
        checkout = await create(
            client,
            admin,
            checkout_body(
                (tee.variant_id, 3),
                (mug.variant_id, 1),
                discountCode="TENOFF",
                shippingRateId=rate_id,
                shippingAddress=US,
                note="leave at door",
            ),
        )

        response = await complete(client, admin, checkout["token"])

        assert response.status_code == 201, response.text
        order = response.json()
        assert response.headers["Location"] == f"/api/v1/orders/{order['id']}"
        for field in (
            "subtotalPrice",
            "totalDiscounts",
            "totalShipping",
            "totalTax",
            "totalPrice",
            "taxesIncluded",
        ):
            assert order[field] == checkout[field], field
        assert order["email"] == "buyer@example.com"
        assert order["note"] == "leave at door"
        assert order["financialStatus"] == "paid"
        assert order["discountCode"] == "TENOFF"
        reconciles(order)
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (7, 3)
            assert await level(session, mug.item_id, loc) == (9, 1)
            assert await discount_used(session, "TENOFF") == 1
            assert await order_events(session, order["id"]) == ["orders/create", "orders/paid"]
            row = await stored(session, checkout["token"])
            assert row.order_id == order["id"]
            assert row.completed_at is not None
            assert row.completing_until is None
            assert row.recovered_at is None

        read = (await client.get(f"{CHECKOUTS}/{checkout['token']}", headers=admin)).json()
        assert read["orderId"] == order["id"]
        assert read["completedAt"] is not None
        assert read["totalPrice"] == order["totalPrice"]

    async def test_completing_twice_is_409_and_places_one_order(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 2)))
        first = await complete(client, admin, checkout["token"])
        assert first.status_code == 201, first.text
        async with database.session() as session:
            orders_before = await order_count(session)

        second = await complete(client, admin, checkout["token"])
        update = await client.put(
            f"{CHECKOUTS}/{checkout['token']}", json={"note": "late"}, headers=admin
        )

        assert second.status_code == 409
        assert second.json()["code"] == "CHECKOUT_COMPLETED"
        assert update.status_code == 409
        assert update.json()["code"] == "CHECKOUT_COMPLETED"
        async with database.session() as session:
            assert await order_count(session) == orders_before
            assert await level(session, tee.item_id, loc) == (8, 2)
            assert (await stored(session, checkout["token"])).note is None

    async def test_a_retry_with_the_same_idempotency_key_gets_the_same_order(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))

        first = await complete(client, admin, checkout["token"], key="c-1")
        again = await complete(client, admin, checkout["token"], key="c-1")

        assert first.status_code == 201, first.text
        assert again.status_code == 201, again.text
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert again.json()["id"] == first.json()["id"]
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (9, 1)

    async def test_a_declined_payment_leaves_the_checkout_open_to_complete_later(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))
        async with database.session() as session:
            orders_before = await order_count(session)

        declined = await complete(
            client,
            admin,
            checkout["token"],
            {"payment": {"gateway": "test", "token": DECLINE, "capture": True}},
        )

        assert declined.status_code == 402
        assert declined.json()["code"] == "PAYMENT_DECLINED"
        async with database.session() as session:
            assert await order_count(session) == orders_before
            assert await level(session, tee.item_id, loc) == (10, 0)
            row = await stored(session, checkout["token"])
            assert (row.completed_at, row.completing_until, row.order_id) == (None, None, None)

        approved = await complete(client, admin, checkout["token"])
        assert approved.status_code == 201, approved.text

    async def test_out_of_stock_at_completion_is_409_naming_the_variant(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 1})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 2)))

        response = await complete(client, admin, checkout["token"])

        assert response.status_code == 409
        assert response.json()["code"] == "INSUFFICIENT_INVENTORY"
        assert response.json()["details"][0]["field"] == "lineItems[0].quantity"
        async with database.session() as session:
            assert (await stored(session, checkout["token"])).completed_at is None

    async def test_a_gift_card_kept_on_the_checkout_pays_at_completion(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "15.00", {loc: 10})
        card = await gift_card(client, admin, "50.00")
        checkout = await create(
            client, admin, checkout_body((tee.variant_id, 2), giftCardCodes=[card["code"]])
        )
        async with database.session() as session:
            # Nothing is debited before completion.
            assert await gift_card_balance(session, card["id"]) == Decimal("50.00")

        response = await complete(client, admin, checkout["token"], {})

        assert response.status_code == 201, response.text
        order = response.json()
        assert order["financialStatus"] == "paid"
        assert [(t["gateway"], t["amount"]) for t in order["transactions"]] == [
            ("gift_card", "30.00")
        ]
        async with database.session() as session:
            assert await gift_card_balance(session, card["id"]) == Decimal("20.00")

    async def test_a_customers_checkout_becomes_the_customers_order(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})
        customer = await client.post(
            "/api/v1/customers",
            json={"email": "Ada@Example.com", "firstName": "Ada"},
            headers=admin,
        )
        assert customer.status_code == 201, customer.text
        customer_id = customer.json()["id"]
        checkout = await create(
            client,
            admin,
            {
                "customerId": customer_id,
                "lineItems": [{"variantId": tee.variant_id, "quantity": 1}],
            },
        )
        assert checkout["email"] == "ada@example.com"

        order = (await complete(client, admin, checkout["token"])).json()

        assert order["customerId"] == customer_id
        assert order["email"] == "ada@example.com"


@pytest.mark.postgres_only
class TestConcurrentCompletion:
    async def test_two_completions_at_once_place_one_order(self, live: Live) -> None:
        if live.database.primary.dialect.name == "sqlite":
            pytest.skip("needs real concurrent transactions")
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "5.00", {loc: 10})
        checkout = await create(live.client, live.headers, checkout_body((tee.variant_id, 1)))

        answers = await asyncio.gather(
            *(complete(live.client, live.headers, checkout["token"]) for _ in range(8))
        )

        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 7, [a.text for a in answers]
        assert {a.json()["code"] for a in answers if a.status_code == 409} <= {
            "CHECKOUT_COMPLETED",
            "CHECKOUT_COMPLETION_IN_PROGRESS",
        }
        (placed,) = [a.json() for a in answers if a.status_code == 201]
        async with live.database.session() as session:
            assert await level(session, tee.item_id, loc) == (9, 1)
            row = await stored(session, checkout["token"])
            assert row.order_id == placed["id"]

    async def test_concurrent_updates_from_the_same_etag_let_one_win(self, live: Live) -> None:
        if live.database.primary.dialect.name == "sqlite":
            pytest.skip("needs real concurrent transactions")
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "5.00", {loc: 10})
        checkout = await create(live.client, live.headers, checkout_body((tee.variant_id, 1)))
        url = f"{CHECKOUTS}/{checkout['token']}"

        answers = await asyncio.gather(
            *(
                live.client.put(
                    url,
                    json={"lineItems": [{"variantId": tee.variant_id, "quantity": n}]},
                    headers={**live.headers, "If-Match": '"1"'},
                )
                for n in range(2, 8)
            )
        )

        won = [a for a in answers if a.status_code == 200]
        assert len(won) == 1, [a.text for a in answers]
        assert all(a.status_code in (409, 412) for a in answers if a.status_code != 200)
        after = (await live.client.get(url, headers=live.headers)).json()
        assert after["lineItems"][0]["quantity"] == won[0].json()["lineItems"][0]["quantity"]
        assert after["totalPrice"] == won[0].json()["totalPrice"]
