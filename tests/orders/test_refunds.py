"""Refunds on SQLite and PostgreSQL: what a refund is worth (discounts and tax split to the
cent), the units it takes and where they go back to stock, the money through the gateway,
and the two refund tables agreeing; a refused refund changes nothing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update

from shopdb.db import Database
from shopdb.inventory.stock import StockLine, fulfill_committed
from shopdb.jobs.kinds import REFUNDS_NOTIFICATION_EMAIL
from shopdb.kit.types import utcnow
from shopdb.models import (
    Event,
    InventoryAdjustment,
    Order,
    OrderLineItem,
    OrderRefund,
    OrderRefundLineItem,
    OrderRefundTransaction,
    OrderTransaction,
    Payment,
    Refund,
    Transaction,
)
from shopdb.orders.payments import registry_gateways
from shopdb.orders.refunds.schemas import RefundCreate
from shopdb.orders.refunds.service import create_refund
from shopdb.services import services_of
from tests.fixtures.catalog import Headers
from tests.orders.helpers import (
    APPROVE,
    ORDERS,
    count,
    jobs_of,
    level,
    make_locations,
    make_variant,
    order_body,
    place,
)
from tests.orders.test_adjustments import discount_code, shipping_rate, tax_rate

# --- helpers shared with test_cancel.py -------------------------------------------------------


async def placed(
    client: httpx.AsyncClient, headers: Headers, *lines: tuple[int, int], **fields: Any
) -> dict[str, Any]:
    response = await place(client, headers, order_body(*lines, **fields))
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()
    return order


async def refund(
    client: httpx.AsyncClient, headers: Headers, order_id: int, **body: Any
) -> httpx.Response:
    return await client.post(f"{ORDERS}/{order_id}/refunds", json=body, headers=headers)


async def calculate(
    client: httpx.AsyncClient, headers: Headers, order_id: int, **body: Any
) -> httpx.Response:
    return await client.post(f"{ORDERS}/{order_id}/refunds/calculate", json=body, headers=headers)


async def financial_status(database: Database, order_id: int) -> str:
    async with database.session() as session:
        found = await session.scalar(select(Order.financial_status).where(Order.id == order_id))
        assert found is not None
        return found


async def ship(database: Database, line_id: int, quantity: int) -> None:
    """What fulfilling `quantity` units of a line does (the fulfillments work's, done here
    directly so that these tests stand alone): fulfilled_quantity up, committed stock out."""
    async with database.session() as session:
        line = await session.get(OrderLineItem, line_id)
        assert line is not None
        await session.execute(
            update(OrderLineItem)
            .where(OrderLineItem.id == line_id)
            .values(fulfilled_quantity=OrderLineItem.fulfilled_quantity + quantity)
        )
        if line.inventory_item_id is not None and line.location_id is not None:
            await fulfill_committed(
                session, [StockLine(line.inventory_item_id, line.location_id, quantity)]
            )


async def line_units(database: Database, line_id: int) -> tuple[int, int, int]:
    """(quantity, fulfilled_quantity, removed_quantity) of a line."""
    async with database.session() as session:
        row = (
            await session.execute(
                select(
                    OrderLineItem.quantity,
                    OrderLineItem.fulfilled_quantity,
                    OrderLineItem.removed_quantity,
                ).where(OrderLineItem.id == line_id)
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])


async def refund_rows(database: Database, order_id: int) -> int:
    async with database.session() as session:
        return await count(session, OrderRefund, OrderRefund.order_id == order_id)


async def topics(database: Database, subject_type: str, subject_id: int) -> list[str]:
    async with database.session() as session:
        rows = await session.scalars(
            select(Event.topic)
            .where(Event.subject_type == subject_type, Event.subject_id == subject_id)
            .order_by(Event.id)
        )
        return list(rows)


async def refund_transactions(database: Database, order_id: int) -> list[tuple[str, Decimal]]:
    async with database.session() as session:
        rows = await session.execute(
            select(OrderTransaction.status, OrderTransaction.amount)
            .where(OrderTransaction.order_id == order_id, OrderTransaction.kind == "refund")
            .order_by(OrderTransaction.id)
        )
        return [(r[0], Decimal(r[1])) for r in rows]


async def both_refund_tables(database: Database, order_id: int) -> tuple[Decimal, Decimal]:
    """(sum of order_refunds.amount, sum of the payment side's successful `refunds`)."""
    async with database.session() as session:
        truth = await session.scalar(
            select(func.coalesce(func.sum(OrderRefund.amount), 0)).where(
                OrderRefund.order_id == order_id
            )
        )
        mirror = await session.scalar(
            select(func.coalesce(func.sum(Refund.amount), 0))
            .join(Payment, Payment.id == Refund.payment_id)
            .where(Payment.order_id == order_id, Refund.status == "success")
        )
        return Decimal(truth or 0), Decimal(mirror or 0)


def lines_of(order: dict[str, Any]) -> list[int]:
    return [li["id"] for li in order["lineItems"]]


def item(
    line_id: int, quantity: int, restock_type: str | None = None, **more: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"lineItemId": line_id, "quantity": quantity, **more}
    if restock_type is not None:
        body["restockType"] = restock_type
    return body


TEXAS = {"address1": "1 Main St", "city": "Austin", "countryCode": "US"}


async def taxed_order(
    client: httpx.AsyncClient, admin: Headers, database: Database
) -> tuple[dict[str, Any], int]:
    """3 tees at 19.99 (taxable) and a mug at 7.33 (not), 10% off, 4.95 shipping, 8.25% tax:
    subtotal 67.30, discount 6.73 (tee line 6.00, mug 0.73), tax 4.45, total 69.97."""
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "19.99", {loc: 10}, weight="0.2")
    mug = await make_variant(database, "7.33", {loc: 10}, title="Mug", taxable=False)
    await discount_code(client, admin, "TENOFF")
    rate_id = await shipping_rate(client, admin, "4.95")
    await tax_rate(client, admin, "0.0825")
    order = await placed(
        client,
        admin,
        (tee.variant_id, 3),
        (mug.variant_id, 1),
        discountCode="TENOFF",
        shippingRateId=rate_id,
        shippingAddress=TEXAS,
    )
    assert (order["totalPrice"], order["totalTax"], order["totalDiscounts"]) == (
        "69.97",
        "4.45",
        "6.73",
    )
    assert [li["totalDiscount"] for li in order["lineItems"]] == ["6.00", "0.73"]
    return order, loc


