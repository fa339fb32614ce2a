"""Races on PostgreSQL with committed sessions: policies created at once for one entity type
(the unique key decides: one wins, the others get the typed 409), and two retention runs at
once (SKIP LOCKED: they split the rows, none is handled twice, none is left)."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from shopdb.auth.dependencies import Subject
from shopdb.compliance import service
from shopdb.compliance.errors import RetentionPolicyExists
from shopdb.compliance.retention import run_retention
from shopdb.db import Database
from shopdb.models import Checkout, DataRetentionPolicy
from shopdb.storage.local import LocalStorage
from tests.compliance.conftest import NOW, add_policy, days_ago

pytestmark = pytest.mark.postgres_only

ACTOR = Subject("user", 1, frozenset({"compliance:write"}))


async def test_racing_policies_for_one_type_leave_exactly_one(live_postgres: Database) -> None:
    start = asyncio.Event()

    async def create(days: int) -> int:
        async with live_postgres.session() as session:
            await start.wait()
            policy = await service.create_policy(
                session,
                ACTOR,
                {
                    "entity_type": "events",
                    "retention_period_days": days,
                    "deletion_policy": "hard_delete",
                    "archive_policy": None,
                    "auto_delete_enabled": False,
                },
            )
            return policy.id

    racing = [asyncio.create_task(create(n)) for n in range(1, 9)]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*racing, return_exceptions=True)

    created = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, RetentionPolicyExists)]
    assert (len(created), len(refused)) == (1, 7), outcomes
    async with live_postgres.session() as session:
        stored = await session.scalar(
            select(func.count(DataRetentionPolicy.id)).where(
                DataRetentionPolicy.entity_type == "events"
            )
        )
    assert stored == 1


async def test_two_runs_at_once_split_the_rows(live_postgres: Database, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    async with live_postgres.session() as session:
        await add_policy(session, "checkouts", "archive", days=30)
        await session.execute(
            insert(Checkout),
            [
                {
                    "token": uuid.uuid4().hex,
                    "email": "sealed",
                    "email_hash": "h",
                    "currency": "USD",
                    "requested_lines": [],
                    "line_items": [],
                    "subtotal_price": Decimal("1.00"),
                    "total_discounts": Decimal("0.00"),
                    "total_shipping": Decimal("0.00"),
                    "total_tax": Decimal("0.00"),
                    "total_price": Decimal("1.00"),
                    "created_at": days_ago(40),
                    "updated_at": days_ago(40),
                }
                for _ in range(1200)
            ],
        )

    (dry,) = await run_retention(live_postgres, storage, dry_run=True, now=NOW)
    first, second = await asyncio.gather(
        run_retention(live_postgres, storage, now=NOW, batch_size=50),
        run_retention(live_postgres, storage, now=NOW, batch_size=50),
    )

    (a,), (b,) = first, second
    assert dry.count == 1200
    assert a.count + b.count == 1200
    archived_ids: list[int] = []
    for key in a.archive_keys + b.archive_keys:
        data = await storage.get(key)
        archived_ids.extend(json.loads(line)["id"] for line in data.decode().splitlines())
    assert len(archived_ids) == 1200
    assert len(set(archived_ids)) == 1200
    async with live_postgres.session() as session:
        left = await session.scalar(select(func.count(Checkout.id)))
    assert left == 0
