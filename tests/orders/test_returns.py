"""Returns on SQLite and PostgreSQL: opened for fulfilled units only, closed with what came
back (restocked at a location, refunded in the same step when asked), cancelled; a refused
request leaves nothing behind."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.models import (
    Event,
    InventoryAdjustment,
    Order,
    OrderLineItem,
    Return,
    ReturnLineItem,
)
from shopdb.services import services_of
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.orders.conftest import Live
from tests.orders.helpers import (
    ORDERS,
    count,
    level,
    make_locations,
    make_variant,
    order_body,
    place,
)


def line_ids(order: dict[str, Any]) -> list[int]:
    return [line["id"] for line in order["lineItems"]]


async def fulfil(
    client: httpx.AsyncClient, headers: Headers, order_id: int, lines: list[tuple[int, int]]
) -> dict[str, Any]:
    response = await client.post(
        f"{ORDERS}/{order_id}/fulfillments",
        json={"lineItems": [{"id": line_id, "quantity": q} for line_id, q in lines]},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    fulfilled: dict[str, Any] = response.json()
    return fulfilled


async def open_return(
    client: httpx.AsyncClient,
    headers: Headers,
    order_id: int,
    lines: list[dict[str, Any]],
    **fields: Any,
) -> httpx.Response:
    return await client.post(
        f"{ORDERS}/{order_id}/returns",
        json={"returnLineItems": lines, **fields},
        headers=headers,
    )


async def close_return(
    client: httpx.AsyncClient,
    headers: Headers,
    order_id: int,
    return_id: int,
    body: dict[str, Any],
) -> httpx.Response:
    return await client.post(
        f"{ORDERS}/{order_id}/returns/{return_id}/close", json=body, headers=headers
    )


async def return_events(session: AsyncSession, return_id: int) -> list[str]:
    rows = await session.scalars(
        select(Event.topic)
        .where(Event.subject_type == "Return", Event.subject_id == return_id)
        .order_by(Event.id)
    )
    return list(rows)


async def placed(client: httpx.AsyncClient, admin: Headers, *lines: tuple[int, int]) -> Any:
    response = await place(client, admin, order_body(*lines))
    assert response.status_code == 201, response.text
    return response.json()


async def stored_returns(database: Database, order_id: int) -> list[tuple[str, list[Any]]]:
    async with database.session() as session:
        rows = await session.execute(
            select(Return.id, Return.status).where(Return.order_id == order_id).order_by(Return.id)
        )
        found = []
        for return_id, status in rows.all():
            lines = await session.execute(
                select(
                    ReturnLineItem.line_item_id,
                    ReturnLineItem.quantity,
                    ReturnLineItem.received_quantity,
                )
                .where(ReturnLineItem.return_id == return_id)
                .order_by(ReturnLineItem.id)
            )
            found.append((status, [tuple(r) for r in lines]))
        return found


async def restock_log(database: Database, item_id: int, location_id: int) -> list[Any]:
    async with database.session() as session:
        rows = await session.execute(
            select(
                InventoryAdjustment.quantity_name,
                InventoryAdjustment.quantity_adjustment,
                InventoryAdjustment.reason,
            )
            .where(
                InventoryAdjustment.inventory_item_id == item_id,
                InventoryAdjustment.location_id == location_id,
                InventoryAdjustment.reason == "restock",
            )
            .order_by(InventoryAdjustment.id)
        )
        return [tuple(r) for r in rows]


class TestOpening:
    async def test_a_return_of_fulfilled_units_is_opened_and_recorded(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 2)])

        response = await open_return(
            client,
            admin,
            order["id"],
            [{"lineItemId": line_id, "quantity": 2, "reason": "defective", "note": "torn"}],
            note="customer wrote in",
        )

        assert response.status_code == 201, response.text
        opened = response.json()
        assert response.headers["Location"] == f"{ORDERS}/{order['id']}/returns/{opened['id']}"
        assert opened["orderId"] == order["id"]
        assert opened["status"] == "open"
        assert opened["note"] == "customer wrote in"
        assert opened["refundId"] is None
        assert opened["closedAt"] is None
        assert [
            (r["lineItemId"], r["quantity"], r["receivedQuantity"], r["reason"], r["note"])
            for r in opened["returnLineItems"]
        ] == [(line_id, 2, 0, "defective", "torn")]
        assert await stored_returns(database, order["id"]) == [("open", [(line_id, 2, 0)])]
        async with database.session() as session:
            assert await return_events(session, opened["id"]) == ["returns/create"]
            # Opening moves no stock: nothing has come back yet.
            assert await level(session, tee.item_id, loc) == (7, 1)

    async def test_more_than_fulfilled_is_refused_and_nothing_is_written(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        mug = await make_variant(database, "5.00", {loc: 10}, title="Mug")
        order = await placed(client, admin, (tee.variant_id, 3), (mug.variant_id, 1))
        tee_line, mug_line = line_ids(order)
        await fulfil(client, admin, order["id"], [(tee_line, 2)])

        too_many = await open_return(
            client, admin, order["id"], [{"lineItemId": tee_line, "quantity": 3}]
        )
        unfulfilled = await open_return(
            client,
            admin,
            order["id"],
            [{"lineItemId": tee_line, "quantity": 1}, {"lineItemId": mug_line, "quantity": 1}],
        )

        assert too_many.status_code == 422, too_many.text
        assert too_many.json()["code"] == "RETURN_EXCEEDS_FULFILLED"
        assert too_many.json()["details"] == [
            {
                "field": "returnLineItems[0].quantity",
                "message": "at most 2 (fulfilled units not already returned)",
            }
        ]
        assert unfulfilled.status_code == 422, unfulfilled.text
        assert unfulfilled.json()["code"] == "RETURN_EXCEEDS_FULFILLED"
        assert unfulfilled.json()["details"][0]["field"] == "returnLineItems[1].quantity"
        assert await stored_returns(database, order["id"]) == []
        async with database.session() as session:
            assert await count(session, Event, Event.topic == "returns/create") == 0

    async def test_units_in_an_open_return_cannot_be_returned_again_until_it_is_cancelled(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 2)])
        first = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 1}]
        )
        assert first.status_code == 201, first.text

        second = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 2}]
        )
        assert second.status_code == 422, second.text
        assert second.json()["details"][0]["message"].startswith("at most 1 ")

        cancelled = await client.post(
            f"{ORDERS}/{order['id']}/returns/{first.json()['id']}/cancel", headers=admin
        )
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert cancelled.json()["cancelledAt"] is not None
        again = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 2}]
        )
        assert again.status_code == 201, again.text
        assert await stored_returns(database, order["id"]) == [
            ("cancelled", [(line_id, 1, 0)]),
            ("open", [(line_id, 2, 0)]),
        ]
        async with database.session() as session:
            assert await return_events(session, first.json()["id"]) == [
                "returns/create",
                "returns/cancel",
            ]

    async def test_units_a_refund_restocked_as_returned_cannot_be_returned_again(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 3)])
        refunded = await client.post(
            f"{ORDERS}/{order['id']}/refunds",
            json={
                "refundLineItems": [{"lineItemId": line_id, "quantity": 2, "restockType": "return"}]
            },
            headers=admin,
        )
        assert refunded.status_code == 201, refunded.text

        refused = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 2}]
        )
        allowed = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 1}]
        )

        assert refused.status_code == 422, refused.text
        assert refused.json()["details"][0]["message"].startswith("at most 1 ")
        assert allowed.status_code == 201, allowed.text
        async with database.session() as session:
            # 10 - 3 shipped + 2 restocked by the refund; the open return moved nothing.
            assert await level(session, tee.item_id, loc) == (9, 0)

    async def test_a_retry_with_the_same_idempotency_key_opens_one_return(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 2)])
        keyed = {**admin, "Idempotency-Key": f"return-{order['id']}"}
        body = {"returnLineItems": [{"lineItemId": line_id, "quantity": 2}]}

        first = await client.post(f"{ORDERS}/{order['id']}/returns", json=body, headers=keyed)
        again = await client.post(f"{ORDERS}/{order['id']}/returns", json=body, headers=keyed)

        assert first.status_code == 201, first.text
        assert again.status_code == 201, again.text
        assert again.content == first.content
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert await stored_returns(database, order["id"]) == [("open", [(line_id, 2, 0)])]

    async def test_a_line_of_another_order_and_an_unknown_order_are_refused(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        mine = await placed(client, admin, (tee.variant_id, 1))
        other = await placed(client, admin, (tee.variant_id, 1))
        (other_line,) = line_ids(other)
        await fulfil(client, admin, other["id"], [(other_line, 1)])

        foreign = await open_return(
            client, admin, mine["id"], [{"lineItemId": other_line, "quantity": 1}]
        )
        missing = await open_return(
            client, admin, 987654321, [{"lineItemId": other_line, "quantity": 1}]
        )

        assert foreign.status_code == 422, foreign.text
        assert foreign.json()["code"] == "LINE_ITEM_NOT_FOUND"
        assert foreign.json()["details"][0]["field"] == "returnLineItems[0].lineItemId"
        assert missing.status_code == 404, missing.text
        assert await stored_returns(database, mine["id"]) == []

    async def test_a_malformed_request_is_a_400_naming_the_field(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 2)])

        bad_reason = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 1, "reason": "meh"}]
        )
        twice = await open_return(
            client,
            admin,
            order["id"],
            [{"lineItemId": line_id, "quantity": 1}, {"lineItemId": line_id, "quantity": 1}],
        )
        zero = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 0}]
        )

        assert bad_reason.status_code == 400, bad_reason.text
        assert bad_reason.json()["details"][0]["field"] == "returnLineItems[0].reason"
        assert twice.status_code == 400, twice.text
        assert zero.status_code == 400, zero.text
        assert zero.json()["details"][0]["field"] == "returnLineItems[0].quantity"
        assert await stored_returns(database, order["id"]) == []


class TestClosing:
    async def test_received_units_go_back_to_available_and_on_hand(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 4))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 3)])
        opened = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 3}]
        )
        return_id = opened.json()["id"]
        rli = opened.json()["returnLineItems"][0]["id"]
        async with database.session() as session:
            # 10 on hand, 4 committed at placement, 3 of them shipped: 6 available, 1 committed.
            assert await level(session, tee.item_id, loc) == (6, 1)

        response = await close_return(
            client,
            admin,
            order["id"],
            return_id,
            {"lineItems": [{"returnLineItemId": rli, "receivedQuantity": 2}], "locationId": loc},
        )

        assert response.status_code == 200, response.text
        closed = response.json()
        assert closed["status"] == "closed"
        assert closed["closedAt"] is not None
        assert closed["locationId"] == loc
        assert closed["refundId"] is None
        assert closed["returnLineItems"][0]["receivedQuantity"] == 2
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (8, 1)
            assert await return_events(session, return_id) == ["returns/create", "returns/close"]
            line = await session.get(OrderLineItem, line_id)
            assert line is not None
            # A return does not undo the fulfillment: the units were shipped, and came back.
            assert line.fulfilled_quantity == 3
        assert await restock_log(database, tee.item_id, loc) == [("available", 2, "restock")]
        # The unit that never came back may still be returned; the two received may not.
        more = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 2}]
        )
        assert more.status_code == 422, more.text
        assert more.json()["details"][0]["message"].startswith("at most 1 ")
        last = await open_return(
            client, admin, order["id"], [{"lineItemId": line_id, "quantity": 1}]
        )
        assert last.status_code == 201, last.text

    async def test_without_line_items_everything_came_back_to_where_it_was_committed(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        east, west = await make_locations(database, "East", "West")
        tee = await make_variant(database, "10.00", {east: 5, west: 5})
        untracked = await make_variant(database, "3.00", {east: 0}, tracked=False, title="Card")
        body = order_body((tee.variant_id, 2), (untracked.variant_id, 1), locationId=west)
        response = await place(client, admin, body)
        assert response.status_code == 201, response.text
        order = response.json()
        tee_line, card_line = line_ids(order)
        await fulfil(client, admin, order["id"], [(tee_line, 2), (card_line, 1)])
        opened = await open_return(
            client,
            admin,
            order["id"],
            [{"lineItemId": tee_line, "quantity": 2}, {"lineItemId": card_line, "quantity": 1}],
        )

        response = await close_return(client, admin, order["id"], opened.json()["id"], {})

        assert response.status_code == 200, response.text
        assert [r["receivedQuantity"] for r in response.json()["returnLineItems"]] == [2, 1]
        async with database.session() as session:
            assert await level(session, tee.item_id, west) == (5, 0)
            assert await level(session, tee.item_id, east) == (5, 0)
            assert await level(session, untracked.item_id, east) == (0, 0)
        assert await restock_log(database, untracked.item_id, east) == []

    async def test_refused_closes_change_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        (elsewhere,) = await make_locations(database, "Elsewhere")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 2)])
        opened = (
            await open_return(client, admin, order["id"], [{"lineItemId": line_id, "quantity": 2}])
        ).json()
        rli = opened["returnLineItems"][0]["id"]
        url = f"{ORDERS}/{order['id']}/returns/{opened['id']}/close"

        too_many = await client.post(
            url,
            json={"lineItems": [{"returnLineItemId": rli, "receivedQuantity": 3}]},
            headers=admin,
        )
        stranger = await client.post(
            url,
            json={"lineItems": [{"returnLineItemId": rli + 1000, "receivedQuantity": 1}]},
            headers=admin,
        )
        not_stocked = await client.post(url, json={"locationId": elsewhere}, headers=admin)
        wrong_order = await client.post(
            f"{ORDERS}/{order['id'] + 1000}/returns/{opened['id']}/close", json={}, headers=admin
        )

        assert too_many.status_code == 422, too_many.text
        assert too_many.json()["code"] == "RECEIVED_EXCEEDS_RETURNED"
        assert too_many.json()["details"][0]["field"] == "lineItems[0].receivedQuantity"
        assert stranger.status_code == 422, stranger.text
        assert stranger.json()["code"] == "RETURN_LINE_ITEM_NOT_FOUND"
        assert not_stocked.status_code == 409, not_stocked.text
        assert not_stocked.json()["code"] == "INVENTORY_NOT_STOCKED"
        assert wrong_order.status_code == 404, wrong_order.text
        assert await stored_returns(database, order["id"]) == [("open", [(line_id, 2, 0)])]
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (8, 0)
            assert await return_events(session, opened["id"]) == ["returns/create"]
        assert await restock_log(database, tee.item_id, loc) == []

    async def test_a_closed_or_cancelled_return_cannot_change_again(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 2)])
        closing = (
            await open_return(client, admin, order["id"], [{"lineItemId": line_id, "quantity": 1}])
        ).json()
        cancelling = (
            await open_return(client, admin, order["id"], [{"lineItemId": line_id, "quantity": 1}])
        ).json()
        base = f"{ORDERS}/{order['id']}/returns"
        assert (
            await client.post(f"{base}/{closing['id']}/close", json={}, headers=admin)
        ).status_code == 200
        assert (
            await client.post(f"{base}/{cancelling['id']}/cancel", headers=admin)
        ).status_code == 200

        answers = [
            await client.post(f"{base}/{closing['id']}/close", json={}, headers=admin),
            await client.post(f"{base}/{closing['id']}/cancel", headers=admin),
            await client.post(f"{base}/{cancelling['id']}/close", json={}, headers=admin),
        ]

        assert [a.status_code for a in answers] == [422, 422, 422], [a.text for a in answers]
        assert {a.json()["code"] for a in answers} == {"RETURN_NOT_OPEN"}
        async with database.session() as session:
            # The one received unit came back once.
            assert await level(session, tee.item_id, loc) == (9, 0)
        assert await stored_returns(database, order["id"]) == [
            ("closed", [(line_id, 1, 1)]),
            ("cancelled", [(line_id, 1, 0)]),
        ]


class TestClosingWithARefund:
    async def test_the_received_units_are_refunded_in_the_same_step_and_restocked_once(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 3)])
        opened = (
            await open_return(client, admin, order["id"], [{"lineItemId": line_id, "quantity": 2}])
        ).json()
        rli = opened["returnLineItems"][0]["id"]

        response = await close_return(
            client,
            admin,
            order["id"],
            opened["id"],
            {"lineItems": [{"returnLineItemId": rli, "receivedQuantity": 2}], "refund": True},
        )

        assert response.status_code == 200, response.text
        refund_id = response.json()["refundId"]
        assert refund_id is not None
        refund = await client.get(f"{ORDERS}/{order['id']}/refunds/{refund_id}", headers=admin)
        assert refund.status_code == 200, refund.text
        assert [
            (r["lineItemId"], r["quantity"], r["restockType"], r["removedQuantity"])
            for r in refund.json()["refundLineItems"]
        ] == [(line_id, 2, "return", 0)]
        assert refund.json()["totalAmount"] == "20.00"
        assert [(t["kind"], t["status"], t["amount"]) for t in refund.json()["transactions"]] == [
            ("refund", "success", "20.00")
        ]
        async with database.session() as session:
            stored = await session.get(Order, order["id"])
            assert stored is not None
            assert stored.financial_status == "partially_refunded"
            # 10 - 3 shipped + 2 back: restocked by the return, not again by its refund.
            assert await level(session, tee.item_id, loc) == (9, 0)
            refund_events = await session.scalars(
                select(Event.subject_id).where(
                    Event.topic == "refunds/create", Event.subject_type == "Refund"
                )
            )
            assert refund_id in list(refund_events)
            assert await return_events(session, opened["id"]) == [
                "returns/create",
                "returns/close",
            ]
        assert await restock_log(database, tee.item_id, loc) == [("available", 2, "restock")]
        # The refunded units cannot be refunded again.
        too_many = await client.post(
            f"{ORDERS}/{order['id']}/refunds",
            json={"refundLineItems": [{"lineItemId": line_id, "quantity": 2}]},
            headers=admin,
        )
        assert too_many.status_code == 422, too_many.text
        assert too_many.json()["code"] == "REFUND_QUANTITY_EXCEEDED"
        last = await client.post(
            f"{ORDERS}/{order['id']}/refunds",
            json={"refundLineItems": [{"lineItemId": line_id, "quantity": 1}]},
            headers=admin,
        )
        assert last.status_code == 201, last.text

    async def test_a_partly_fulfilled_line_refunds_the_returned_units_not_the_unshipped_ones(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 4))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 2)])
        opened = (
            await open_return(client, admin, order["id"], [{"lineItemId": line_id, "quantity": 1}])
        ).json()

        response = await close_return(client, admin, order["id"], opened["id"], {"refund": True})

        assert response.status_code == 200, response.text
        refund = await client.get(
            f"{ORDERS}/{order['id']}/refunds/{response.json()['refundId']}", headers=admin
        )
        # The unit refunded is the one that came back: the two unshipped stay on the order.
        assert [
            (r["quantity"], r["restockType"], r["removedQuantity"])
            for r in refund.json()["refundLineItems"]
        ] == [(1, "return", 0)]
        async with database.session() as session:
            line = await session.get(OrderLineItem, line_id)
            assert line is not None
            assert (line.fulfilled_quantity, line.removed_quantity) == (2, 0)
            # 10 - 4 placed + 1 back; the two unshipped are still committed.
            assert await level(session, tee.item_id, loc) == (7, 2)
        # Restocked by the return, and not again by its refund.
        assert await restock_log(database, tee.item_id, loc) == [("available", 1, "restock")]

    async def test_a_refused_refund_leaves_the_return_open_and_the_stock_unmoved(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 2)])
        refunded = await client.post(
            f"{ORDERS}/{order['id']}/refunds",
            json={"refundLineItems": [{"lineItemId": line_id, "quantity": 2}]},
            headers=admin,
        )
        assert refunded.status_code == 201, refunded.text
        opened = (
            await open_return(client, admin, order["id"], [{"lineItemId": line_id, "quantity": 2}])
        ).json()

        response = await close_return(client, admin, order["id"], opened["id"], {"refund": True})

        # Both units were refunded already (the customer kept them then): no second refund.
        assert response.status_code == 422, response.text
        assert await stored_returns(database, order["id"]) == [("open", [(line_id, 2, 0)])]
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (8, 0)
            assert await return_events(session, opened["id"]) == ["returns/create"]
        # Closed without a refund, the units come back to stock.
        closed = await close_return(client, admin, order["id"], opened["id"], {})
        assert closed.status_code == 200, closed.text
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (10, 0)


class TestReading:
    async def test_list_and_one_with_their_lines(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        other = await placed(client, admin, (tee.variant_id, 1))
        (line_id,) = line_ids(order)
        await fulfil(client, admin, order["id"], [(line_id, 3)])
        ids = []
        for quantity in (1, 2):
            opened = await open_return(
                client, admin, order["id"], [{"lineItemId": line_id, "quantity": quantity}]
            )
            ids.append(opened.json()["id"])

        engine = services_of(app).database.primary
        await client.get(f"{ORDERS}/{order['id']}/returns", headers=admin)  # warm the caller
        with statements_sent(engine, first_word=True) as sent:
            listed = await client.get(f"{ORDERS}/{order['id']}/returns", headers=admin)
        one = await client.get(f"{ORDERS}/{order['id']}/returns/{ids[1]}", headers=admin)
        foreign = await client.get(f"{ORDERS}/{other['id']}/returns/{ids[1]}", headers=admin)
        missing = await client.get(f"{ORDERS}/987654321/returns", headers=admin)
        empty = await client.get(f"{ORDERS}/{other['id']}/returns", headers=admin)

        assert listed.status_code == 200, listed.text
        assert [r["id"] for r in listed.json()["items"]] == ids
        assert [r["returnLineItems"][0]["quantity"] for r in listed.json()["items"]] == [1, 2]
        # The order's existence, its returns, their lines.
        assert sent.count("SELECT") == 3, sent
        assert one.status_code == 200, one.text
        assert one.json() == listed.json()["items"][1]
        assert foreign.status_code == 404, foreign.text
        assert missing.status_code == 404, missing.text
        assert empty.json() == {"items": []}

    async def test_reading_needs_orders_read_and_writing_orders_write(
        self, client: httpx.AsyncClient, token_for: Any, database: Database, admin: Headers
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 1))
        (line_id,) = line_ids(order)
        reader = token_for("orders:read")

        listed = await client.get(f"{ORDERS}/{order['id']}/returns", headers=reader)
        refused = await open_return(
            client, reader, order["id"], [{"lineItemId": line_id, "quantity": 1}]
        )

        assert listed.status_code == 200, listed.text
        assert refused.status_code == 403, refused.text


@pytest.mark.postgres_only
class TestRacing:
    """Returns racing in transactions that really commit (PostgreSQL)."""

    @pytest.fixture(autouse=True)
    def _postgres(self, backend: Backend) -> None:
        if backend.name != "postgresql":
            pytest.skip("needs real concurrent transactions")

    async def test_twenty_concurrent_returns_of_five_fulfilled_units_take_exactly_five(
        self, live: Live
    ) -> None:
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "10.00", {loc: 10})
        order = await placed(live.client, live.headers, (tee.variant_id, 6))
        (line_id,) = line_ids(order)
        await fulfil(live.client, live.headers, order["id"], [(line_id, 5)])

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    open_return(
                        live.client,
                        live.headers,
                        order["id"],
                        [{"lineItemId": line_id, "quantity": 1}],
                    )
                    for _ in range(20)
                )
            ),
            timeout=120,
        )

        statuses = sorted(a.status_code for a in answers)
        assert statuses == [201] * 5 + [422] * 15, [a.text for a in answers]
        assert {a.json()["code"] for a in answers if a.status_code == 422} == {
            "RETURN_EXCEEDS_FULFILLED"
        }
        stored = await stored_returns(live.database, order["id"])
        assert stored == [("open", [(line_id, 1, 0)])] * 5

    async def test_concurrent_closes_of_one_return_restock_and_refund_it_once(
        self, live: Live
    ) -> None:
        (loc,) = await make_locations(live.database, "Main")
        tee = await make_variant(live.database, "10.00", {loc: 10})
        order = await placed(live.client, live.headers, (tee.variant_id, 3))
        (line_id,) = line_ids(order)
        await fulfil(live.client, live.headers, order["id"], [(line_id, 3)])
        opened = (
            await open_return(
                live.client, live.headers, order["id"], [{"lineItemId": line_id, "quantity": 3}]
            )
        ).json()

        answers = await asyncio.wait_for(
            asyncio.gather(
                *(
                    close_return(
                        live.client, live.headers, order["id"], opened["id"], {"refund": True}
                    )
                    for _ in range(10)
                )
            ),
            timeout=120,
        )

        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200] + [422] * 9, [a.text for a in answers]
        assert {a.json()["code"] for a in answers if a.status_code == 422} == {"RETURN_NOT_OPEN"}
        async with live.database.session() as session:
            assert await level(session, tee.item_id, loc) == (10, 0)
            refunds = await session.scalars(
                select(Event.body["amount"].as_string()).where(
                    Event.topic == "refunds/create",
                    Event.body["orderId"].as_integer() == order["id"],
                )
            )
            assert list(refunds) == ["30.00"]
            assert await return_events(session, opened["id"]) == [
                "returns/create",
                "returns/close",
            ]
        assert await restock_log(live.database, tee.item_id, loc) == [("available", 3, "restock")]
