"""POST/PUT/GET /api/v1/orders/{id}/fulfillments on SQLite and PostgreSQL: units shipped
never exceed ordered - fulfilled - removed, committed stock leaves with them (and comes back
when the fulfillment is cancelled), the order's fulfillmentStatus follows, and
order_fulfillments mirrors fulfillments_enhanced row for row."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.jobs.kinds import ORDERS_SHIPPING_CONFIRMATION_EMAIL
from shopdb.models import (
    Event,
    FulfillmentEnhanced,
    FulfillmentLineItem,
    FulfillmentOrder,
    InventoryAdjustment,
    InventoryLevel,
    Order,
    OrderFulfillment,
    OrderLineItem,
)
from shopdb.orders.fulfillments.service import fulfillments_of, open_fulfillment_orders
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.helpers import (
    ORDERS,
    count,
    jobs_of,
    level,
    make_locations,
    make_variant,
    order_body,
    order_events,
    place,
)


async def placed_order(
    client: httpx.AsyncClient, headers: Headers, *lines: tuple[int, int], **fields: Any
) -> dict[str, Any]:
    response = await place(client, headers, order_body(*lines, **fields))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def ensure_fulfillment_orders(database: Database, order_id: int) -> None:
    """What placement does once the lead wires it in (open_fulfillment_orders); a no-op
    for an order that already has them."""
    async with database.session() as session:
        if await count(session, FulfillmentOrder, FulfillmentOrder.order_id == order_id):
            return
        order = await session.get(Order, order_id)
        assert order is not None
        lines = list(
            await session.scalars(
                select(OrderLineItem)
                .where(OrderLineItem.order_id == order_id)
                .order_by(OrderLineItem.id)
            )
        )
        await open_fulfillment_orders(session, order, lines)


def fulfillments_url(order_id: int) -> str:
    return f"{ORDERS}/{order_id}/fulfillments"


async def fulfil(
    client: httpx.AsyncClient, headers: Headers, order_id: int, **body: Any
) -> httpx.Response:
    return await client.post(fulfillments_url(order_id), json=body, headers=headers)


async def line_quantities(session: AsyncSession, order_id: int) -> list[tuple[int, int, int]]:
    rows = await session.execute(
        select(
            OrderLineItem.quantity,
            OrderLineItem.fulfilled_quantity,
            OrderLineItem.removed_quantity,
        )
        .where(OrderLineItem.order_id == order_id)
        .order_by(OrderLineItem.id)
    )
    return [(int(r[0]), int(r[1]), int(r[2])) for r in rows]


async def fulfillment_status(session: AsyncSession, order_id: int) -> str:
    found = await session.scalar(select(Order.fulfillment_status).where(Order.id == order_id))
    assert found is not None
    return str(found)


async def both_tables(session: AsyncSession, order_id: int) -> tuple[list[Any], list[Any]]:
    """(fulfillments_enhanced, order_fulfillments) of an order, comparable row for row."""
    truth = await session.execute(
        select(
            FulfillmentEnhanced.id,
            FulfillmentEnhanced.status,
            FulfillmentEnhanced.tracking_company,
            FulfillmentEnhanced.tracking_numbers,
            FulfillmentEnhanced.tracking_urls,
        )
        .where(FulfillmentEnhanced.order_id == order_id)
        .order_by(FulfillmentEnhanced.id)
    )
    mirror = await session.execute(
        select(
            OrderFulfillment.fulfillment_id,
            OrderFulfillment.status,
            OrderFulfillment.tracking_company,
            OrderFulfillment.tracking_number,
            OrderFulfillment.tracking_url,
        )
        .where(OrderFulfillment.order_id == order_id)
        .order_by(OrderFulfillment.fulfillment_id)
    )
    expected = [(r[0], r[1], r[2], (r[3] or [None])[0], (r[4] or [None])[0]) for r in truth]
    return expected, [tuple(r) for r in mirror]


class TestFulfilling:
    async def test_fulfilling_everything_ships_each_unit_and_empties_committed(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "19.99", {loc: 10})
        mug = await make_variant(database, "7.50", {loc: 4}, title="Mug")
        order = await placed_order(client, admin, (tee.variant_id, 2), (mug.variant_id, 3))
        tee_line, mug_line = (li["id"] for li in order["lineItems"])

        response = await fulfil(
            client,
            admin,
            order["id"],
            trackingCompany="UPS",
            trackingNumbers=["1Z999"],
            trackingUrls=["https://ups.example/1Z999"],
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["Location"] == f"{fulfillments_url(order['id'])}/{body['id']}"
        assert body["orderId"] == order["id"]
        assert body["status"] == "success"
        assert body["locationId"] == loc
        assert body["trackingCompany"] == "UPS"
        assert body["trackingNumbers"] == ["1Z999"]
        assert body["trackingUrls"] == ["https://ups.example/1Z999"]
        assert body["lineItems"] == [
            {"id": tee_line, "quantity": 2},
            {"id": mug_line, "quantity": 3},
        ]
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(2, 2, 0), (3, 3, 0)]
            # available untouched, committed gone (on hand dropped by as many)
            assert await level(session, tee.item_id, loc) == (8, 0)
            assert await level(session, mug.item_id, loc) == (1, 0)
            assert await fulfillment_status(session, order["id"]) == "fulfilled"
            assert await order_events(session, order["id"]) == [
                "orders/create",
                "orders/paid",
                "orders/fulfilled",
            ]
            created = await session.scalar(
                select(Event.body).where(
                    Event.topic == "fulfillments/create", Event.subject_id == body["id"]
                )
            )
            assert created == body

    async def test_a_partial_fulfillment_then_the_rest(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 3))
        line_id = order["lineItems"][0]["id"]

        first = await fulfil(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])

        assert first.status_code == 201, first.text
        async with database.session() as session:
            assert await fulfillment_status(session, order["id"]) == "partial"
            assert await level(session, tee.item_id, loc) == (7, 2)

        second = await fulfil(client, admin, order["id"])

        assert second.status_code == 201, second.text
        assert second.json()["lineItems"] == [{"id": line_id, "quantity": 2}]
        listed = await client.get(fulfillments_url(order["id"]), headers=admin)
        assert listed.status_code == 200
        assert [f["lineItems"] for f in listed.json()["items"]] == [
            [{"id": line_id, "quantity": 1}],
            [{"id": line_id, "quantity": 2}],
        ]
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(3, 3, 0)]
            assert await level(session, tee.item_id, loc) == (7, 0)
            assert await fulfillment_status(session, order["id"]) == "fulfilled"
            assert await order_events(session, order["id"]) == [
                "orders/create",
                "orders/paid",
                "orders/partially_fulfilled",
                "orders/fulfilled",
            ]
            names = list(
                await session.scalars(
                    select(FulfillmentEnhanced.name)
                    .where(FulfillmentEnhanced.order_id == order["id"])
                    .order_by(FulfillmentEnhanced.id)
                )
            )
        assert names == [f"{order['number']}.1", f"{order['number']}.2"]

    async def test_more_than_is_left_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2))
        line_id = order["lineItems"][0]["id"]

        response = await fulfil(
            client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 3}]
        )

        assert response.status_code == 422
        assert response.json()["code"] == "FULFILLMENT_EXCEEDS_FULFILLABLE"
        assert response.json()["details"] == [
            {"field": "lineItems[0].quantity", "message": "at most 2"}
        ]
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(2, 0, 0)]
            assert await level(session, tee.item_id, loc) == (8, 2)
            assert await count(session, FulfillmentEnhanced) == 0
            assert await count(session, OrderFulfillment) == 0
            assert await fulfillment_status(session, order["id"]) == "unfulfilled"
            assert await order_events(session, order["id"]) == ["orders/create", "orders/paid"]

    async def test_removed_units_are_not_fulfillable(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 3))
        line_id = order["lineItems"][0]["id"]
        async with database.session() as session:  # a refund took one unshipped unit off
            await session.execute(
                update(OrderLineItem).where(OrderLineItem.id == line_id).values(removed_quantity=1)
            )

        refused = await fulfil(
            client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 3}]
        )
        everything = await fulfil(client, admin, order["id"])

        assert refused.status_code == 422
        assert refused.json()["code"] == "FULFILLMENT_EXCEEDS_FULFILLABLE"
        assert everything.status_code == 201, everything.text
        assert everything.json()["lineItems"] == [{"id": line_id, "quantity": 2}]
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(3, 2, 1)]
            assert await fulfillment_status(session, order["id"]) == "fulfilled"
        nothing = await fulfil(client, admin, order["id"])
        assert nothing.status_code == 422
        assert nothing.json()["code"] == "NOTHING_TO_FULFIL"

    async def test_a_line_of_another_order_is_422(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 1))
        other = await placed_order(client, admin, (tee.variant_id, 1))

        response = await fulfil(
            client,
            admin,
            order["id"],
            lineItems=[{"id": other["lineItems"][0]["id"], "quantity": 1}],
        )

        assert response.status_code == 422
        assert response.json()["code"] == "LINE_ITEM_NOT_FOUND"
        assert response.json()["details"][0]["field"] == "lineItems[0].id"
        async with database.session() as session:
            assert await line_quantities(session, other["id"]) == [(1, 0, 0)]

    async def test_an_unknown_order_is_404_and_a_line_twice_is_400(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        missing = await fulfil(client, admin, 987654321)
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2))
        line_id = order["lineItems"][0]["id"]
        twice = await fulfil(
            client,
            admin,
            order["id"],
            lineItems=[{"id": line_id, "quantity": 1}, {"id": line_id, "quantity": 1}],
        )

        assert missing.status_code == 404
        assert missing.json()["code"] == "NOT_FOUND"
        assert twice.status_code == 400
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(2, 0, 0)]

    async def test_units_ship_from_where_they_were_committed(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        main, other = await make_locations(database, "Main", "Other")
        tee = await make_variant(database, "10.00", {main: 10, other: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2), locationId=main)
        line_id = order["lineItems"][0]["id"]

        wrong = await fulfil(
            client,
            admin,
            order["id"],
            locationId=other,
            lineItems=[{"id": line_id, "quantity": 1}],
        )
        nothing_there = await fulfil(client, admin, order["id"], locationId=other)

        assert wrong.status_code == 422
        assert wrong.json()["code"] == "FULFILLMENT_LOCATION_MISMATCH"
        assert nothing_there.status_code == 422
        assert nothing_there.json()["code"] == "NOTHING_TO_FULFIL"
        unknown = await fulfil(client, admin, order["id"], locationId=987654321)
        assert unknown.status_code == 400
        assert unknown.json()["details"] == [{"field": "locationId", "message": "does not exist"}]
        right = await fulfil(client, admin, order["id"], locationId=main)
        assert right.status_code == 201, right.text
        async with database.session() as session:
            assert await level(session, tee.item_id, main) == (8, 0)
            assert await level(session, tee.item_id, other) == (10, 0)

    async def test_an_untracked_line_ships_without_moving_stock(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        gift = await make_variant(database, "5.00", {loc: 0}, tracked=False, title="Gift")
        order = await placed_order(client, admin, (gift.variant_id, 2))
        async with database.session() as session:
            adjustments = await count(session, InventoryAdjustment)

        response = await fulfil(client, admin, order["id"])

        assert response.status_code == 201, response.text
        assert response.json()["locationId"] is None
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(2, 2, 0)]
            assert await count(session, InventoryAdjustment) == adjustments
            assert await fulfillment_status(session, order["id"]) == "fulfilled"

    async def test_committed_units_gone_from_the_location_refuse_it_all(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2))
        async with database.session() as session:  # committed units written off meanwhile
            await session.execute(
                update(InventoryLevel)
                .where(InventoryLevel.inventory_item_id == tee.item_id)
                .values(committed=1)
            )

        response = await fulfil(client, admin, order["id"])

        assert response.status_code == 409
        assert response.json()["code"] == "INSUFFICIENT_INVENTORY"
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(2, 0, 0)]
            assert await level(session, tee.item_id, loc) == (8, 1)
            assert await count(session, FulfillmentEnhanced) == 0
            assert await fulfillment_status(session, order["id"]) == "unfulfilled"

    async def test_a_cancelled_order_cannot_be_fulfilled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 1))
        async with database.session() as session:
            await session.execute(
                update(Order).where(Order.id == order["id"]).values(cancelled_at=Order.created_at)
            )

        response = await fulfil(client, admin, order["id"])

        assert response.status_code == 422
        assert response.json()["code"] == "ORDER_CANCELLED"
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(1, 0, 0)]

    async def test_notify_customer_queues_the_shipping_confirmation(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2))
        line_id = order["lineItems"][0]["id"]

        quiet = await fulfil(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])
        loud = await fulfil(client, admin, order["id"], notifyCustomer=True)

        assert quiet.status_code == loud.status_code == 201
        async with database.session() as session:
            assert await jobs_of(session, ORDERS_SHIPPING_CONFIRMATION_EMAIL.name, order["id"]) == 1


class TestTracking:
    async def test_updating_tracking_rewrites_both_tables_and_records_the_event(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 1))
        created = (await fulfil(client, admin, order["id"], trackingCompany="UPS")).json()
        url = f"{fulfillments_url(order['id'])}/{created['id']}"

        response = await client.put(
            url,
            json={
                "trackingCompany": "DHL",
                "trackingNumbers": ["JD01", "JD02"],
                "trackingUrls": ["https://dhl.example/JD01"],
                "notifyCustomer": True,
            },
            headers=admin,
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["trackingCompany"], body["trackingNumbers"], body["trackingUrls"]) == (
            "DHL",
            ["JD01", "JD02"],
            ["https://dhl.example/JD01"],
        )
        assert body["lineItems"] == created["lineItems"]
        assert (await client.get(url, headers=admin)).json() == body
        async with database.session() as session:
            truth, mirror = await both_tables(session, order["id"])
            assert (
                mirror
                == truth
                == [(created["id"], "success", "DHL", "JD01", "https://dhl.example/JD01")]
            )
            topics = list(
                await session.scalars(
                    select(Event.topic)
                    .where(Event.subject_type == "Fulfillment", Event.subject_id == created["id"])
                    .order_by(Event.id)
                )
            )
            assert topics == ["fulfillments/create", "fulfillments/update"]
            assert await jobs_of(session, ORDERS_SHIPPING_CONFIRMATION_EMAIL.name, order["id"]) == 1

    async def test_an_unknown_fulfillment_is_404(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 1))
        other = await placed_order(client, admin, (tee.variant_id, 1))
        theirs = (await fulfil(client, admin, other["id"])).json()

        put = await client.put(
            f"{fulfillments_url(order['id'])}/{theirs['id']}",
            json={"trackingCompany": "X"},
            headers=admin,
        )
        cancel = await client.post(
            f"{fulfillments_url(order['id'])}/{theirs['id']}/cancel", headers=admin
        )

        assert put.status_code == cancel.status_code == 404
        async with database.session() as session:
            truth, _ = await both_tables(session, other["id"])
            assert truth == [(theirs["id"], "success", None, None, None)]


class TestCancelling:
    async def test_a_cancelled_fulfillment_puts_its_units_back(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 3))
        line_id = order["lineItems"][0]["id"]
        first = (
            await fulfil(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])
        ).json()
        second = (await fulfil(client, admin, order["id"], trackingNumbers=["T2"])).json()

        response = await client.post(
            f"{fulfillments_url(order['id'])}/{second['id']}/cancel", headers=admin
        )

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "cancelled"
        assert response.json()["lineItems"] == [{"id": line_id, "quantity": 2}]
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(3, 1, 0)]
            assert await level(session, tee.item_id, loc) == (7, 2)
            assert await fulfillment_status(session, order["id"]) == "partial"
            truth, mirror = await both_tables(session, order["id"])
            assert (
                mirror
                == truth
                == [
                    (first["id"], "success", None, None, None),
                    (second["id"], "cancelled", None, "T2", None),
                ]
            )
            # Back to partial: the transition's own event, and the change's.
            assert await order_events(session, order["id"]) == [
                "orders/create",
                "orders/paid",
                "orders/partially_fulfilled",
                "orders/fulfilled",
                "orders/partially_fulfilled",
                "orders/updated",
            ]

        again = await client.post(
            f"{fulfillments_url(order['id'])}/{second['id']}/cancel", headers=admin
        )
        assert again.status_code == 422
        assert again.json()["code"] == "FULFILLMENT_CANCELLED"

        # The units can be shipped again.
        refulfilled = await fulfil(client, admin, order["id"])
        assert refulfilled.status_code == 201, refulfilled.text
        assert refulfilled.json()["lineItems"] == [{"id": line_id, "quantity": 2}]
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(3, 3, 0)]
            assert await level(session, tee.item_id, loc) == (7, 0)
            assert await fulfillment_status(session, order["id"]) == "fulfilled"

    async def test_cancelling_the_only_fulfillment_makes_the_order_unfulfilled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2))
        created = (await fulfil(client, admin, order["id"])).json()

        response = await client.post(
            f"{fulfillments_url(order['id'])}/{created['id']}/cancel", headers=admin
        )

        assert response.status_code == 200
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(2, 0, 0)]
            assert await level(session, tee.item_id, loc) == (8, 2)
            assert await fulfillment_status(session, order["id"]) == "unfulfilled"


class TestSourceOfTruth:
    async def test_both_tables_agree_and_fulfillments_of_reads_the_truth(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        mug = await make_variant(database, "4.00", {loc: 10}, title="Mug")
        order = await placed_order(client, admin, (tee.variant_id, 2), (mug.variant_id, 1))
        tee_line, mug_line = (li["id"] for li in order["lineItems"])
        one = (
            await fulfil(
                client,
                admin,
                order["id"],
                lineItems=[{"id": mug_line, "quantity": 1}],
                trackingCompany="USPS",
                trackingNumbers=["A1", "A2"],
                trackingUrls=["https://usps.example/A1", "https://usps.example/A2"],
            )
        ).json()
        two = (await fulfil(client, admin, order["id"])).json()
        await client.post(f"{fulfillments_url(order['id'])}/{two['id']}/cancel", headers=admin)

        async with database.session() as session:
            truth, mirror = await both_tables(session, order["id"])
            read = await fulfillments_of(session, order["id"])
            items = list(
                await session.execute(
                    select(FulfillmentLineItem.fulfillment_id, FulfillmentLineItem.line_item_id)
                    .join(FulfillmentEnhanced)
                    .where(FulfillmentEnhanced.order_id == order["id"])
                    .order_by(FulfillmentLineItem.id)
                )
            )

        assert mirror == truth
        assert truth == [
            (one["id"], "success", "USPS", "A1", "https://usps.example/A1"),
            (two["id"], "cancelled", None, None, None),
        ]
        assert [tuple(i) for i in items] == [(one["id"], mug_line), (two["id"], tee_line)]
        assert [f.model_dump(mode="json", by_alias=True) for f in read] == (
            await client.get(fulfillments_url(order["id"]), headers=admin)
        ).json()["items"]
        assert [(f.id, f.status) for f in read] == [
            (one["id"], "success"),
            (two["id"], "cancelled"),
        ]


class TestOrdersPlacedBefore:
    async def test_an_order_without_fulfillment_orders_gets_one_when_fulfilled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 2))

        async with database.session() as session:  # as a seeded order: none
            await session.execute(
                delete(FulfillmentOrder).where(FulfillmentOrder.order_id == order["id"])
            )

        response = await fulfil(client, admin, order["id"])

        assert response.status_code == 201, response.text
        listed = await client.get(f"{ORDERS}/{order['id']}/fulfillment-orders", headers=admin)
        (fulfillment_order,) = listed.json()["items"]
        assert fulfillment_order["status"] == "closed"
        assert fulfillment_order["fulfilledAt"] is not None
        assert fulfillment_order["assignedLocationId"] == loc
        assert [
            (li["lineItemId"], li["quantity"], li["fulfillableQuantity"])
            for li in (fulfillment_order["lineItems"])
        ] == [(order["lineItems"][0]["id"], 2, 0)]


class TestRetriesAndReads:
    async def test_a_retry_with_the_same_idempotency_key_ships_nothing_twice(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 3))
        line_id = order["lineItems"][0]["id"]
        body = {"lineItems": [{"id": line_id, "quantity": 1}]}
        keyed = {**admin, "Idempotency-Key": "ship-1"}

        first = await client.post(fulfillments_url(order["id"]), json=body, headers=keyed)
        retry = await client.post(fulfillments_url(order["id"]), json=body, headers=keyed)

        assert first.status_code == retry.status_code == 201
        assert retry.json() == first.json()
        assert retry.headers.get("Idempotent-Replayed") == "true"
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(3, 1, 0)]
            assert await level(session, tee.item_id, loc) == (7, 2)
            assert await count(session, FulfillmentEnhanced) == 1

    async def test_a_cancelled_fulfillment_keeps_its_tracking(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed_order(client, admin, (tee.variant_id, 1))
        created = (await fulfil(client, admin, order["id"], trackingCompany="UPS")).json()
        url = f"{fulfillments_url(order['id'])}/{created['id']}"
        await client.post(f"{url}/cancel", headers=admin)

        response = await client.put(url, json={"trackingCompany": "DHL"}, headers=admin)

        assert response.status_code == 422
        assert response.json()["code"] == "FULFILLMENT_CANCELLED"
        async with database.session() as session:
            truth, mirror = await both_tables(session, order["id"])
            assert mirror == truth == [(created["id"], "cancelled", "UPS", None, None)]

    async def test_the_list_runs_the_same_queries_for_one_or_many_fulfillments(
        self, client: httpx.AsyncClient, admin: Headers, database: Database, backend: Backend
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        one = await placed_order(client, admin, (tee.variant_id, 1))
        many = await placed_order(client, admin, (tee.variant_id, 3))
        await fulfil(client, admin, one["id"])
        for _ in range(3):
            await fulfil(
                client,
                admin,
                many["id"],
                lineItems=[{"id": many["lineItems"][0]["id"], "quantity": 1}],
            )
        await client.get(fulfillments_url(one["id"]), headers=admin)  # warm the auth cache

        with statements_sent(backend.engine) as few:
            small = await client.get(fulfillments_url(one["id"]), headers=admin)
        with statements_sent(backend.engine) as more:
            large = await client.get(fulfillments_url(many["id"]), headers=admin)

        assert len(small.json()["items"]) == 1
        assert len(large.json()["items"]) == 3
        assert len(more) == len(few)
        # the order exists; its fulfillments; their line items
        assert [s.split(None, 2)[1] for s in more if s.startswith("SELECT")] == [
            "orders.id",
            "fulfillments_enhanced.id,",
            "fulfillment_line_items.fulfillment_id,",
        ]
