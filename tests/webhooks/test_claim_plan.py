"""The delivery claim's plan on PostgreSQL, as a prepared statement's generic plan on a table
without statistics (a new database; autovacuum off or behind) full of delivered rows: each
subscription's due deliveries read from ix_webhook_deliveries_to_send in order, never every
delivery of the subscription through its (webhook_id, event_id) index at each claim."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.webhooks.repository import _postgres_claim_to_send
from tests.fixtures.plans import generic_plan

pytestmark = pytest.mark.postgres_only


async def delivered(session: AsyncSession, subscriptions: int, each: int) -> None:
    """`each` delivered deliveries per subscription (two row versions in the due index each,
    dead), then a few pending: no ANALYZE."""
    await session.execute(
        text(
            "INSERT INTO webhooks (topic, address, format, active, secret, consecutive_failures,"
            " created_at, updated_at) SELECT 'orders/create', 'http://127.0.0.1:9/' || n, 'json',"
            " true, 'sealed', 0, now(), now() FROM generate_series(1, :n) AS n"
        ),
        {"n": subscriptions},
    )
    await session.execute(
        text(
            "INSERT INTO webhook_deliveries (webhook_id, topic, payload, status, attempts,"
            " next_attempt_at, created_at) SELECT w.id, 'orders/create', '{}', 'pending', 0,"
            " now() - interval '1 hour' + n * interval '1 ms', now()"
            " FROM webhooks AS w, generate_series(1, :each) AS n"
        ),
        {"each": each},
    )
    await session.execute(text("UPDATE webhook_deliveries SET attempts = 1, locked_by = 'w'"))
    await session.execute(text("UPDATE webhook_deliveries SET status = 'succeeded'"))
    await session.execute(
        text(
            "INSERT INTO webhook_deliveries (webhook_id, topic, payload, status, attempts,"
            " next_attempt_at, created_at) SELECT w.id, 'orders/create', '{}', 'pending', 0,"
            " now(), now() FROM webhooks AS w, generate_series(1, 3)"
        )
    )


async def test_the_claim_reads_each_subscriptions_due_deliveries_in_order(
    db_session: AsyncSession,
) -> None:
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    await delivered(db_session, subscriptions=10, each=2_000)
    plan = await generic_plan(
        db_session,
        _postgres_claim_to_send(),
        {
            "attempts_1": "1",
            "owner": "'w'",
            "lease": "interval '60 seconds'",
            "room_ids": "'{}'::bigint[]",
            "room_shares": "'{}'::integer[]",
            "per_subscription": "4",
            "claim_limit": "32",
        },
    )

    assert "Index Scan using ix_webhook_deliveries_to_send" in plan, plan
    assert "ux_webhook_deliveries_webhook_id_event_id" not in plan, plan
