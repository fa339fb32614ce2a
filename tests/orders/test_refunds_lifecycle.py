"""Refunds, cancel and fulfillments together on SQLite and PostgreSQL: units taken off
unshipped move the order's fulfillment status and its fulfillment orders; a fulfillment
whose shipped units were refunded or returned is not cancelled (that would let them be
refunded twice); and a refund's transactions go to the captures the caller named."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import select, update

from shopdb.db import Database
from shopdb.models import FulfillmentOrder, OrderLineItem, OrderTransaction, Return, ReturnLineItem
from tests.fixtures.catalog import Headers
from tests.orders.helpers import APPROVE, level, make_locations, make_variant
from tests.orders.test_cancel import cancel
from tests.orders.test_fulfillments import (
    ensure_fulfillment_orders,
    fulfil,
    fulfillment_status,
    fulfillments_url,
    line_quantities,
)
from tests.orders.test_refunds import (
    both_refund_tables,
    financial_status,
    item,
    line_units,
    lines_of,
    placed,
    refund,
    refund_rows,
)
from tests.orders.test_transactions import created


async def fulfillment_orders(database: Database, order_id: int) -> list[tuple[str, bool]]:
    """(status, fulfilled_at set) of the order's fulfillment orders, oldest first."""
    async with database.session() as session:
        rows = await session.execute(
            select(FulfillmentOrder.status, FulfillmentOrder.fulfilled_at)
            .where(FulfillmentOrder.order_id == order_id)
            .order_by(FulfillmentOrder.id)
        )
        return [(r[0], r[1] is not None) for r in rows]


async def order_status(database: Database, order_id: int) -> str:
    async with database.session() as session:
        return await fulfillment_status(session, order_id)


async def stocked_order(
    client: httpx.AsyncClient, admin: Headers, database: Database, units: int
) -> tuple[dict[str, Any], int, int, int]:
    """A paid order of `units` tees at 10.00 (10 in stock) with its fulfillment order:
    (order, its line id, the tee's inventory item, the location)."""
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "10.00", {loc: 10})
    order = await placed(client, admin, (tee.variant_id, units))
    await ensure_fulfillment_orders(database, order["id"])
    (line_id,) = lines_of(order)
    return order, line_id, tee.item_id, loc


class TestRemovedUnitsMoveTheFulfillmentStatus:
    async def test_refunding_the_last_unshipped_units_after_a_partial_fulfillment_fulfils_it(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, item_id, loc = await stocked_order(client, admin, database, 3)
        shipped = await fulfil(
            client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}]
        )
        assert shipped.status_code == 201, shipped.text
        assert await order_status(database, order["id"]) == "partial"
        assert await fulfillment_orders(database, order["id"]) == [("in_progress", False)]

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 2, "cancel")]
        )

        assert response.status_code == 201, response.text
        assert response.json()["totalAmount"] == "20.00"
        assert await line_units(database, line_id) == (3, 1, 2)
        # fulfilled + removed == quantity: nothing is left to ship.
        assert await order_status(database, order["id"]) == "fulfilled"
        assert await fulfillment_orders(database, order["id"]) == [("closed", True)]
        async with database.session() as session:
            assert await level(session, item_id, loc) == (9, 0)
        detail = await client.get(f"/api/v1/orders/{order['id']}", headers=admin)
        assert detail.json()["fulfillmentStatus"] == "fulfilled"
        nothing = await fulfil(client, admin, order["id"])
        assert nothing.status_code == 422
        assert nothing.json()["code"] == "NOTHING_TO_FULFIL"

    async def test_refunding_some_unshipped_units_keeps_the_rest_to_ship(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, _, _ = await stocked_order(client, admin, database, 3)

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 1, "no_restock")]
        )

        assert response.status_code == 201, response.text
        assert await line_units(database, line_id) == (3, 0, 1)
        assert await order_status(database, order["id"]) == "unfulfilled"
        assert await fulfillment_orders(database, order["id"]) == [("open", False)]
        rest = await fulfil(client, admin, order["id"])
        assert rest.status_code == 201, rest.text
        assert rest.json()["lineItems"] == [{"id": line_id, "quantity": 2}]
        assert await order_status(database, order["id"]) == "fulfilled"
        assert await fulfillment_orders(database, order["id"]) == [("closed", True)]

    async def test_every_unit_refunded_unshipped_leaves_it_unfulfilled_and_closes_its_order(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, item_id, loc = await stocked_order(client, admin, database, 2)

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 2, "cancel")]
        )

        assert response.status_code == 201, response.text
        assert await line_units(database, line_id) == (2, 0, 2)
        # Shopify's `restocked` status is legacy, replaced by UNFULFILLED: nothing shipped.
        assert await order_status(database, order["id"]) == "unfulfilled"
        # Closed (nothing left to ship), not fulfilled: no shipment closed it.
        assert await fulfillment_orders(database, order["id"]) == [("closed", False)]
        async with database.session() as session:
            assert await level(session, item_id, loc) == (10, 0)

    async def test_a_cancelled_order_cancels_its_fulfillment_orders(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, item_id, loc = await stocked_order(client, admin, database, 2)

        response = await cancel(client, admin, order["id"], reason="customer")

        assert response.status_code == 200, response.text
        assert response.json()["fulfillmentStatus"] == "unfulfilled"
        assert await line_units(database, line_id) == (2, 0, 2)
        assert await fulfillment_orders(database, order["id"]) == [("cancelled", False)]
        async with database.session() as session:
            assert await level(session, item_id, loc) == (10, 0)

    async def test_cancelling_after_the_shipped_unit_came_back_cancels_the_rest(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, item_id, loc = await stocked_order(client, admin, database, 3)
        shipped = await fulfil(
            client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}]
        )
        assert shipped.status_code == 201, shipped.text
        returned = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 1, "return")]
        )
        assert returned.status_code == 201, returned.text

        response = await cancel(client, admin, order["id"], reason="customer", refund=True)

        assert response.status_code == 200, response.text
        assert await line_units(database, line_id) == (3, 1, 2)
        assert await fulfillment_orders(database, order["id"]) == [("cancelled", False)]
        assert await financial_status(database, order["id"]) == "refunded"
        assert await both_refund_tables(database, order["id"]) == (
            Decimal("30.00"),
            Decimal("30.00"),
        )
        async with database.session() as session:
            # 2 released from committed, the returned one back on sale; 1 shipped for good.
            assert await level(session, item_id, loc) == (10, 0)


