"""POST /api/v1/orders on SQLite and PostgreSQL: priced from the catalog, stock committed,
paid, recorded together; refused and declined orders leave nothing behind."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from shopdb.db import Database
from shopdb.jobs.kinds import ORDERS_CONFIRMATION_EMAIL, ORDERS_RELEASE_RESERVATION
from shopdb.keys import field_cipher
from shopdb.models import Job, Order, OrderLineItem
from shopdb.orders.repository import OrderRepository, StockCandidate
from shopdb.services import services_of
from tests.fixtures.catalog import Headers, TokenFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import (
    DECLINE,
    GATEWAY_ERROR,
    INSUFFICIENT_FUNDS,
    count,
    jobs_of,
    level,
    make_locations,
    make_variant,
    order_body,
    order_count,
    order_events,
    payment_mirror,
    place,
)


def first_read_sees_more_at(monkeypatch: pytest.MonkeyPatch, location_id: int, units: int) -> None:
    """The placement's first read of the stock sees `units` at `location_id`, as it would
    have before another order took them: its guarded update there then finds too few."""
    read = OrderRepository.stock_candidates
    stale: list[bool] = []

    async def read_before_another_order_took_it(
        repository: OrderRepository, item_ids: Any, at: int | None
    ) -> list[StockCandidate]:
        found = await read(repository, item_ids, at)
        if stale:
            return found
        stale.append(True)
        return [replace(c, available=units) if c.location_id == location_id else c for c in found]

    monkeypatch.setattr(OrderRepository, "stock_candidates", read_before_another_order_took_it)


class TestPlacing:
    async def test_a_paid_order_is_priced_committed_and_recorded_together(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "19.99", {loc: 10})
        mug = await make_variant(database, "7.50", {loc: 4}, title="Mug")

        response = await place(client, admin, order_body((tee.variant_id, 2), (mug.variant_id, 3)))

        assert response.status_code == 201, response.text
        order = response.json()
        assert response.headers["Location"] == f"/api/v1/orders/{order['id']}"
        assert order["number"] == f"#{order['orderNumber']}"
        assert order["orderNumber"] >= 1001
        assert order["email"] == "buyer@example.com"
        assert order["subtotalPrice"] == "62.48"
        assert order["totalDiscounts"] == "0.00"
        assert order["totalShipping"] == "0.00"
        assert order["totalTax"] == "0.00"
        assert order["totalPrice"] == "62.48"
        assert order["financialStatus"] == "paid"
        assert order["fulfillmentStatus"] == "unfulfilled"
        assert order["status"] == "open"
        assert [(li["variantId"], li["quantity"], li["price"]) for li in order["lineItems"]] == [
            (tee.variant_id, 2, "19.99"),
            (mug.variant_id, 3, "7.50"),
        ]
        assert all(li["locationId"] == loc for li in order["lineItems"])
        (payment,) = order["transactions"]
        assert payment["kind"] == "sale"
        assert payment["status"] == "success"
        assert payment["amount"] == "62.48"
        assert payment["cardLast4"] == "4242"
        assert order["fulfillments"] == []
        assert order["refunds"] == []

        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (8, 2)
            assert await level(session, mug.item_id, loc) == (1, 3)
            stored = await session.get(Order, order["id"])
            assert stored is not None
            assert stored.reserved_until is None
            # The email is sealed; the blind index finds it.
            cipher = field_cipher(services_of(app).settings)
            assert "buyer" not in stored.email
            assert stored.email_hash == cipher.blind_index("buyer@example.com")
            assert await order_events(session, order["id"]) == ["orders/create", "orders/paid"]
            assert await jobs_of(session, ORDERS_CONFIRMATION_EMAIL.name, order["id"]) == 1
            # Paid through a local gateway in one transaction: never a reservation to release.
            assert await jobs_of(session, ORDERS_RELEASE_RESERVATION.name, order["id"]) == 0
            truth, mirror = await payment_mirror(session, order["id"])
            assert len(truth) == 1
            assert truth == mirror

    async def test_the_confirmation_email_job_is_visible_to_order_readers(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        token_for: TokenFactory,
        database: Database,
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        order = (await place(client, admin, order_body((tee.variant_id, 1)))).json()
        async with database.session() as session:
            job_id = await session.scalar(
                select(Job.id).where(
                    Job.kind == ORDERS_CONFIRMATION_EMAIL.name,
                    Job.payload["orderId"].as_integer() == order["id"],
                )
            )

        response = await client.get(f"/api/v1/jobs/{job_id}", headers=token_for("orders:read"))

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "queued"
        assert response.json()["kind"] == "orders/confirmation_email"

    async def test_only_authorizes_when_capture_is_false(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        body = order_body((tee.variant_id, 1))
        body["payment"]["capture"] = False

        response = await place(client, admin, body)

        assert response.status_code == 201, response.text
        order = response.json()
        assert order["financialStatus"] == "authorized"
        (transaction,) = order["transactions"]
        assert (transaction["kind"], transaction["status"]) == ("authorization", "success")
        assert transaction["authorization"]
        async with database.session() as session:
            assert await order_events(session, order["id"]) == ["orders/create"]

    async def test_a_manual_payment_leaves_the_order_pending(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        body = order_body((tee.variant_id, 1), payment={"gateway": "manual"})

        response = await place(client, admin, body)

        assert response.status_code == 201, response.text
        assert response.json()["financialStatus"] == "pending"
        (transaction,) = response.json()["transactions"]
        assert transaction["status"] == "pending"

    async def test_untracked_items_are_sold_without_counting(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        gift = await make_variant(database, "5.00", {loc: 0}, tracked=False)

        response = await place(client, admin, order_body((gift.variant_id, 7)))

        assert response.status_code == 201, response.text
        assert response.json()["lineItems"][0]["locationId"] is None
        async with database.session() as session:
            assert await level(session, gift.item_id, loc) == (0, 0)

    async def test_lines_go_to_the_first_location_with_enough_stock(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        first, second = await make_locations(database, "First", "Second")
        tee = await make_variant(database, "10.00", {first: 1, second: 5})

        response = await place(client, admin, order_body((tee.variant_id, 3)))

        assert response.status_code == 201, response.text
        assert response.json()["lineItems"][0]["locationId"] == second
        async with database.session() as session:
            assert await level(session, tee.item_id, first) == (1, 0)
            assert await level(session, tee.item_id, second) == (2, 3)

    async def test_a_line_whose_first_choice_ran_out_meanwhile_ships_from_the_next(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        first, second = await make_locations(database, "First", "Second")
        tee = await make_variant(database, "10.00", {first: 1, second: 5})
        first_read_sees_more_at(monkeypatch, first, 5)

        response = await place(client, admin, order_body((tee.variant_id, 3)))

        assert response.status_code == 201, response.text
        (line,) = response.json()["lineItems"]
        assert line["locationId"] == second
        async with database.session() as session:
            assert await level(session, tee.item_id, first) == (1, 0)
            assert await level(session, tee.item_id, second) == (2, 3)
        # Its fulfillment order was opened again where the units are.
        opened = await client.get(
            f"/api/v1/orders/{response.json()['id']}/fulfillment-orders", headers=admin
        )
        ((fulfillment_order),) = opened.json()["items"]
        assert fulfillment_order["assignedLocationId"] == second
        assert [(i["lineItemId"], i["quantity"]) for i in fulfillment_order["lineItems"]] == [
            (line["id"], 3)
        ]

    async def test_under_a_key_the_stored_answer_is_the_one_after_the_move(
        self,
        client: httpx.AsyncClient,
        admin: Headers,
        database: Database,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # The answer is stored before the stock is locked, then again once the line moved.
        first, second = await make_locations(database, "First", "Second")
        tee = await make_variant(database, "10.00", {first: 1, second: 5})
        first_read_sees_more_at(monkeypatch, first, 5)
        keyed = {**admin, "Idempotency-Key": "moved-meanwhile"}

        response = await place(client, keyed, order_body((tee.variant_id, 3)))
        again = await place(client, keyed, order_body((tee.variant_id, 3)))

        assert response.status_code == 201, response.text
        assert response.json()["lineItems"][0]["locationId"] == second
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.content == response.content
        assert again.headers["Location"] == response.headers["Location"]

    async def test_under_a_key_the_answer_is_written_before_the_stock_is_locked(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        # Orders for the same variant wait on its stock rows from their UPDATE to the commit:
        # the key's stored answer is written before, not in that window.
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        written: list[str] = []

        def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            for table in ("idempotency_keys", "inventory_levels"):
                if (
                    statement.lstrip().upper().startswith(("UPDATE", "WITH"))
                    and table in (statement.split("SET", 1)[0])
                ):
                    written.append(table)

        engine = database.primary.sync_engine
        event.listen(engine, "before_cursor_execute", note)
        try:
            keyed = {**admin, "Idempotency-Key": "answer-first"}
            response = await place(client, keyed, order_body((tee.variant_id, 1)))
        finally:
            event.remove(engine, "before_cursor_execute", note)

        assert response.status_code == 201, response.text
        assert "idempotency_keys" in written
        assert "inventory_levels" in written
        assert written.index("idempotency_keys") < written.index("inventory_levels")

    async def test_the_requested_location_is_used(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        first, second = await make_locations(database, "First", "Second")
        tee = await make_variant(database, "10.00", {first: 5, second: 5})

        response = await place(client, admin, order_body((tee.variant_id, 2), locationId=second))

        assert response.status_code == 201, response.text
        async with database.session() as session:
            assert await level(session, tee.item_id, first) == (5, 0)
            assert await level(session, tee.item_id, second) == (3, 2)

    async def test_numbers_increase_from_one_order_to_the_next(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        numbers = []
        for _ in range(3):
            response = await place(client, admin, order_body((tee.variant_id, 1)))
            assert response.status_code == 201, response.text
            numbers.append(response.json()["orderNumber"])
        assert numbers == sorted(set(numbers))


class TestRefusals:
    async def test_too_few_units_is_409_naming_the_variant_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        plenty = await make_variant(database, "10.00", {loc: 50})
        scarce = await make_variant(database, "10.00", {loc: 2})

        response = await place(
            client, admin, order_body((plenty.variant_id, 1), (scarce.variant_id, 3))
        )

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "INSUFFICIENT_INVENTORY"
        assert response.json()["details"][0]["field"] == "lineItems[1].quantity"
        assert str(scarce.variant_id) in response.json()["details"][0]["message"]
        async with database.session() as session:
            assert await level(session, plenty.item_id, loc) == (50, 0)
            assert await level(session, scarce.item_id, loc) == (2, 0)
            assert await order_count(session) == 0

    async def test_a_line_out_of_stock_is_refused_before_anything_is_written(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        """Refused from the levels it read, before any work: not even an order number is
        taken (a PostgreSQL sequence keeps what was taken in a rolled-back transaction), so
        a flash sale's many refused buyers cost little."""
        (loc,) = await make_locations(database, "Main")
        plenty = await make_variant(database, "10.00", {loc: 5})
        scarce = await make_variant(database, "10.00", {loc: 1})
        before = await place(client, admin, order_body((plenty.variant_id, 1)))

        refused = await place(client, admin, order_body((scarce.variant_id, 2)))
        after = await place(client, admin, order_body((plenty.variant_id, 1)))

        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "INSUFFICIENT_INVENTORY"
        assert after.status_code == before.status_code == 201, after.text
        assert after.json()["orderNumber"] == before.json()["orderNumber"] + 1

    async def test_sold_out_is_told_before_the_buyer_and_the_shipping_are_read(
        self, client: httpx.AsyncClient, admin: Headers, database: Database, backend: Backend
    ) -> None:
        """A flash sale refuses most buyers: they are told from the catalog and the levels
        alone. An unknown customer and shipping rate would be 400s, after the stock."""
        (loc,) = await make_locations(database, "Main")
        scarce = await make_variant(database, "10.00", {loc: 1})
        body = order_body(
            (scarce.variant_id, 2),
            customerId=987654,
            shippingRateId=987654,
            shippingAddress={"city": "Paris", "countryCode": "FR"},
        )
        del body["email"]

        with statements_sent(backend.engine) as sent:
            refused = await place(client, admin, body)

        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "INSUFFICIENT_INVENTORY"
        assert [s for s in sent if "FROM customers" in s or "shipping_rates" in s] == []

    async def test_an_unknown_gateway_is_400_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        body = order_body((tee.variant_id, 1), payment={"gateway": "bitcoin", "token": "x"})

        response = await place(client, admin, body)

        assert response.status_code == 400, response.text
        assert response.json()["details"][0]["field"] == "payment.gateway"
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (5, 0)
            assert await order_count(session) == 0

    async def test_an_unknown_customer_is_400_naming_it(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        body = order_body((tee.variant_id, 1), customerId=987654)
        del body["email"]

        response = await place(client, admin, body)

        assert response.status_code == 400, response.text
        assert response.json()["details"][0]["field"] == "customerId"
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (5, 0)

    async def test_an_unknown_variant_is_400_naming_the_line(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        response = await place(client, admin, order_body((987654, 1)))

        assert response.status_code == 400, response.text
        assert response.json()["details"][0]["field"] == "lineItems[0].variantId"

    async def test_client_prices_are_refused(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        body = order_body((tee.variant_id, 1))
        body["lineItems"][0]["price"] = "0.01"

        response = await place(client, admin, body)

        assert response.status_code == 400, response.text
        async with database.session() as session:
            assert await order_count(session) == 0

    async def test_neither_customer_nor_email_is_400(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        body = order_body((tee.variant_id, 1))
        del body["email"]

        response = await place(client, admin, body)

        assert response.status_code == 400, response.text

    async def test_reading_permission_cannot_place(
        self, client: httpx.AsyncClient, token_for: TokenFactory, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        headers = token_for("orders:read")

        response = await place(client, headers, order_body((tee.variant_id, 1)))

        assert response.status_code == 403


class TestDeclines:
    async def _declined(
        self, client: httpx.AsyncClient, admin: Headers, database: Database, token: str
    ) -> tuple[httpx.Response, int, int]:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        body = order_body((tee.variant_id, 2))
        body["payment"]["token"] = token
        return await place(client, admin, body), tee.item_id, loc

    async def test_a_declined_card_is_402_and_leaves_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        response, item, loc = await self._declined(client, admin, database, DECLINE)

        assert response.status_code == 402, response.text
        assert response.json()["code"] == "PAYMENT_DECLINED"
        assert response.json()["details"] == [{"field": "payment", "message": "card_declined"}]
        async with database.session() as session:
            assert await level(session, item, loc) == (5, 0)
            assert await order_count(session) == 0
            assert await count(session, OrderLineItem) == 0

    async def test_insufficient_funds_names_its_reason(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        response, item, loc = await self._declined(client, admin, database, INSUFFICIENT_FUNDS)

        assert response.status_code == 402, response.text
        assert response.json()["details"][0]["message"] == "insufficient_funds"
        async with database.session() as session:
            assert await level(session, item, loc) == (5, 0)

    async def test_a_gateway_error_is_502_and_leaves_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        response, item, loc = await self._declined(client, admin, database, GATEWAY_ERROR)

        assert response.status_code == 502, response.text
        assert response.json()["code"] == "PAYMENT_GATEWAY_ERROR"
        async with database.session() as session:
            assert await level(session, item, loc) == (5, 0)
            assert await order_count(session) == 0
