"""The job claim's plan on PostgreSQL, on a queue table without statistics (a new database;
autovacuum off or behind) and full of finished jobs whose entries in the claimable index are
dead: the claimable index read in (run_after, id) order up to the limit, never a bitmap scan
that reads every job of the worker's kinds at each claim (ix_jobs_kind_created_at)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.jobs.kinds import KINDS
from shopdb.jobs.queue import _COMPLETE_AND_CLAIM
from tests.fixtures.plans import generic_plan

pytestmark = pytest.mark.postgres_only


async def finished_jobs(session: AsyncSession, count: int) -> None:
    """`count` jobs of every kind queued, claimed and completed (three row versions each, two
    in the claimable index), then a few queued: no ANALYZE."""
    kinds = sorted(KINDS)
    await session.execute(
        text(
            "INSERT INTO jobs (kind, status, payload, result, run_after, attempts, max_attempts,"
            " total, processed, created_at, updated_at)"
            " SELECT (CAST(:kinds AS varchar[]))[1 + n % cardinality(CAST(:kinds AS varchar[]))],"
            " 'queued', '{}', '{}', now() - interval '1 hour' + n * interval '1 ms', 0, 5, 0, 0,"
            " now(), now() FROM generate_series(1, :count) AS n"
        ),
        {"kinds": kinds, "count": count},
    )
    await session.execute(text("UPDATE jobs SET status = 'running', attempts = 1"))
    await session.execute(text("UPDATE jobs SET status = 'completed'"))
    await session.execute(
        text(
            "INSERT INTO jobs (kind, status, payload, result, run_after, attempts, max_attempts,"
            " total, processed, created_at, updated_at)"
            " SELECT :kind, 'queued', '{}', '{}', now(), 0, 5, 0, 0, now(), now()"
            " FROM generate_series(1, 5)"
        ),
        {"kind": kinds[0]},
    )


async def test_the_claim_reads_the_claimable_index_in_order(db_session: AsyncSession) -> None:
    if db_session.get_bind().dialect.name != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    await finished_jobs(db_session, 20_000)
    # As the worker runs it: asyncpg's prepared statement, whose plan stops depending on the
    # values (tests.fixtures.plans).
    kinds = ",".join(sorted(KINDS)[:2])
    plan = await generic_plan(
        db_session,
        _COMPLETE_AND_CLAIM,
        {
            "done_ids": "'{}'::bigint[]",
            "done_attempts": "'{}'::integer[]",
            "done_results": "'{}'::text[]",
            "owner": "'w'",
            "updated_at": "now()",
            "lease": "interval '60 seconds'",
            "kinds": f"'{{{kinds}}}'::varchar[]",
            "claim_limit": "2",
        },
    )

    assert "Index Scan using ix_jobs_run_after_id" in plan, plan
    assert "ix_jobs_kind_created_at" not in plan, plan
    assert "Bitmap" not in plan, plan