# --- calculate --------------------------------------------------------------------------------


class TestCalculate:
    async def test_a_line_is_worth_its_price_less_its_discount_share_plus_its_tax_share(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, _ = await taxed_order(client, admin, database)
        tee_line, mug_line = lines_of(order)
        sale = order["transactions"][0]

        response = await calculate(
            client,
            admin,
            order["id"],
            refundLineItems=[item(tee_line, 1), item(mug_line, 1, "cancel")],
            shipping={"fullRefund": True},
        )

        assert response.status_code == 200, response.text
        body = response.json()
        # Tee: 19.99 - 6.00/3 = 17.99, tax 4.45/3 = 1.48; mug: 7.33 - 0.73 = 6.60, untaxed.
        assert body["refundLineItems"] == [
            {
                "lineItemId": tee_line,
                "quantity": 1,
                "restockType": "no_restock",
                "locationId": None,
                "price": "19.99",
                "subtotal": "17.99",
                "totalTax": "1.48",
            },
            {
                "lineItemId": mug_line,
                "quantity": 1,
                "restockType": "cancel",
                "locationId": order["lineItems"][1]["locationId"],
                "price": "7.33",
                "subtotal": "6.60",
                "totalTax": "0.00",
            },
        ]
        # The tax lines fit the goods alone (8.25% of 53.97), so shipping carries no tax.
        assert body["shipping"] == {"amount": "4.95", "tax": "0.00", "maximumRefundable": "4.95"}
        assert (body["subtotal"], body["totalTax"], body["totalAmount"]) == (
            "24.59",
            "1.48",
            "31.02",
        )
        assert body["currency"] == "USD"
        assert body["transactions"] == [
            {
                "parentId": sale["id"],
                "kind": "refund",
                "gateway": "test",
                "amount": "31.02",
                "maximumRefundable": "69.97",
            }
        ]

    async def test_taxed_shipping_carries_its_share_of_the_tax(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        rate_id = await shipping_rate(client, admin, "6.00")
        response = await client.post(
            "/api/v1/tax-rates",
            json={"country": "US", "name": "VAT", "rate": "0.10", "shippingTaxable": True},
            headers=admin,
        )
        assert response.status_code == 201, response.text
        order = await placed(
            client, admin, (tee.variant_id, 3), shippingRateId=rate_id, shippingAddress=TEXAS
        )
        # 10% of 30.00 of goods and 6.00 of shipping.
        assert (order["totalTax"], order["totalPrice"]) == ("3.60", "39.60")
        (line,) = lines_of(order)

        one = await calculate(
            client, admin, order["id"], refundLineItems=[item(line, 1)], shipping={"amount": "3.00"}
        )
        everything = await calculate(
            client,
            admin,
            order["id"],
            refundLineItems=[item(line, 3)],
            shipping={"fullRefund": True},
        )

        assert one.json()["refundLineItems"][0]["totalTax"] == "1.00"
        assert one.json()["shipping"] == {
            "amount": "3.00",
            "tax": "0.30",
            "maximumRefundable": "6.00",
        }
        assert (one.json()["totalTax"], one.json()["totalAmount"]) == ("1.30", "14.30")
        assert (everything.json()["totalTax"], everything.json()["totalAmount"]) == (
            "3.60",
            "39.60",
        )

    async def test_calculating_writes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 5})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line,) = lines_of(order)
        async with database.session() as session:
            adjustments = await count(session, InventoryAdjustment)
            events = await count(session, Event)

        response = await calculate(
            client, admin, order["id"], refundLineItems=[item(line, 2, "cancel")]
        )

        assert response.status_code == 200, response.text
        assert response.json()["totalAmount"] == "20.00"
        assert await refund_rows(database, order["id"]) == 0
        assert await line_units(database, line) == (2, 0, 0)
        assert await refund_transactions(database, order["id"]) == []
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (3, 2)
            assert await count(session, InventoryAdjustment) == adjustments
            assert await count(session, Event) == events

    async def test_an_unknown_order_is_404(self, client: httpx.AsyncClient, admin: Headers) -> None:
        response = await calculate(client, admin, 999_999_999, refundLineItems=[])

        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


