"""POST/GET/PUT /api/v1/checkouts on SQLite and PostgreSQL: priced like an order from the
catalog, nothing reserved or used, repriced on update, guarded by ETags, PII sealed."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from shopdb.db import Database
from shopdb.jobs.kinds import CHECKOUTS_MARK_ABANDONED
from shopdb.keys import field_cipher
from shopdb.models import Job, ProductVariant
from shopdb.services import services_of
from tests.checkouts.helpers import CHECKOUTS, checkout_body, create, reconciles, stored
from tests.fixtures.catalog import Headers
from tests.orders.helpers import discount_used, level, make_locations, make_variant
from tests.orders.test_adjustments import discount_code, shipping_rate, tax_rate

US = {"countryCode": "US", "provinceCode": "CA", "city": "Oakland", "zip": "94607"}


class TestCreating:
    async def test_a_checkout_is_priced_from_the_catalog_and_reserves_nothing(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "19.99", {loc: 10})
        mug = await make_variant(database, "7.50", {loc: 4}, title="Mug")

        response = await client.post(
            CHECKOUTS,
            json=checkout_body((tee.variant_id, 2), (mug.variant_id, 3), note="gift"),
            headers=admin,
        )

        assert response.status_code == 201, response.text
        checkout = response.json()
        token = checkout["token"]
        assert len(token) >= 43
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        assert response.headers["Location"] == f"/api/v1/checkouts/{token}"
        assert response.headers["ETag"] == '"1"'
        assert checkout["email"] == "buyer@example.com"
        assert checkout["subtotalPrice"] == "62.48"
        assert checkout["totalDiscounts"] == "0.00"
        assert checkout["totalShipping"] == "0.00"
        assert checkout["totalTax"] == "0.00"
        assert checkout["totalPrice"] == "62.48"
        assert checkout["currency"] == "USD"
        assert checkout["note"] == "gift"
        assert [(li["variantId"], li["quantity"], li["price"]) for li in checkout["lineItems"]] == [
            (tee.variant_id, 2, "19.99"),
            (mug.variant_id, 3, "7.50"),
        ]
        assert checkout["completedAt"] is None
        assert checkout["orderId"] is None
        assert checkout["abandonedAt"] is None
        assert checkout["recoveryUrl"].endswith(f"/checkouts/{token}/recover")
        reconciles(checkout)

        async with database.session() as session:
            # No stock moved.
            assert await level(session, tee.item_id, loc) == (10, 0)
            assert await level(session, mug.item_id, loc) == (4, 0)
            row = await stored(session, token)
            # The abandonment check is queued for when the checkout would be abandoned.
            (job,) = (
                await session.scalars(
                    select(Job).where(
                        Job.kind == CHECKOUTS_MARK_ABANDONED.name,
                        Job.payload["checkoutId"].as_integer() == row.id,
                    )
                )
            ).all()
            assert (job.run_after - row.updated_at).total_seconds() == 36000

        read = await client.get(f"{CHECKOUTS}/{token}", headers=admin)
        assert read.status_code == 200
        assert read.json() == checkout
        assert read.headers["ETag"] == '"1"'

    async def test_the_email_and_gift_card_codes_are_sealed_in_the_database(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})

        checkout = await create(
            client,
            admin,
            checkout_body((tee.variant_id, 1), giftCardCodes=["SECRETCARD1234WXYZ"]),
        )

        assert checkout["giftCards"] == [{"lastCharacters": "WXYZ"}]
        async with database.session() as session:
            row = await stored(session, checkout["token"])
        cipher = field_cipher(services_of(app).settings)
        assert "buyer" not in row.email.lower()
        assert row.email_hash == cipher.blind_index("buyer@example.com")
        assert row.gift_card_codes is not None
        assert "SECRETCARD" not in row.gift_card_codes

    async def test_a_discount_shipping_and_tax_are_previewed_not_used(
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
            ),
        )

        assert checkout["subtotalPrice"] == "67.30"
        assert checkout["totalDiscounts"] == "6.73"
        assert checkout["totalShipping"] == "4.95"
        assert checkout["shippingLine"]["rateId"] == rate_id
        assert checkout["discountCode"] == "TENOFF"
        assert checkout["totalWeight"] == 600
        reconciles(checkout)
        async with database.session() as session:
            assert await discount_used(session, "TENOFF") == 0

    async def test_unknown_variants_and_missing_buyers_are_400(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})

        unknown = await client.post(
            CHECKOUTS, json=checkout_body((tee.variant_id, 1), (999_999_999, 1)), headers=admin
        )
        nobody = await client.post(
            CHECKOUTS,
            json={"lineItems": [{"variantId": tee.variant_id, "quantity": 1}]},
            headers=admin,
        )
        no_customer = await client.post(
            CHECKOUTS,
            json={
                "customerId": 999_999_999,
                "lineItems": [{"variantId": tee.variant_id, "quantity": 1}],
            },
            headers=admin,
        )

        assert unknown.status_code == 400
        assert unknown.json()["details"][0]["field"] == "lineItems[1].variantId"
        assert nobody.status_code == 400
        assert no_customer.status_code == 400
        assert no_customer.json()["details"][0]["field"] == "customerId"

    async def test_reading_and_writing_need_the_orders_permissions(
        self, client: httpx.AsyncClient, token_for: object, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "5.00", {loc: 10})
        reader = token_for("orders:read")  # type: ignore[operator]

        refused = await client.post(
            CHECKOUTS, json=checkout_body((tee.variant_id, 1)), headers=reader
        )
        anonymous = await client.get(f"{CHECKOUTS}/whatever")

        assert refused.status_code == 403
        assert anonymous.status_code == 401


class TestUpdating:
    async def test_an_update_reprices_from_todays_catalog_and_moves_the_etag(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))
        token = checkout["token"]
        async with database.session() as session:
            variant = await session.get(ProductVariant, tee.variant_id)
            assert variant is not None
            variant.price = variant.price + 2

        response = await client.put(
            f"{CHECKOUTS}/{token}",
            json={"lineItems": [{"variantId": tee.variant_id, "quantity": 3}]},
            headers={**admin, "If-Match": '"1"'},
        )

        assert response.status_code == 200, response.text
        updated = response.json()
        assert response.headers["ETag"] == '"2"'
        assert updated["subtotalPrice"] == "36.00"
        assert updated["totalPrice"] == "36.00"
        assert updated["lineItems"][0]["price"] == "12.00"
        assert updated["email"] == "buyer@example.com"  # not sent: kept
        assert updated["updatedAt"] >= checkout["updatedAt"]
        reconciles(updated)

    async def test_a_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 1)))
        token = checkout["token"]
        first = await client.put(
            f"{CHECKOUTS}/{token}", json={"note": "first"}, headers={**admin, "If-Match": '"1"'}
        )
        assert first.status_code == 200

        stale = await client.put(
            f"{CHECKOUTS}/{token}",
            json={"lineItems": [{"variantId": tee.variant_id, "quantity": 5}]},
            headers={**admin, "If-Match": '"1"'},
        )

        assert stale.status_code == 412
        assert stale.json()["code"] == "PRECONDITION_FAILED"
        after = (await client.get(f"{CHECKOUTS}/{token}", headers=admin)).json()
        assert after["note"] == "first"
        assert after["lineItems"][0]["quantity"] == 1

    async def test_a_read_checkout_sent_back_is_accepted(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        checkout = await create(client, admin, checkout_body((tee.variant_id, 2)))
        body = {
            k: v for k, v in checkout.items() if k not in ("lineItems", "giftCards", "shippingLine")
        }
        body["email"] = "other@example.com"

        response = await client.put(f"{CHECKOUTS}/{checkout['token']}", json=body, headers=admin)

        assert response.status_code == 200, response.text
        assert response.json()["email"] == "other@example.com"
        assert response.json()["totalPrice"] == "20.00"

    async def test_an_unknown_token_is_404(self, client: httpx.AsyncClient, admin: Headers) -> None:
        read = await client.get(f"{CHECKOUTS}/nope", headers=admin)
        write = await client.put(f"{CHECKOUTS}/nope", json={"note": "x"}, headers=admin)
        assert (read.status_code, write.status_code) == (404, 404)
        assert read.json()["code"] == "NOT_FOUND"
