"""Each filter of GET /api/v1/events reads an index range in id order on PostgreSQL, on a log
with a store's worth of events and its statistics: the filter's own (filter..., id) index, or
the primary key walked backwards with the filter checked per row (the planner's choice for a
filter that matches a large share); never a sequential scan, never a sort of every event."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.events.repository import EventFilters, EventRepository
from shopdb.kit.pagination import keyset_order
from shopdb.models import Event

pytestmark = pytest.mark.postgres_only

RECENT = datetime.now(UTC) - timedelta(hours=2)

PK = "pk_events"
SUBJECT = "ix_events_subject_type_subject_id_id"
TOPIC = ("ix_events_topic_id", "ix_events_topic")
VERB = ("ix_events_verb_id", "ix_events_verb")
CREATED = ("ix_events_created_at",)

# Each filter, and the indexes it may read: its own, or the primary key walked backwards with
# the filter checked per row (the planner's choice when the filter matches a large share).
CASES = [
    (EventFilters(), (PK,)),
    (EventFilters(topic="app/uninstalled"), (*TOPIC, PK)),
    (EventFilters(topic="orders/create"), (*TOPIC, PK)),
    (EventFilters(verb="uninstalled"), (*VERB, PK)),
    (EventFilters(verb="create"), (*VERB, PK)),
    # One record's events are few: always their own index.
    (EventFilters(subject_type="Order", subject_id=42), (SUBJECT,)),
    (EventFilters(topic="orders/create", subject_type="Order", subject_id=42), (SUBJECT,)),
    (EventFilters(subject_type="App"), (SUBJECT, PK)),
    (EventFilters(subject_type="Order"), (SUBJECT, PK)),
    (EventFilters(created_at_min=RECENT), (*CREATED, PK)),
    (
        EventFilters(created_at_min=RECENT - timedelta(days=20), created_at_max=RECENT),
        (*CREATED, PK),
    ),
    (EventFilters(topic="orders/paid", created_at_min=RECENT), (*TOPIC, *CREATED, PK)),
]


async def with_statistics(session: AsyncSession) -> None:
    """24,000 events a minute apart over 12 topics, 600 of a rarer one spread among them
    (rolled back with the test), and fresh statistics."""
    await session.execute(
        text(
            "INSERT INTO events (topic, verb, subject, subject_type, subject_id, created_at)"
            " SELECT t.topic, split_part(t.topic, '/', 2), t.kind || ' ' || (n % 4000),"
            " t.kind, n % 4000, now() - (24000 - n) * interval '1 minute'"
            " FROM generate_series(1, 24000) AS n"
            " JOIN (VALUES (0, 'orders/create', 'Order'), (1, 'orders/paid', 'Order'),"
            " (2, 'orders/updated', 'Order'), (3, 'products/create', 'Product'),"
            " (4, 'products/update', 'Product'), (5, 'products/delete', 'Product'),"
            " (6, 'customers/create', 'Customer'), (7, 'customers/update', 'Customer'),"
            " (8, 'inventory_levels/connect', 'InventoryLevel'),"
            " (9, 'variants/update', 'ProductVariant'), (10, 'refunds/create', 'Refund'),"
            " (11, 'discounts/create', 'DiscountCode')) AS t(i, topic, kind) ON t.i = n % 12"
        )
    )
    await session.execute(
        text(
            "INSERT INTO events (topic, verb, subject, subject_type, subject_id, created_at)"
            " SELECT 'app/uninstalled', 'uninstalled', 'App ' || n, 'App', n,"
            " now() - (24000 - n * 40) * interval '1 minute'"
            " FROM generate_series(1, 600) AS n"
        )
    )
    await session.execute(text("ANALYZE events"))


@pytest.mark.parametrize(("filters", "indexes"), CASES)
async def test_each_filter_reads_an_index(
    db_session: AsyncSession, filters: EventFilters, indexes: tuple[str, ...]
) -> None:
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    statement = (
        EventRepository(db_session)
        .filtered(filters)
        .order_by(*keyset_order(Event.id, Event.id, "desc"))
        .limit(51)
    )
    dialect = db_session.get_bind().dialect
    sql = statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    await with_statistics(db_session)
    await db_session.execute(text("SET LOCAL enable_seqscan = off"))

    rows = (await db_session.execute(text(f"EXPLAIN {sql}"))).scalars().all()
    plan = "\n".join(str(row) for row in rows)

    assert "Seq Scan" not in plan, plan
    used = {
        a or b for a, b in re.findall(r"using (\w+) on events|Bitmap Index Scan on (\w+)", plan)
    }
    assert used, plan
    assert used <= set(indexes), plan
    if "->  Sort " in plan:
        # Sorting only what a range of the filter's own index found, never every event.
        assert PK not in used, plan
        assert "Index Cond" in plan, plan