# --- create -----------------------------------------------------------------------------------


class TestRestockTypes:
    async def test_notify_queues_the_refund_email_with_the_refund(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line,) = lines_of(order)

        quiet = await refund(client, admin, order["id"], refundLineItems=[item(line, 1, "cancel")])
        told = await refund(
            client, admin, order["id"], refundLineItems=[item(line, 1, "cancel")], notify=True
        )

        assert quiet.status_code == told.status_code == 201, told.text
        async with database.session() as session:
            assert await jobs_of(session, REFUNDS_NOTIFICATION_EMAIL.name, order["id"]) == 1

    async def test_cancel_puts_committed_units_back_and_removes_them_from_the_line(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)
        sale = order["transactions"][0]

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line, 2, "cancel")], note="changed"
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["Location"] == f"{ORDERS}/{order['id']}/refunds/{body['id']}"
        assert body["orderId"] == order["id"]
        assert body["note"] == "changed"
        assert body["totalAmount"] == "20.00"
        assert body["currency"] == "USD"
        (refunded,) = body["refundLineItems"]
        assert {k: refunded[k] for k in ("lineItemId", "quantity", "restockType")} == {
            "lineItemId": line,
            "quantity": 2,
            "restockType": "cancel",
        }
        assert refunded["locationId"] == loc
        assert refunded["removedQuantity"] == 2
        assert (refunded["subtotal"], refunded["totalTax"]) == ("20.00", "0.00")
        (money,) = body["transactions"]
        assert (money["kind"], money["status"], money["amount"], money["parentId"]) == (
            "refund",
            "success",
            "20.00",
            sale["id"],
        )
        assert await line_units(database, line) == (3, 0, 2)
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (9, 1)
            restocks = await session.scalars(
                select(InventoryAdjustment.quantity_name)
                .where(
                    InventoryAdjustment.inventory_item_id == tee.item_id,
                    InventoryAdjustment.reason == "restock",
                )
                .order_by(InventoryAdjustment.id)
            )
            assert sorted(restocks) == ["available", "committed"]
        assert await financial_status(database, order["id"]) == ("partially_refunded")
        assert await topics(database, "Refund", body["id"]) == ["refunds/create"]
        assert "orders/updated" in await topics(database, "Order", order["id"])

    async def test_no_restock_takes_unfulfilled_units_out_of_committed_only(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)

        response = await refund(client, admin, order["id"], refundLineItems=[item(line, 1)])

        assert response.status_code == 201, response.text
        (refunded,) = response.json()["refundLineItems"]
        assert (refunded["restockType"], refunded["locationId"], refunded["removedQuantity"]) == (
            "no_restock",
            None,
            1,
        )
        assert await line_units(database, line) == (3, 0, 1)
        async with database.session() as session:
            # The unit will never ship: it leaves committed, and is not back on sale.
            assert await level(session, tee.item_id, loc) == (7, 2)

    async def test_return_puts_fulfilled_units_back_on_sale_at_the_named_location(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        main, returns = await make_locations(database, "Main", "Returns")
        tee = await make_variant(database, "10.00", {main: 10, returns: 0})
        order = await placed(client, admin, (tee.variant_id, 3), locationId=main)
        (line,) = lines_of(order)
        await ship(database, line, 2)

        response = await refund(
            client,
            admin,
            order["id"],
            refundLineItems=[item(line, 1, "return", locationId=returns)],
        )

        assert response.status_code == 201, response.text
        (refunded,) = response.json()["refundLineItems"]
        assert (refunded["restockType"], refunded["locationId"], refunded["removedQuantity"]) == (
            "return",
            returns,
            0,
        )
        assert await line_units(database, line) == (3, 2, 0)
        async with database.session() as session:
            assert await level(session, tee.item_id, main) == (7, 1)
            assert await level(session, tee.item_id, returns) == (1, 0)
            (adjustment,) = (
                await session.scalars(
                    select(InventoryAdjustment).where(
                        InventoryAdjustment.inventory_item_id == tee.item_id,
                        InventoryAdjustment.location_id == returns,
                    )
                )
            ).all()
            assert (
                adjustment.quantity_name,
                adjustment.quantity_adjustment,
                adjustment.reason,
            ) == (
                "available",
                1,
                "restock",
            )

    async def test_legacy_restock_cancels_the_unfulfilled_units_and_returns_the_shipped_ones(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)
        await ship(database, line, 1)

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line, 3)], restock=True
        )

        assert response.status_code == 201, response.text
        assert [
            (r["restockType"], r["quantity"], r["removedQuantity"])
            for r in response.json()["refundLineItems"]
        ] == [("cancel", 2, 2), ("return", 1, 0)]
        assert await line_units(database, line) == (3, 1, 2)
        async with database.session() as session:
            # 7 available after placing; 2 released, 1 returned; nothing left committed.
            assert await level(session, tee.item_id, loc) == (10, 0)


