"""Each list filter with the default sort, and each sort alone, reads one index range in
order on PostgreSQL: no sort step, no other index (the planner is kept off sequential scans,
which it would pick for a table this small)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import Direction, keyset_order
from shopdb.models import Order
from shopdb.orders.repository import SORT_COLUMNS, OrderFilters, OrderRepository

pytestmark = pytest.mark.postgres_only

CASES = [
    (OrderFilters(customer_id=7), "createdAt", "ix_orders_customer_id_created_at_id"),
    (OrderFilters(email_hash="0" * 64), "createdAt", "ix_orders_email_hash_created_at_id"),
    (
        OrderFilters(financial_status="paid"),
        "createdAt",
        "ix_orders_financial_status_created_at_id",
    ),
    (
        OrderFilters(fulfillment_status="unfulfilled"),
        "createdAt",
        "ix_orders_fulfillment_status_created_at_id",
    ),
    (OrderFilters(), "createdAt", "ix_orders_created_at_id"),
    (OrderFilters(), "updatedAt", "ix_orders_updated_at_id"),
    (OrderFilters(), "totalPrice", "ix_orders_total_price_id"),
    (OrderFilters(status="open"), "createdAt", "ix_orders_created_at_id"),
]


@pytest.mark.parametrize(("filters", "sort", "index"), CASES)
@pytest.mark.parametrize("direction", ["asc", "desc"])
async def test_filter_and_sort_walk_one_index(
    db_session: AsyncSession, filters: OrderFilters, sort: str, index: str, direction: Direction
) -> None:
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    repository = OrderRepository(db_session)
    statement = (
        repository._filtered(filters)
        .order_by(*keyset_order(SORT_COLUMNS[sort], Order.id, direction))
        .limit(51)
    )
    dialect = db_session.get_bind().dialect
    sql = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    await db_session.execute(text("SET LOCAL enable_seqscan = off"))

    rows = (await db_session.execute(text(f"EXPLAIN {sql}"))).scalars().all()
    plan = "\n".join(str(row) for row in rows)

    assert f" using {index} on orders" in plan.lower(), plan
    assert "Sort" not in plan, plan
