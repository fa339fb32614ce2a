"""The seed's ON DELETE rules, carried out by the database (plain DELETE statements, no ORM)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from tests.models import rows
from tests.models.rows import count, insert


class TestDeletingAProduct:
    async def test_removes_variants_options_values_tags_and_stock(
        self, db_connection: AsyncConnection
    ) -> None:
        product_id = await rows.product(db_connection)
        variant_ids = [
            await rows.variant(db_connection, product_id, sku=rows.unique("sku")) for _ in range(2)
        ]
        option_id = await insert(
            db_connection, "product_options", product_id=product_id, name="Size"
        )
        for value in ("S", "M"):
            await insert(db_connection, "option_values", product_option_id=option_id, value=value)
        for tag in ("summer", "cotton"):
            await insert(db_connection, "product_tags", product_id=product_id, tag=tag)
        location_id = await rows.location(db_connection)
        item_id = await rows.inventory_item(db_connection, variant_ids[0])
        await insert(
            db_connection,
            "inventory_levels",
            inventory_item_id=item_id,
            location_id=location_id,
            available=5,
        )
        await insert(
            db_connection,
            "inventory_adjustments",
            inventory_item_id=item_id,
            location_id=location_id,
            quantity_adjustment=5,
        )
        other_product = await rows.product(db_connection)
        other_variant = await rows.variant(db_connection, other_product)

        await rows.delete(db_connection, "products", product_id)

        assert await count(db_connection, "product_variants", product_id=product_id) == 0
        assert await count(db_connection, "product_options", product_id=product_id) == 0
        assert await count(db_connection, "option_values", product_option_id=option_id) == 0
        assert await count(db_connection, "product_tags", product_id=product_id) == 0
        assert await count(db_connection, "inventory_items", id=item_id) == 0
        assert await count(db_connection, "inventory_levels", inventory_item_id=item_id) == 0
        assert await count(db_connection, "inventory_adjustments", inventory_item_id=item_id) == 0
        # Locations and other products are not part of it.
        assert await count(db_connection, "locations", id=location_id) == 1
        assert await count(db_connection, "product_variants", id=other_variant) == 1

    async def test_keeps_order_lines_and_forgets_their_variant(
        self, db_connection: AsyncConnection
    ) -> None:
        product_id = await rows.product(db_connection)
        variant_id = await rows.variant(db_connection, product_id)
        order_id = await rows.order(db_connection)
        line_id = await insert(
            db_connection,
            "order_line_items",
            order_id=order_id,
            product_variant_id=variant_id,
            title="Tee",
            quantity=1,
            price=Decimal("10.00"),
        )

        await rows.delete(db_connection, "products", product_id)

        assert await count(db_connection, "order_line_items", id=line_id) == 1
        assert (
            await rows.column_value(
                db_connection, "order_line_items", line_id, "product_variant_id"
            )
            is None
        )


class TestDeletingACustomer:
    async def test_detaches_orders_checkouts_and_gift_cards_and_removes_addresses_and_tags(
        self, db_connection: AsyncConnection
    ) -> None:
        customer_id = await rows.customer(db_connection)
        await insert(
            db_connection,
            "customer_addresses",
            customer_id=customer_id,
            address1="1 Main St",
            city="Springfield",
            country="US",
        )
        await insert(db_connection, "customer_tags", customer_id=customer_id, tag="vip")
        group_id = await insert(db_connection, "customer_groups", name=rows.unique("Wholesale"))
        await insert(
            db_connection,
            "customer_group_memberships",
            customer_group_id=group_id,
            customer_id=customer_id,
        )
        order_id = await rows.order(db_connection, customer_id)
        checkout_id = await insert(
            db_connection,
            "abandoned_checkouts",
            customer_id=customer_id,
            email="buyer@example.com",
            total_price=Decimal("5.00"),
            currency="USD",
            abandoned_at=rows.aware(),
        )
        enhanced_id = await insert(
            db_connection,
            "abandoned_checkouts_enhanced",
            customer_id=customer_id,
            token=rows.unique("tok"),
        )
        gift_card_id = await insert(
            db_connection,
            "gift_cards",
            customer_id=customer_id,
            code=rows.unique("GIFT"),
            last_characters="abcd",
            initial_value=Decimal("50.00"),
            balance=Decimal("50.00"),
            currency="USD",
        )

        await rows.delete(db_connection, "customers", customer_id)

        for table_name, row_id in (
            ("orders", order_id),
            ("abandoned_checkouts", checkout_id),
            ("abandoned_checkouts_enhanced", enhanced_id),
            ("gift_cards", gift_card_id),
        ):
            assert await count(db_connection, table_name, id=row_id) == 1, table_name
            customer = await rows.column_value(db_connection, table_name, row_id, "customer_id")
            assert customer is None, table_name
        assert await count(db_connection, "customer_addresses", customer_id=customer_id) == 0
        assert await count(db_connection, "customer_tags", customer_id=customer_id) == 0
        assert (
            await count(db_connection, "customer_group_memberships", customer_id=customer_id) == 0
        )
        assert await count(db_connection, "customer_groups", id=group_id) == 1


class TestDeletingAnOrder:
    async def test_removes_everything_recorded_against_it(
        self, db_connection: AsyncConnection
    ) -> None:
        variant_id = await rows.variant(db_connection, await rows.product(db_connection))
        location_id = await rows.location(db_connection)
        order_id = await rows.order(db_connection)
        money = {"amount": Decimal("20.00"), "currency": "USD"}
        line_id = await insert(
            db_connection,
            "order_line_items",
            order_id=order_id,
            product_variant_id=variant_id,
            title="Tee",
            quantity=2,
            price=Decimal("10.00"),
        )
        await insert(
            db_connection,
            "order_transactions",
            order_id=order_id,
            kind="sale",
            gateway="manual",
            status="success",
            **money,
        )
        await insert(db_connection, "order_fulfillments", order_id=order_id)
        await insert(db_connection, "order_refunds", order_id=order_id, **money)
        payment_id = await insert(
            db_connection, "payments", order_id=order_id, gateway="manual", status="paid", **money
        )
        await insert(
            db_connection,
            "transactions",
            payment_id=payment_id,
            type="charge",
            status="success",
            **money,
        )
        await insert(db_connection, "refunds", payment_id=payment_id, status="pending", **money)
        parent_id = await insert(
            db_connection,
            "transactions_enhanced",
            order_id=order_id,
            kind="authorization",
            gateway="manual",
            status="success",
            location_id=location_id,
            **money,
        )
        await insert(
            db_connection,
            "transactions_enhanced",
            order_id=order_id,
            kind="capture",
            gateway="manual",
            status="success",
            parent_id=parent_id,
            **money,
        )
        fulfillment_id = await insert(
            db_connection, "fulfillments_enhanced", order_id=order_id, location_id=location_id
        )
        await insert(
            db_connection,
            "fulfillment_line_items",
            fulfillment_id=fulfillment_id,
            line_item_id=line_id,
            quantity=2,
        )
        service_id = await insert(
            db_connection,
            "fulfillment_services",
            name="3PL",
            handle=rows.unique("3pl"),
            service_type="third_party",
            format="json",
        )
        await insert(
            db_connection,
            "fulfillment_orders",
            order_id=order_id,
            fulfillment_service_id=service_id,
        )

        await rows.delete(db_connection, "orders", order_id)

        for table_name in (
            "order_line_items",
            "order_transactions",
            "order_fulfillments",
            "order_refunds",
            "payments",
            "transactions_enhanced",
            "fulfillments_enhanced",
            "fulfillment_orders",
        ):
            assert await count(db_connection, table_name, order_id=order_id) == 0, table_name
        assert await count(db_connection, "transactions", payment_id=payment_id) == 0
        assert await count(db_connection, "refunds", payment_id=payment_id) == 0
        assert await count(db_connection, "fulfillment_line_items", line_item_id=line_id) == 0
        # What the order pointed at survives it.
        assert await count(db_connection, "product_variants", id=variant_id) == 1
        assert await count(db_connection, "locations", id=location_id) == 1
        assert await count(db_connection, "fulfillment_services", id=service_id) == 1