class TestRefusals:
    async def test_a_unit_is_never_refunded_twice(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)
        first = await refund(client, admin, order["id"], refundLineItems=[item(line, 2, "cancel")])
        assert first.status_code == 201, first.text

        again = await refund(client, admin, order["id"], refundLineItems=[item(line, 2)])
        twice = await refund(
            client, admin, order["id"], refundLineItems=[item(line, 1), item(line, 1)]
        )

        for refused in (again, twice):
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "REFUND_QUANTITY_EXCEEDED"
        assert again.json()["details"][0]["field"] == "refundLineItems[0].quantity"
        assert twice.json()["details"][0]["field"] == "refundLineItems[1].quantity"
        assert await refund_rows(database, order["id"]) == 1
        assert await line_units(database, line) == (3, 0, 2)
        assert await refund_transactions(database, order["id"]) == [("success", Decimal("20.00"))]
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (9, 1)

    async def test_cancel_takes_only_unfulfilled_units_and_return_only_fulfilled_ones(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)
        await ship(database, line, 1)

        cancel = await refund(client, admin, order["id"], refundLineItems=[item(line, 3, "cancel")])
        ret = await refund(client, admin, order["id"], refundLineItems=[item(line, 2, "return")])

        assert cancel.status_code == 422, cancel.text
        assert cancel.json()["code"] == "RESTOCK_CANCEL_EXCEEDS_UNFULFILLED"
        assert ret.status_code == 422, ret.text
        assert ret.json()["code"] == "RESTOCK_RETURN_EXCEEDS_FULFILLED"
        assert await refund_rows(database, order["id"]) == 0
        assert await line_units(database, line) == (3, 1, 0)
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (7, 2)

    async def test_a_line_of_another_order_and_too_much_shipping_are_422(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        rate_id = await shipping_rate(client, admin, "5.00")
        order = await placed(
            client, admin, (tee.variant_id, 1), shippingRateId=rate_id, shippingAddress=TEXAS
        )
        other = await placed(client, admin, (tee.variant_id, 1))

        foreign = await refund(
            client, admin, order["id"], refundLineItems=[item(lines_of(other)[0], 1)]
        )
        shipping = await refund(client, admin, order["id"], shipping={"amount": "5.01"})
        empty = await refund(client, admin, order["id"])

        assert foreign.status_code == 422
        assert foreign.json()["code"] == "REFUND_LINE_ITEM_INVALID"
        assert foreign.json()["details"][0]["field"] == "refundLineItems[0].lineItemId"
        assert shipping.status_code == 422
        assert shipping.json()["code"] == "REFUND_SHIPPING_EXCEEDED"
        assert empty.status_code == 422
        assert empty.json()["code"] == "REFUND_EMPTY"
        assert await refund_rows(database, order["id"]) == 0
        assert await refund_transactions(database, order["id"]) == []

    async def test_a_return_to_a_location_not_stocking_the_item_changes_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        main, elsewhere = await make_locations(database, "Main", "Elsewhere")
        tee = await make_variant(database, "10.00", {main: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        (line,) = lines_of(order)
        await ship(database, line, 2)

        response = await refund(
            client,
            admin,
            order["id"],
            refundLineItems=[item(line, 1, "return", locationId=elsewhere)],
        )

        assert response.status_code == 409, response.text
        assert response.json()["code"] == "INVENTORY_NOT_STOCKED"
        assert await refund_rows(database, order["id"]) == 0
        assert await refund_transactions(database, order["id"]) == []
        async with database.session() as session:
            assert await level(session, tee.item_id, main) == (8, 0)

    async def test_a_refund_the_gateway_fails_is_402_and_leaves_nothing(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        payment = {"gateway": "test", "token": f"{APPROVE}+fail_refund", "capture": True}
        order = await placed(client, admin, (tee.variant_id, 2), payment=payment)
        (line,) = lines_of(order)

        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line, 2, "cancel")]
        )

        assert response.status_code == 402, response.text
        assert response.json()["code"] == "REFUND_FAILED"
        assert response.json()["details"] == [
            {"field": "transactions", "message": "processing_error"}
        ]
        assert await refund_rows(database, order["id"]) == 0
        assert await refund_transactions(database, order["id"]) == []
        assert await line_units(database, line) == (2, 0, 0)
        async with database.session() as session:
            assert await level(session, tee.item_id, loc) == (8, 2)
        assert await financial_status(database, order["id"]) == "paid"

    async def test_a_transaction_beyond_its_capture_is_422(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 1))
        sale = order["transactions"][0]

        response = await refund(
            client,
            admin,
            order["id"],
            transactions=[{"parentId": sale["id"], "amount": "10.01", "kind": "refund"}],
        )

        assert response.status_code == 422, response.text
        assert response.json()["code"] == "REFUND_TRANSACTION_INVALID"
        assert response.json()["details"][0]["field"] == "transactions[0].amount"
        assert await refund_rows(database, order["id"]) == 0


