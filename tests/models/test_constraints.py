"""The database itself enforces the seed's rules: rows inserted with Core, bypassing every service.

Each expected failure runs inside a savepoint, so the test's transaction goes on afterwards and
can check that the refused row left nothing behind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.models import rows
from tests.models.rows import count, insert


async def assert_rejected(connection: AsyncConnection, table_name: str, **values: Any) -> None:
    before = await count(connection, table_name)
    with pytest.raises(IntegrityError):
        async with connection.begin_nested():
            await insert(connection, table_name, **values)
    assert await count(connection, table_name) == before


class TestUniqueConstraints:
    async def test_rejects_a_second_product_with_the_same_handle(
        self, db_connection: AsyncConnection
    ) -> None:
        await rows.product(db_connection, handle="classic-tee")

        await assert_rejected(db_connection, "products", title="Other", handle="classic-tee")

        assert await count(db_connection, "products", handle="classic-tee") == 1

    async def test_rejects_a_second_variant_with_the_same_sku(
        self, db_connection: AsyncConnection
    ) -> None:
        product_id = await rows.product(db_connection)
        await rows.variant(db_connection, product_id, sku="TEE-BLK-M")

        await assert_rejected(
            db_connection,
            "product_variants",
            product_id=product_id,
            title="Copy",
            price=Decimal("1.00"),
            sku="TEE-BLK-M",
        )

    async def test_allows_many_variants_without_a_sku(self, db_connection: AsyncConnection) -> None:
        product_id = await rows.product(db_connection)
        await rows.variant(db_connection, product_id, sku=None)
        await rows.variant(db_connection, product_id, sku=None)

        assert await count(db_connection, "product_variants", product_id=product_id) == 2

    async def test_rejects_the_same_tag_twice_on_one_product(
        self, db_connection: AsyncConnection
    ) -> None:
        product_id = await rows.product(db_connection)
        await insert(db_connection, "product_tags", product_id=product_id, tag="summer")

        await assert_rejected(db_connection, "product_tags", product_id=product_id, tag="summer")

    async def test_rejects_a_second_level_for_the_same_item_and_location(
        self, db_connection: AsyncConnection
    ) -> None:
        item_id = await rows.inventory_item(
            db_connection, await rows.variant(db_connection, await rows.product(db_connection))
        )
        location_id = await rows.location(db_connection)
        await insert(
            db_connection, "inventory_levels", inventory_item_id=item_id, location_id=location_id
        )

        await assert_rejected(
            db_connection, "inventory_levels", inventory_item_id=item_id, location_id=location_id
        )

    async def test_rejects_a_market_region_twice_for_one_country(
        self, db_connection: AsyncConnection
    ) -> None:
        market_id = await insert(db_connection, "markets", name="EU", primary_locale="en")
        region = {"market_id": market_id, "country_code": "FR", "currency": "EUR"}
        await insert(db_connection, "market_regions", **region)

        await assert_rejected(db_connection, "market_regions", **region)


class TestForeignKeys:
    async def test_rejects_a_variant_of_a_missing_product(
        self, db_connection: AsyncConnection
    ) -> None:
        await assert_rejected(
            db_connection,
            "product_variants",
            product_id=987654321,
            title="Orphan",
            price=Decimal("1.00"),
        )

    async def test_rejects_a_line_item_of_a_missing_order(
        self, db_connection: AsyncConnection
    ) -> None:
        await assert_rejected(
            db_connection,
            "order_line_items",
            order_id=987654321,
            title="Orphan",
            quantity=1,
            price=Decimal("1.00"),
        )

    async def test_refuses_to_delete_a_fulfillment_service_still_in_use(
        self, db_connection: AsyncConnection
    ) -> None:
        """The seed gives this foreign key no ON DELETE rule: NO ACTION, so the delete fails."""
        service_id = await insert(
            db_connection,
            "fulfillment_services",
            name="3PL",
            handle=rows.unique("3pl"),
            service_type="third_party",
            format="json",
        )
        order_id = await rows.order(db_connection)
        await insert(
            db_connection,
            "fulfillment_orders",
            order_id=order_id,
            fulfillment_service_id=service_id,
        )

        with pytest.raises(IntegrityError):
            async with db_connection.begin_nested():
                await rows.delete(db_connection, "fulfillment_services", service_id)

        assert await count(db_connection, "fulfillment_services", id=service_id) == 1


async def _company_terms(connection: AsyncConnection) -> dict[str, Any]:
    return {"company_id": await rows.company(connection)}


async def _inventory_level(connection: AsyncConnection) -> dict[str, Any]:
    variant_id = await rows.variant(connection, await rows.product(connection))
    return {
        "inventory_item_id": await rows.inventory_item(connection, variant_id),
        "location_id": await rows.location(connection),
    }


async def _nothing(_connection: AsyncConnection) -> dict[str, Any]:
    return {}


ValidRow = Callable[[AsyncConnection], Awaitable[dict[str, Any]]]
COMPANY = {"company_name": "Acme"}
COMPLIANCE = {
    "entity_type": "customer",
    "entity_id": 1,
    "compliance_type": "gdpr",
    "status": "pending",
}
RETENTION = {"retention_period_days": 30, "deletion_policy": "soft_delete"}

# (table, parent rows, valid values, the breaking value, the boundary value that is allowed)
CHECK_CASES: list[tuple[str, ValidRow, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("companies", _nothing, COMPANY, {"credit_limit": Decimal("-0.01")}, {"credit_limit": 0}),
    ("b2b_payment_terms", _company_terms, {}, {"net_days": 0}, {"net_days": 1}),
    ("b2b_payment_terms", _company_terms, {}, {"net_days": -30}, {"net_days": 90}),
    (
        "b2b_payment_terms",
        _company_terms,
        {},
        {"discount_percentage": Decimal("101")},
        {"discount_percentage": Decimal("100")},
    ),
    (
        "b2b_payment_terms",
        _company_terms,
        {},
        {"discount_percentage": Decimal("-0.01")},
        {"discount_percentage": Decimal("0")},
    ),
    ("compliance_data", _nothing, COMPLIANCE, {"status": "bogus"}, {"status": "expired"}),
    (
        "data_retention_policies",
        _nothing,
        RETENTION,
        {"deletion_policy": "shred"},
        {"deletion_policy": "archive"},
    ),
    (
        "data_retention_policies",
        _nothing,
        RETENTION,
        {"retention_period_days": 0},
        {"retention_period_days": 1},
    ),
    # `available` may go negative for `continue` variants (the guarded UPDATE decides, see
    # tests/inventory/test_policy.py); the unavailable states never may.
    ("inventory_levels", _inventory_level, {}, {"damaged": -1}, {"damaged": 0}),
]


class TestCheckConstraints:
    @pytest.mark.parametrize(
        ("table_name", "parents", "valid", "breaking", "boundary"),
        CHECK_CASES,
        ids=[
            f"{case[0]}.{next(iter(case[3]))}={next(iter(case[3].values()))}"
            for case in CHECK_CASES
        ],
    )
    async def test_rejects_the_breaking_value_and_accepts_the_boundary(
        self,
        db_connection: AsyncConnection,
        table_name: str,
        parents: ValidRow,
        valid: dict[str, Any],
        breaking: dict[str, Any],
        boundary: dict[str, Any],
    ) -> None:
        if table_name == "data_retention_policies":
            valid = {**valid, "entity_type": rows.unique("orders")}
        values = {**await parents(db_connection), **valid}

        await assert_rejected(db_connection, table_name, **{**values, **breaking})

        row_id = await insert(db_connection, table_name, **{**values, **boundary})
        column, allowed = next(iter(boundary.items()))
        assert await rows.column_value(db_connection, table_name, row_id, column) == allowed

    async def test_rejects_an_update_that_commits_more_than_it_has(
        self, db_connection: AsyncConnection
    ) -> None:
        level_id = await insert(
            db_connection, "inventory_levels", committed=3, **await _inventory_level(db_connection)
        )
        levels = rows.table("inventory_levels")

        with pytest.raises(IntegrityError):
            async with db_connection.begin_nested():
                await db_connection.execute(
                    sa.update(levels)
                    .where(levels.c.id == level_id)
                    .values(committed=levels.c.committed - 4)
                )

        assert (
            await rows.column_value(db_connection, "inventory_levels", level_id, "committed") == 3
        )
