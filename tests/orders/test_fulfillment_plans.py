"""The fulfilment's read of the fulfillment orders its lines belong to, on PostgreSQL, as a
prepared statement's generic plan on tables without statistics and with many active
fulfillment orders: the lines' fulfillment orders read by their key, never every active one
through the status index."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.orders.fulfillments.repository import _fulfillment_orders_handling
from tests.fixtures.plans import generic_plan

pytestmark = pytest.mark.postgres_only


async def test_the_lines_fulfillment_orders_are_read_by_their_key(
    db_session: AsyncSession,
) -> None:
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    order_id = await db_session.scalar(
        text(
            "INSERT INTO orders (email, number, total_price, subtotal_price, financial_status,"
            " fulfillment_status, created_at, updated_at, version) VALUES ('sealed', '#plan', 1,"
            " 1, 'paid', 'unfulfilled', now(), now(), 1) RETURNING id"
        )
    )
    service_id = await db_session.scalar(
        text(
            "INSERT INTO fulfillment_services (name, handle, service_type, format)"
            " VALUES ('Plan', 'plan-test', 'manual', 'json') RETURNING id"
        )
    )
    await db_session.execute(
        text(
            "INSERT INTO fulfillment_orders (order_id, fulfillment_service_id, status,"
            " request_status, created_at, updated_at) SELECT :order_id, :service_id,"
            " CASE WHEN n % 5 = 0 THEN 'closed' ELSE 'open' END,"
            " 'unsubmitted', now(), now() FROM generate_series(1, 5000) AS n"
        ),
        {"order_id": order_id, "service_id": service_id},
    )

    plan = await generic_plan(
        db_session,
        _fulfillment_orders_handling(True),
        {"line_ids": "'{1,2}'::bigint[]", "status_1": "'closed'", "param_1": "1"},
    )

    assert "Index Scan using pk_fulfillment_orders" in plan, plan
    assert "ix_fulfillment_orders_status" not in plan, plan
