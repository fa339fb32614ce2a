"""The order's fulfillment status records its transition's event whichever change moved it,
on SQLite and PostgreSQL: becoming `fulfilled` records orders/fulfilled once, whether a
shipment, a refund of the last unshipped units or a cancellation took it there; becoming
`partial` records orders/partially_fulfilled, whether a shipment or a cancelled shipment did;
a change that leaves the status as it was records neither."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from shopdb.db import Database
from shopdb.models import Event
from tests.fixtures.catalog import Headers
from tests.orders.helpers import make_locations, make_variant, order_events
from tests.orders.test_cancel import cancel
from tests.orders.test_fulfillments import (
    ensure_fulfillment_orders,
    fulfil,
    fulfillment_status,
    fulfillments_url,
    placed_order,
)
from tests.orders.test_refunds import item, refund
from tests.orders.test_returns import close_return, open_return


async def order_of(
    client: httpx.AsyncClient, admin: Headers, database: Database, units: int
) -> tuple[dict[str, Any], int]:
    """A paid order of `units` tees (10 in stock) with its fulfillment order, and its line."""
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "10.00", {loc: 10})
    order = await placed_order(client, admin, (tee.variant_id, units))
    await ensure_fulfillment_orders(database, order["id"])
    return order, order["lineItems"][0]["id"]


async def shipped(client: httpx.AsyncClient, admin: Headers, order_id: int, **body: Any) -> int:
    response = await fulfil(client, admin, order_id, **body)
    assert response.status_code == 201, response.text
    fulfillment_id: int = response.json()["id"]
    return fulfillment_id


async def events_and_status(database: Database, order_id: int) -> tuple[list[str], str]:
    async with database.session() as session:
        return await order_events(session, order_id), await fulfillment_status(session, order_id)


async def transition_bodies(database: Database, order_id: int, topic: str) -> list[Any]:
    async with database.session() as session:
        rows = await session.scalars(
            select(Event.body)
            .where(
                Event.topic == topic, Event.subject_type == "Order", Event.subject_id == order_id
            )
            .order_by(Event.id)
        )
        return [(body["previousFulfillmentStatus"], body["fulfillmentStatus"]) for body in rows]


class TestARefundThatCompletesTheOrder:
    async def test_refunding_the_last_unshipped_units_records_orders_fulfilled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id = await order_of(client, admin, database, 3)
        await shipped(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 2, "cancel")]
        )

        assert response.status_code == 201, response.text
        assert await events_and_status(database, order["id"]) == (
            [
                "orders/create",
                "orders/paid",
                "orders/partially_fulfilled",
                "orders/fulfilled",
                "orders/updated",
            ],
            "fulfilled",
        )
        assert await transition_bodies(database, order["id"], "orders/fulfilled") == [
            ("partial", "fulfilled")
        ]

    async def test_a_restock_only_refund_that_completes_it_records_it_too(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id = await order_of(client, admin, database, 2)
        await shipped(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])

        response = await refund(
            client,
            admin,
            order["id"],
            refundLineItems=[item(line_id, 1, "no_restock")],
            transactions=[],
        )

        assert response.status_code == 201, response.text
        assert response.json()["transactions"] == []
        events, status = await events_and_status(database, order["id"])
        assert status == "fulfilled"
        assert events[-2:] == ["orders/fulfilled", "orders/updated"]
        assert events.count("orders/fulfilled") == 1

    async def test_a_refund_that_leaves_units_to_ship_records_no_transition(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id = await order_of(client, admin, database, 3)
        await shipped(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 1, "cancel")]
        )

        assert response.status_code == 201, response.text
        assert await events_and_status(database, order["id"]) == (
            ["orders/create", "orders/paid", "orders/partially_fulfilled", "orders/updated"],
            "partial",
        )

    async def test_every_unit_refunded_unshipped_is_no_fulfillment(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id = await order_of(client, admin, database, 2)

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 2, "cancel")]
        )

        assert response.status_code == 201, response.text
        assert await events_and_status(database, order["id"]) == (
            ["orders/create", "orders/paid", "orders/updated"],
            "unfulfilled",
        )

    async def test_a_cancellation_that_completes_it_records_orders_fulfilled_once(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id = await order_of(client, admin, database, 3)
        await shipped(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])
        back = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 1, "return")]
        )
        assert back.status_code == 201, back.text

        response = await cancel(client, admin, order["id"], reason="customer")

        assert response.status_code == 200, response.text
        assert response.json()["fulfillmentStatus"] == "fulfilled"
        events, status = await events_and_status(database, order["id"])
        assert status == "fulfilled"
        assert events.count("orders/fulfilled") == 1
        # The cancellation's refund took the last units off, then the order was cancelled.
        assert events[-4:] == [
            "orders/fulfilled",
            "orders/updated",
            "orders/cancelled",
            "orders/updated",
        ]


class TestOnceAndOnlyOnTransitions:
    async def test_a_returns_refund_of_a_fulfilled_order_records_no_second_fulfilled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id = await order_of(client, admin, database, 2)
        await shipped(client, admin, order["id"])
        opened = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 1}]
        )
        assert opened.status_code == 201, opened.text

        closed = await close_return(
            client, admin, order["id"], opened.json()["id"], {"refund": True}
        )

        assert closed.status_code == 200, closed.text
        assert closed.json()["refundId"] is not None
        events, status = await events_and_status(database, order["id"])
        assert status == "fulfilled"
        assert events.count("orders/fulfilled") == 1
        assert "orders/partially_fulfilled" not in events

    async def test_a_cancelled_shipment_back_to_partial_records_partially_fulfilled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id = await order_of(client, admin, database, 3)
        await shipped(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])
        second = await shipped(client, admin, order["id"])

        response = await client.post(
            f"{fulfillments_url(order['id'])}/{second}/cancel", headers=admin
        )

        assert response.status_code == 200, response.text
        assert await transition_bodies(database, order["id"], "orders/partially_fulfilled") == [
            ("unfulfilled", "partial"),
            ("fulfilled", "partial"),
        ]
        # Shipping the rest again makes it fulfilled again: a second transition, a second event.
        await shipped(client, admin, order["id"])
        assert await transition_bodies(database, order["id"], "orders/fulfilled") == [
            ("partial", "fulfilled"),
            ("partial", "fulfilled"),
        ]

    async def test_every_shipment_that_leaves_it_partial_records_partially_fulfilled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id = await order_of(client, admin, database, 3)

        for _ in range(2):
            await shipped(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])

        assert await transition_bodies(database, order["id"], "orders/partially_fulfilled") == [
            ("unfulfilled", "partial"),
            ("partial", "partial"),
        ]

    async def test_a_cancelled_shipment_back_to_unfulfilled_records_orders_updated(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, _ = await order_of(client, admin, database, 2)
        only = await shipped(client, admin, order["id"])

        response = await client.post(
            f"{fulfillments_url(order['id'])}/{only}/cancel", headers=admin
        )

        assert response.status_code == 200, response.text
        assert await events_and_status(database, order["id"]) == (
            ["orders/create", "orders/paid", "orders/fulfilled", "orders/updated"],
            "unfulfilled",
        )
        assert await transition_bodies(database, order["id"], "orders/updated") == [
            ("fulfilled", "unfulfilled")
        ]
