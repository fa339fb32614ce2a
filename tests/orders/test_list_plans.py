"""Each list filter with the default sort, and each sort alone, reads one index range in
order on PostgreSQL, on a table with a store's worth of orders and its statistics: the
filter's own index, or the sort key's index walked in order (the planner's choice for a filter
that matches a large share), or for a customer's few orders their lookup and a sort of those;
never a sequential scan, never a sort of every order."""

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
    (OrderFilters(), "number", "ix_orders_order_number_id"),
    # Each status has its own index (a status is two nullable timestamps).
    (OrderFilters(status="open"), "createdAt", "ix_orders_open_created_at_id"),
    (OrderFilters(status="closed"), "createdAt", "ix_orders_closed_created_at_id"),
    (OrderFilters(status="cancelled"), "createdAt", "ix_orders_cancelled_created_at_id"),
    # A filter beside another sort: the sort's index, which carries the filters' columns.
    (
        OrderFilters(status="open", financial_status="paid"),
        "totalPrice",
        "ix_orders_total_price_id",
    ),
]


async def with_statistics(session: AsyncSession) -> None:
    """5,000 placed orders (rolled back with the test) and fresh statistics: on an almost empty
    table, with whatever statistics earlier tests left, the planner finds any plan cheap and
    may sort the rows of another index; with a store's worth of rows it picks as it would."""
    await session.execute(
        text(
            "INSERT INTO orders (email, number, total_price, subtotal_price, financial_status,"
            " fulfillment_status, created_at, updated_at, version)"
            " SELECT 'sealed-' || n, '#plan' || n, n % 500, n % 500,"
            " (ARRAY['paid', 'pending', 'refunded'])[1 + n % 3],"
            " (ARRAY['unfulfilled', 'fulfilled'])[1 + n % 2],"
            " now() - n * interval '1 minute', now() - n * interval '1 minute', 1"
            " FROM generate_series(1, 5000) AS n"
        )
    )
    await session.execute(text("ANALYZE orders"))


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
    await with_statistics(db_session)
    await db_session.execute(text("SET LOCAL enable_seqscan = off"))

    rows = (await db_session.execute(text(f"EXPLAIN {sql}"))).scalars().all()
    plan = "\n".join(str(row) for row in rows)

    assert "Seq Scan" not in plan, plan
    full_sort = "->  Sort " in plan
    if f" using {index} on orders" in plan.lower():
        assert not full_sort, plan  # the filter's own (filter, sort key, id) index, in order
    elif full_sort:
        # A customer's or an email's orders are few: the planner may look them up by the
        # filter's column and sort those (an Index Cond on it), never every order.
        assert filters.customer_id is not None or filters.email_hash is not None, plan
        assert "Index Cond" in plan, plan
    else:
        # Or the sort key's own index, walked in order with the filter checked per row (a
        # filter that matches a large share), ties on the key put in id order as they come.
        assert f"using ix_orders_{SORT_COLUMNS[sort].key}" in plan, plan
