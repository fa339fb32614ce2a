"""Fulfillment orders and fulfillment services on SQLite and PostgreSQL: opened at placement
(one per location, or per the location's service), moved by fulfillments, and Shopify's
request / accept / reject / close / cancel; the services' CRUD."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import delete, select, update

from shopdb.db import Database
from shopdb.kit.types import utcnow
from shopdb.models import (
    Event,
    FulfillmentOrder,
    FulfillmentOrderLineItem,
    FulfillmentService,
    Order,
    OrderLineItem,
)
from shopdb.orders.fulfillments.service import (
    cancel_fulfillment_orders,
    open_fulfillment_orders,
    settle_fulfillment_orders,
)
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import ORDERS, count, make_locations, make_variant
from tests.orders.test_fulfillments import (
    ensure_fulfillment_orders,
    fulfil,
    fulfillments_url,
    placed_order,
)

SERVICES = "/api/v1/fulfillment-services"
FULFILLMENT_ORDERS = "/api/v1/fulfillment-orders"


async def fulfillment_orders(
    client: httpx.AsyncClient, headers: Headers, order_id: int
) -> list[dict[str, Any]]:
    response = await client.get(f"{ORDERS}/{order_id}/fulfillment-orders", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def manual_service_id(database: Database) -> int:
    async with database.session() as session:
        found = await session.scalar(
            select(FulfillmentService.id).where(FulfillmentService.handle == "manual")
        )
    assert found is not None
    return int(found)


def lines_of(fulfillment_order: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [
        (li["lineItemId"], li["quantity"], li["fulfillableQuantity"])
        for li in fulfillment_order["lineItems"]
    ]


async def action(
    client: httpx.AsyncClient, headers: Headers, fo_id: int, name: str, **body: Any
) -> httpx.Response:
    return await client.post(f"{FULFILLMENT_ORDERS}/{fo_id}/{name}", json=body, headers=headers)


class TestOpenedAtPlacement:
    async def test_one_per_location_with_untracked_lines_joining_the_first(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        east, west = await make_locations(database, "East", "West")
        tee = await make_variant(database, "10.00", {east: 5})
        mug = await make_variant(database, "4.00", {west: 5}, title="Mug")
        gift = await make_variant(database, "1.00", {east: 0}, tracked=False, title="Card")
        order = await placed_order(
            client,
            admin,
            (tee.variant_id, 2),
            (mug.variant_id, 1),
            (gift.variant_id, 3),
            shippingAddress={"city": "Paris", "countryCode": "FR"},
        )
        tee_line, mug_line, gift_line = (li["id"] for li in order["lineItems"])

        await ensure_fulfillment_orders(database, order["id"])

        found = await fulfillment_orders(client, admin, order["id"])
        manual = await manual_service_id(database)
        assert [(fo["assignedLocationId"], fo["fulfillmentServiceId"]) for fo in found] == [
            (east, manual),
            (west, manual),
        ]
        assert all(fo["status"] == "open" for fo in found)
        assert all(fo["requestStatus"] == "unsubmitted" for fo in found)
        assert all(fo["orderId"] == order["id"] for fo in found)
        assert found[0]["destination"]["city"] == "Paris"
        assert lines_of(found[0]) == [(tee_line, 2, 2), (gift_line, 3, 3)]
        assert lines_of(found[1]) == [(mug_line, 1, 1)]
        one = await client.get(f"{FULFILLMENT_ORDERS}/{found[1]['id']}", headers=admin)
        assert one.status_code == 200
        assert one.json() == found[1]

    async def test_untracked_lines_only_get_a_fulfillment_order_of_their_own(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        gift = await make_variant(database, "1.00", {loc: 0}, tracked=False, title="Card")
        order = await placed_order(client, admin, (gift.variant_id, 1))

        await ensure_fulfillment_orders(database, order["id"])

        (only,) = await fulfillment_orders(client, admin, order["id"])
        assert only["assignedLocationId"] is None
        assert only["fulfillmentServiceId"] == await manual_service_id(database)
        assert lines_of(only) == [(order["lineItems"][0]["id"], 1, 1)]

    async def test_a_location_of_a_fulfillment_service_gets_the_service(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (warehouse,) = await make_locations(database, "3PL warehouse")
        created = await client.post(
            SERVICES, json={"name": "Acme 3PL", "locationId": warehouse}, headers=admin
        )
        assert created.status_code == 201, created.text
        tee = await make_variant(database, "10.00", {warehouse: 5})
        order = await placed_order(client, admin, (tee.variant_id, 1))

        await ensure_fulfillment_orders(database, order["id"])

        (only,) = await fulfillment_orders(client, admin, order["id"])
        assert only["fulfillmentServiceId"] == created.json()["id"]
        assert only["assignedLocationId"] == warehouse

    async def test_one_statement_on_postgresql_two_elsewhere_whatever_the_lines_and_locations(
        self, client: httpx.AsyncClient, admin: Headers, database: Database, backend: Backend
    ) -> None:
        locations = await make_locations(database, "A", "B", "C")
        variants = [await make_variant(database, "1.00", {loc: 5}) for loc in locations]
        order = await placed_order(client, admin, *((v.variant_id, 1) for v in variants))
        async with database.session() as session:
            placed = await session.get(Order, order["id"])
            assert placed is not None
            lines = list(
                await session.scalars(
                    select(OrderLineItem)
                    .where(OrderLineItem.order_id == order["id"])
                    .order_by(OrderLineItem.id)
                )
            )
            await session.execute(
                delete(FulfillmentOrder).where(FulfillmentOrder.order_id == order["id"])
            )

            with statements_sent(backend.engine, first_word=True) as sent:
                await open_fulfillment_orders(session, placed, lines)

            assert sent == (["WITH"] if backend.name == "postgresql" else ["INSERT", "INSERT"])
            # Each line in the fulfillment order of its own location, whatever order the
            # fulfillment orders' rows were written in.
            opened = (
                await session.execute(
                    select(
                        FulfillmentOrderLineItem.line_item_id, FulfillmentOrder.assigned_location_id
                    )
                    .join(FulfillmentOrder)
                    .where(FulfillmentOrder.order_id == placed.id)
                    .order_by(FulfillmentOrderLineItem.line_item_id)
                )
            ).all()
            assert [tuple(row) for row in opened] == [(line.id, line.location_id) for line in lines]
            assert {line.location_id for line in lines} == set(locations)


class TestFollowingFulfillments:
    async def test_in_progress_then_closed_then_reopened_by_a_cancelled_fulfillment(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 3))
        line_id = order["lineItems"][0]["id"]
        await ensure_fulfillment_orders(database, order["id"])

        await fulfil(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])
        (partly,) = await fulfillment_orders(client, admin, order["id"])
        last = (await fulfil(client, admin, order["id"])).json()
        (done,) = await fulfillment_orders(client, admin, order["id"])
        await client.post(f"{fulfillments_url(order['id'])}/{last['id']}/cancel", headers=admin)
        (reopened,) = await fulfillment_orders(client, admin, order["id"])

        assert (partly["status"], partly["fulfilledAt"], lines_of(partly)) == (
            "in_progress",
            None,
            [(line_id, 3, 2)],
        )
        assert done["status"] == "closed"
        assert done["fulfilledAt"] is not None
        assert lines_of(done) == [(line_id, 3, 0)]
        assert (reopened["status"], reopened["fulfilledAt"], lines_of(reopened)) == (
            "in_progress",
            None,
            [(line_id, 3, 2)],
        )
        assert reopened["id"] == partly["id"] == done["id"]

    async def test_a_closed_fulfillment_order_leaves_its_units_to_a_new_one(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2))
        line_id = order["lineItems"][0]["id"]
        await ensure_fulfillment_orders(database, order["id"])
        (first,) = await fulfillment_orders(client, admin, order["id"])

        closed = await action(client, admin, first["id"], "close", message="out of boxes")
        shipped = await fulfil(client, admin, order["id"])

        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed"
        assert lines_of(closed.json()) == [(line_id, 2, 0)]
        assert shipped.status_code == 201, shipped.text
        old, new = await fulfillment_orders(client, admin, order["id"])
        assert (old["id"], old["status"], old["fulfilledAt"]) == (first["id"], "closed", None)
        assert new["status"] == "closed"
        assert new["fulfilledAt"] is not None
        assert lines_of(new) == [(line_id, 2, 0)]


class TestForTheRefundsAndCancelWork:
    async def test_units_all_removed_close_it_without_fulfilling_it(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2))
        line_id = order["lineItems"][0]["id"]
        await ensure_fulfillment_orders(database, order["id"])

        async with database.session() as session:  # a refund took both units off
            await session.execute(
                update(OrderLineItem).where(OrderLineItem.id == line_id).values(removed_quantity=2)
            )
            await settle_fulfillment_orders(session, [line_id], utcnow())

        (fo,) = await fulfillment_orders(client, admin, order["id"])
        assert (fo["status"], fo["fulfilledAt"], lines_of(fo)) == (
            "closed",
            None,
            [(line_id, 2, 0)],
        )

    async def test_cancelling_the_order_cancels_what_is_still_open(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        east, west = await make_locations(database, "East", "West")
        tee = await make_variant(database, "10.00", {east: 5})
        mug = await make_variant(database, "4.00", {west: 5}, title="Mug")
        order = await placed_order(client, admin, (tee.variant_id, 1), (mug.variant_id, 1))
        await ensure_fulfillment_orders(database, order["id"])
        shipped = await fulfil(client, admin, order["id"], locationId=east)
        assert shipped.status_code == 201, shipped.text

        async with database.session() as session:
            await cancel_fulfillment_orders(session, order["id"], utcnow())

        done, rest = await fulfillment_orders(client, admin, order["id"])
        assert (done["assignedLocationId"], done["status"]) == (east, "closed")
        assert done["fulfilledAt"] is not None
        assert (rest["assignedLocationId"], rest["status"]) == (west, "cancelled")
        assert lines_of(rest) == [(order["lineItems"][1]["id"], 1, 0)]


class TestRequestFlow:
    async def test_request_accept_and_close(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 1))
        await ensure_fulfillment_orders(database, order["id"])
        (fo,) = await fulfillment_orders(client, admin, order["id"])
        service = (await client.post(SERVICES, json={"name": "Ship Co"}, headers=admin)).json()

        without = await action(client, admin, fo["id"], "request")
        requested = await action(
            client, admin, fo["id"], "request", fulfillmentServiceId=service["id"], message="pls"
        )
        twice = await action(client, admin, fo["id"], "request")
        accepted = await action(client, admin, fo["id"], "accept")
        closed = await action(client, admin, fo["id"], "close")

        assert without.status_code == 422
        assert without.json()["code"] == "FULFILLMENT_ORDER_NO_SERVICE"
        assert requested.status_code == 200, requested.text
        assert requested.json()["requestStatus"] == "submitted"
        assert requested.json()["status"] == "open"
        assert requested.json()["fulfillmentServiceId"] == service["id"]
        assert requested.json()["requestedAt"] is not None
        assert twice.status_code == 422
        assert twice.json()["code"] == "FULFILLMENT_ORDER_INVALID_TRANSITION"
        assert (accepted.json()["status"], accepted.json()["requestStatus"]) == (
            "in_progress",
            "accepted",
        )
        assert (closed.json()["status"], closed.json()["requestStatus"]) == ("closed", "closed")
        async with database.session() as session:
            events = list(
                await session.execute(
                    select(Event.topic, Event.body)
                    .where(Event.subject_type == "FulfillmentOrder", Event.subject_id == fo["id"])
                    .order_by(Event.id)
                )
            )
        assert [e[0] for e in events] == [
            "fulfillment_orders/fulfillment_request_submitted",
            "fulfillment_orders/fulfillment_request_accepted",
            "fulfillment_orders/closed",
        ]
        assert events[0][1]["message"] == "pls"

    async def test_reject_then_request_again_and_cancel(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        created = await client.post(
            SERVICES, json={"name": "Acme", "locationId": loc}, headers=admin
        )
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 1))
        await ensure_fulfillment_orders(database, order["id"])
        (fo,) = await fulfillment_orders(client, admin, order["id"])
        assert fo["fulfillmentServiceId"] == created.json()["id"]

        early_accept = await action(client, admin, fo["id"], "accept")
        await action(client, admin, fo["id"], "request")
        rejected = await action(client, admin, fo["id"], "reject", message="no stock")
        again = await action(client, admin, fo["id"], "request")
        cancelled = await action(client, admin, fo["id"], "cancel")
        after = await action(client, admin, fo["id"], "close")

        assert early_accept.status_code == 422
        assert early_accept.json()["code"] == "FULFILLMENT_ORDER_INVALID_TRANSITION"
        assert (rejected.json()["status"], rejected.json()["requestStatus"]) == (
            "open",
            "rejected",
        )
        assert again.json()["requestStatus"] == "submitted"
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert lines_of(cancelled.json()) == [(order["lineItems"][0]["id"], 1, 0)]
        assert after.status_code == 422
        async with database.session() as session:
            stored = await session.get(FulfillmentOrder, fo["id"])
            assert stored is not None
            assert (stored.status, stored.request_status) == ("cancelled", "submitted")

    async def test_unknown_fulfillment_orders_are_404(
        self, client: httpx.AsyncClient, admin: Headers
    ) -> None:
        read = await client.get(f"{FULFILLMENT_ORDERS}/987654321", headers=admin)
        act = await action(client, admin, 987654321, "cancel")
        listed = await client.get(f"{ORDERS}/987654321/fulfillment-orders", headers=admin)

        assert read.status_code == act.status_code == listed.status_code == 404


class TestFulfillmentServices:
    async def test_create_read_update_and_delete(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")

        created = await client.post(
            SERVICES,
            json={"name": "Fast Ship Co!", "trackingSupport": True, "format": "xml"},
            headers=admin,
        )
        duplicate = await client.post(SERVICES, json={"name": "fast ship co"}, headers=admin)

        assert created.status_code == 201, created.text
        body = created.json()
        assert created.headers["Location"] == f"{SERVICES}/{body['id']}"
        assert {k: body[k] for k in ("name", "handle", "serviceType", "format")} == {
            "name": "Fast Ship Co!",
            "handle": "fast-ship-co",
            "serviceType": "third_party",
            "format": "xml",
        }
        assert (body["trackingSupport"], body["inventoryManagement"], body["locationId"]) == (
            True,
            False,
            None,
        )
        assert duplicate.status_code == 409
        assert duplicate.json()["code"] == "FULFILLMENT_SERVICE_HANDLE_TAKEN"

        updated = await client.put(
            f"{SERVICES}/{body['id']}", json={"name": "Fast", "locationId": loc}, headers=admin
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["name"], updated.json()["locationId"]) == ("Fast", loc)
        assert updated.json()["handle"] == "fast-ship-co"
        fetched = await client.get(f"{SERVICES}/{body['id']}", headers=admin)
        assert fetched.json() == updated.json()
        listed = (await client.get(SERVICES, headers=admin)).json()["items"]
        assert [s["handle"] for s in listed if s["handle"] in ("manual", "fast-ship-co")] == [
            "manual",
            "fast-ship-co",
        ]

        deleted = await client.delete(f"{SERVICES}/{body['id']}", headers=admin)
        assert deleted.status_code == 204
        assert (await client.get(f"{SERVICES}/{body['id']}", headers=admin)).status_code == 404
        async with database.session() as session:
            topics = list(
                await session.scalars(
                    select(Event.topic)
                    .where(
                        Event.subject_type == "FulfillmentService", Event.subject_id == body["id"]
                    )
                    .order_by(Event.id)
                )
            )
        assert topics == [
            "fulfillment_services/create",
            "fulfillment_services/update",
            "fulfillment_services/delete",
        ]

    async def test_a_service_in_use_and_the_manual_one_stay(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        service = (
            await client.post(SERVICES, json={"name": "Busy", "locationId": loc}, headers=admin)
        ).json()
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 1))
        await ensure_fulfillment_orders(database, order["id"])
        manual = await manual_service_id(database)

        in_use = await client.delete(f"{SERVICES}/{service['id']}", headers=admin)
        built_in = await client.delete(f"{SERVICES}/{manual}", headers=admin)
        renamed = await client.put(f"{SERVICES}/{manual}", json={"name": "x"}, headers=admin)
        unknown_location = await client.post(
            SERVICES, json={"name": "Nowhere", "locationId": 987654321}, headers=admin
        )

        assert in_use.status_code == 422
        assert in_use.json()["code"] == "FULFILLMENT_SERVICE_IN_USE"
        assert built_in.status_code == renamed.status_code == 422
        assert built_in.json()["code"] == "FULFILLMENT_SERVICE_BUILT_IN"
        assert unknown_location.status_code == 400
        async with database.session() as session:
            assert await count(session, FulfillmentService, FulfillmentService.id == manual) == 1
            assert (
                await count(session, FulfillmentService, FulfillmentService.id == service["id"])
                == 1
            )