class TestAFulfillmentCancelKeepsRefundedUnitsShipped:
    async def test_cancelling_a_fulfillment_whose_unit_was_returned_is_422(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, item_id, loc = await stocked_order(client, admin, database, 2)
        shipment = (await fulfil(client, admin, order["id"])).json()
        returned = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 1, "return")]
        )
        assert returned.status_code == 201, returned.text

        response = await client.post(
            f"{fulfillments_url(order['id'])}/{shipment['id']}/cancel", headers=admin
        )

        assert response.status_code == 422, response.text
        assert response.json()["code"] == "FULFILLMENT_UNITS_RETURNED"
        async with database.session() as session:
            assert await line_quantities(session, order["id"]) == [(2, 2, 0)]
            assert await level(session, item_id, loc) == (9, 0)  # the returned one is back
            assert await fulfillment_status(session, order["id"]) == "fulfilled"
        listed = await client.get(fulfillments_url(order["id"]), headers=admin)
        assert [f["status"] for f in listed.json()["items"]] == ["success"]

    async def test_a_shipped_unit_refunded_without_restock_also_stays_shipped(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, _, _ = await stocked_order(client, admin, database, 2)
        shipment = (await fulfil(client, admin, order["id"])).json()
        kept = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 2, "no_restock")]
        )
        assert kept.status_code == 201, kept.text

        response = await client.post(
            f"{fulfillments_url(order['id'])}/{shipment['id']}/cancel", headers=admin
        )

        assert response.status_code == 422
        assert response.json()["code"] == "FULFILLMENT_UNITS_RETURNED"
        assert await line_units(database, line_id) == (2, 2, 0)
        # Had the cancel gone through, both units would read unfulfilled and refundable.
        again = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 1, "cancel")]
        )
        assert again.status_code == 422
        assert await refund_rows(database, order["id"]) == 1

    async def test_units_in_an_open_return_stay_shipped(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, _, _ = await stocked_order(client, admin, database, 2)
        shipment = (await fulfil(client, admin, order["id"])).json()
        async with database.session() as session:  # an open return of one unit
            opened = Return(order_id=order["id"], status="open")
            opened.line_items = [ReturnLineItem(line_item_id=line_id, quantity=1)]
            session.add(opened)

        response = await client.post(
            f"{fulfillments_url(order['id'])}/{shipment['id']}/cancel", headers=admin
        )

        assert response.status_code == 422
        assert response.json()["code"] == "FULFILLMENT_UNITS_RETURNED"
        assert await line_units(database, line_id) == (2, 2, 0)

    async def test_a_fulfillment_with_nothing_refunded_still_cancels(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, item_id, loc = await stocked_order(client, admin, database, 3)
        first = (
            await fulfil(client, admin, order["id"], lineItems=[{"id": line_id, "quantity": 1}])
        ).json()
        second = (await fulfil(client, admin, order["id"])).json()
        returned = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 1, "return")]
        )
        assert returned.status_code == 201, returned.text

        # One unit refunded: cancelling the second shipment (2 units) leaves 1 shipped.
        response = await client.post(
            f"{fulfillments_url(order['id'])}/{second['id']}/cancel", headers=admin
        )

        assert response.status_code == 200, response.text
        assert await line_units(database, line_id) == (3, 1, 0)
        assert await order_status(database, order["id"]) == "partial"
        refused = await client.post(
            f"{fulfillments_url(order['id'])}/{first['id']}/cancel", headers=admin
        )
        assert refused.status_code == 422
        assert refused.json()["code"] == "FULFILLMENT_UNITS_RETURNED"
        async with database.session() as session:
            assert await level(session, item_id, loc) == (8, 2)

    async def test_a_refund_never_takes_more_units_than_are_left_unrefunded(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, line_id, _, _ = await stocked_order(client, admin, database, 2)
        await fulfil(client, admin, order["id"])
        kept = await refund(
            client, admin, order["id"], refundLineItems=[item(line_id, 2, "no_restock")]
        )
        assert kept.status_code == 201, kept.text
        async with database.session() as session:  # a write that skipped every rule
            await session.execute(
                update(OrderLineItem)
                .where(OrderLineItem.id == line_id)
                .values(fulfilled_quantity=0)
            )

        again = await refund(client, admin, order["id"], refundLineItems=[item(line_id, 1)])

        assert again.status_code == 422
        assert again.json()["code"] == "REFUND_QUANTITY_EXCEEDED"
        assert await refund_rows(database, order["id"]) == 1


class TestMoneyGoesWhereAsked:
    async def two_captures(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> tuple[int, int, int]:
        """An order of 30.00 authorized, captured as 10.00 then 20.00: (order, first
        capture, second capture)."""
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "30.00", {loc: 5})
        payment = {"gateway": "test", "token": APPROVE, "capture": False}
        order = await placed(client, admin, (tee.variant_id, 1), payment=payment)
        first = await created(client, admin, order["id"], kind="capture", amount="10.00")
        second = await created(client, admin, order["id"], kind="capture", amount="20.00")
        return order["id"], first["id"], second["id"]

    async def refunded_parents(self, database: Database, order_id: int) -> list[Any]:
        async with database.session() as session:
            rows = await session.execute(
                select(OrderTransaction.parent_id, OrderTransaction.amount)
                .where(OrderTransaction.order_id == order_id, OrderTransaction.kind == "refund")
                .order_by(OrderTransaction.id)
            )
            return [(r[0], Decimal(r[1])) for r in rows]

    async def test_a_named_parent_is_refunded_not_the_newest_capture(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order_id, first, _ = await self.two_captures(client, admin, database)

        response = await refund(
            client, admin, order_id, transactions=[{"parentId": first, "amount": "4.00"}]
        )

        assert response.status_code == 201, response.text
        assert [(t["parentId"], t["amount"]) for t in response.json()["transactions"]] == [
            (first, "4.00")
        ]
        assert await self.refunded_parents(database, order_id) == [(first, Decimal("4.00"))]
        assert await financial_status(database, order_id) == "partially_refunded"
        assert await both_refund_tables(database, order_id) == (Decimal("4.00"), Decimal("4.00"))

    async def test_transactions_naming_no_parent_share_what_the_named_ones_leave(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order_id, first, second = await self.two_captures(client, admin, database)

        response = await refund(
            client,
            admin,
            order_id,
            transactions=[{"parentId": second, "amount": "15.00"}, {"amount": "8.00"}],
        )

        assert response.status_code == 201, response.text
        # The newest capture has 5.00 left after the named 15.00, the first one the rest.
        assert await self.refunded_parents(database, order_id) == [
            (second, Decimal("15.00")),
            (second, Decimal("5.00")),
            (first, Decimal("3.00")),
        ]
        assert response.json()["totalAmount"] == "23.00"

    async def test_a_named_parent_beyond_its_rest_is_422_and_moves_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order_id, first, _ = await self.two_captures(client, admin, database)

        response = await refund(
            client,
            admin,
            order_id,
            transactions=[
                {"parentId": first, "amount": "6.00"},
                {"parentId": first, "amount": "6.00"},
            ],
        )

        assert response.status_code == 422, response.text
        assert response.json()["code"] == "REFUND_EXCEEDS_CAPTURED"
        assert await self.refunded_parents(database, order_id) == []
        assert await refund_rows(database, order_id) == 0
        assert await financial_status(database, order_id) == "paid"