class TestMoney:
    async def test_refunding_everything_piece_by_piece_gives_back_the_total_to_the_cent(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        order, _ = await taxed_order(client, admin, database)
        tee_line, mug_line = lines_of(order)

        amounts = []
        for body in (
            {"refundLineItems": [item(tee_line, 1, "cancel")]},
            {"refundLineItems": [item(tee_line, 1, "cancel")], "shipping": {"amount": "2.00"}},
            {
                "refundLineItems": [item(tee_line, 1, "cancel"), item(mug_line, 1, "cancel")],
                "shipping": {"fullRefund": True},
            },
        ):
            response = await refund(client, admin, order["id"], **body)
            assert response.status_code == 201, response.text
            amounts.append(Decimal(response.json()["totalAmount"]))

        # Tee units are worth 17.99 each (53.97 / 3); their tax shares, rounded once for the
        # units refunded so far (1.48, 2.97, 4.45), are 1.48, 1.49, 1.48. The mug is 6.60,
        # untaxed; the shipping 2.00 then the 2.95 left.
        assert amounts == [Decimal("19.47"), Decimal("21.48"), Decimal("29.02")]
        assert sum(amounts) == Decimal("69.97")
        assert await financial_status(database, order["id"]) == "refunded"
        assert await line_units(database, tee_line) == (3, 0, 3)
        assert await line_units(database, mug_line) == (1, 0, 1)
        assert await both_refund_tables(database, order["id"]) == (
            Decimal("69.97"),
            Decimal("69.97"),
        )
        nothing_left = await calculate(client, admin, order["id"], shipping={"fullRefund": True})
        assert nothing_left.json()["shipping"]["maximumRefundable"] == "0.00"
        assert nothing_left.json()["transactions"] == []

    async def test_given_transactions_refund_money_without_lines(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 2))
        sale = order["transactions"][0]

        response = await refund(
            client,
            admin,
            order["id"],
            note="goodwill",
            transactions=[{"parentId": sale["id"], "amount": "3.50", "gateway": "test"}],
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["refundLineItems"] == []
        assert body["totalAmount"] == "3.50"
        assert [(t["amount"], t["parentId"]) for t in body["transactions"]] == [
            ("3.50", sale["id"])
        ]
        assert await line_units(database, lines_of(order)[0]) == (2, 0, 0)
        assert await both_refund_tables(database, order["id"]) == (
            Decimal("3.50"),
            Decimal("3.50"),
        )

    async def test_an_authorized_order_refunds_lines_without_money(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        payment = {"gateway": "test", "token": APPROVE, "capture": False}
        order = await placed(client, admin, (tee.variant_id, 2), payment=payment)
        (line,) = lines_of(order)

        quote = await calculate(client, admin, order["id"], refundLineItems=[item(line, 1)])
        response = await refund(
            client, admin, order["id"], refundLineItems=[item(line, 1, "cancel")]
        )

        assert quote.json()["totalAmount"] == "10.00"
        assert quote.json()["transactions"] == []  # nothing was captured
        assert response.status_code == 201, response.text
        assert response.json()["totalAmount"] == "0.00"
        assert response.json()["transactions"] == []
        assert await line_units(database, line) == (2, 0, 1)
        assert await financial_status(database, order["id"]) == "authorized"
        assert "orders/updated" in await topics(database, "Order", order["id"])

    async def test_both_refund_tables_agree_and_every_refund_transaction_is_linked(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "12.34", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 4))
        (line,) = lines_of(order)
        sale = order["transactions"][0]

        for quantity in (1, 2):
            response = await refund(
                client, admin, order["id"], refundLineItems=[item(line, quantity, "cancel")]
            )
            assert response.status_code == 201, response.text

        assert await both_refund_tables(database, order["id"]) == (
            Decimal("37.02"),
            Decimal("37.02"),
        )
        async with database.session() as session:
            links = (
                await session.execute(
                    select(
                        OrderRefundTransaction.order_transaction_id,
                        Refund.amount,
                        Transaction.order_transaction_id,
                    )
                    .join(Refund, Refund.id == OrderRefundTransaction.refund_id)
                    .join(Transaction, Transaction.payment_id == Refund.payment_id)
                    .join(OrderRefund, OrderRefund.id == OrderRefundTransaction.order_refund_id)
                    .where(OrderRefund.order_id == order["id"])
                    .order_by(OrderRefundTransaction.id)
                )
            ).all()
            refunds = await session.scalars(
                select(OrderTransaction.id)
                .where(OrderTransaction.order_id == order["id"], OrderTransaction.kind == "refund")
                .order_by(OrderTransaction.id)
            )
            # Each refund transaction is linked once, to a payment-side refund of the sale.
            assert [row[0] for row in links] == list(refunds)
            assert [row[1] for row in links] == [Decimal("12.34"), Decimal("24.68")]
            assert {row[2] for row in links} == {sale["id"]}
            lines = await session.scalars(
                select(OrderRefundLineItem.quantity)
                .join(OrderRefund, OrderRefund.id == OrderRefundLineItem.order_refund_id)
                .where(OrderRefund.order_id == order["id"])
            )
            assert sorted(lines) == [1, 2]


class TestReading:
    async def test_refunds_are_listed_and_read_one_by_one(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)
        made = []
        for quantity in (1, 2):
            response = await refund(
                client, admin, order["id"], refundLineItems=[item(line, quantity, "cancel")]
            )
            assert response.status_code == 201, response.text
            made.append(response.json())

        listed = await client.get(f"{ORDERS}/{order['id']}/refunds", headers=admin)
        one = await client.get(f"{ORDERS}/{order['id']}/refunds/{made[1]['id']}", headers=admin)
        missing = await client.get(f"{ORDERS}/{order['id']}/refunds/999999999", headers=admin)

        assert listed.status_code == 200
        assert listed.json()["items"] == made
        assert one.status_code == 200
        assert one.json() == made[1]
        assert missing.status_code == 404

    async def test_a_retried_refund_with_its_key_refunds_once(
        self, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "10.00", {loc: 10})
        order = await placed(client, admin, (tee.variant_id, 3))
        (line,) = lines_of(order)
        headers = {**admin, "Idempotency-Key": "refund-once-1"}
        body = {"refundLineItems": [item(line, 1, "cancel")]}

        first = await client.post(f"{ORDERS}/{order['id']}/refunds", json=body, headers=headers)
        second = await client.post(f"{ORDERS}/{order['id']}/refunds", json=body, headers=headers)

        assert first.status_code == 201, first.text
        assert second.status_code == 201
        assert second.json() == first.json()
        assert await refund_rows(database, order["id"]) == 1
        assert await refund_transactions(database, order["id"]) == [("success", Decimal("10.00"))]
        assert await line_units(database, line) == (3, 0, 1)


class TestPythonApi:
    async def test_a_caller_that_restocked_the_units_itself_gets_a_refund_that_moves_none(
        self, app: FastAPI, client: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        main, returns = await make_locations(database, "Main", "Returns")
        tee = await make_variant(database, "10.00", {main: 10, returns: 0})
        order = await placed(client, admin, (tee.variant_id, 3), locationId=main)
        (line,) = lines_of(order)
        await ship(database, line, 2)
        data = RefundCreate.model_validate(
            {"refundLineItems": [item(line, 2, "return", locationId=returns)]}
        )

        async with database.session() as session:
            created = await create_refund(
                session,
                registry_gateways(services_of(app).settings),
                order["id"],
                data,
                now=utcnow(),
                actor="returns",
                move_stock=False,
            )

        assert created.refund.amount == Decimal("20.00")
        assert [(r.restock_type, r.quantity, r.location_id) for r in created.lines] == [
            ("return", 2, returns)
        ]
        assert await line_units(database, line) == (3, 2, 0)
        async with database.session() as session:
            assert await level(session, tee.item_id, main) == (7, 1)
            assert await level(session, tee.item_id, returns) == (0, 0)
        assert await both_refund_tables(database, order["id"]) == (
            Decimal("20.00"),
            Decimal("20.00"),
        )
