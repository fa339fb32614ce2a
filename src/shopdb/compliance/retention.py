"""The retention run: each enabled policy applied to the rows of its type older than its period.

    outcomes = await run_retention(database, storage, dry_run=False)

`shopdb retention run [--dry-run]` and the worker's periodic task `data_retention/run` call it.
Each policy's due rows (compliance/targets.py says which) are handled in batches of
`batch_size` rows, oldest id first, each batch its own transaction: on PostgreSQL its rows are
locked with SKIP LOCKED, so a second run at the same time takes other rows and waits for none,
and no transaction holds more than one batch's locks. Per policy:

- hard_delete: the batch is deleted (their cascades with them);
- soft_delete: the batch gets `deleted_at` (and a new `version`, so an older ETag is stale);
- archive: the batch's rows, with the children the type names, are written as JSON lines
  to the storage (`<archivePolicy or "retention">/<entity type>/<time>-<run>-<batch>.jsonl`),
  then deleted in the same transaction. The file is written before the commit: a batch whose
  commit fails leaves a file whose rows are still there, and the next run archives them
  again (archives are at least once, never lost).

Once a policy's run ends, its `last_cleanup_date` is set and a `data_retention_policies/apply`
event records the counts, in one more transaction. A dry run counts the due rows, per policy,
with the same conditions, and writes nothing (no file, no date, no event).

`max_batches` bounds a run (the worker's lease); what is left is due at the next run.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.compliance.repository import RetentionPolicyRepository, RetentionRepository
from shopdb.compliance.targets import ARCHIVE, SOFT_DELETE, TARGETS, Target
from shopdb.db import Database
from shopdb.events.service import record_event
from shopdb.jobs.runner import JobContext
from shopdb.kit.types import utcnow
from shopdb.storage import Storage

log = structlog.get_logger("shopdb.retention")

BATCH_SIZE = 500
DEFAULT_ARCHIVE_FOLDER = "retention"
ACTOR = "system:retention"


@dataclass
class PolicyOutcome:
    """What one policy did (or, in a dry run, would do) in one run."""

    policy_id: int
    entity_type: str
    deletion_policy: str
    retention_period_days: int
    cutoff: datetime
    dry_run: bool
    run_id: str = ""
    # Rows removed, soft-deleted or archived (or that would be, in a dry run).
    count: int = 0
    batches: int = 0
    archive_keys: list[str] = field(default_factory=list)
    # Set when the policy could not run: an entity type or deletion policy this version of
    # shopdb does not handle (a row written with SQL, say).
    skipped: str | None = None
    # The run stopped at max_batches: rows may still be due, for the next run.
    incomplete: bool = False

    def body(self) -> dict[str, Any]:
        return {
            "id": self.policy_id,
            "entityType": self.entity_type,
            "deletionPolicy": self.deletion_policy,
            "retentionPeriodDays": self.retention_period_days,
            "cutoff": self.cutoff.isoformat(),
            "count": self.count,
            "batches": self.batches,
            "archiveKeys": self.archive_keys,
            "incomplete": self.incomplete,
        }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot archive a {type(value).__name__}")


def archive_lines(
    target: Target,
    rows: list[dict[str, Any]],
    children: dict[str, dict[int, list[dict[str, Any]]]],
    *,
    policy_id: int,
    archived_at: datetime,
) -> bytes:
    """One JSON object per row: its columns as stored (sealed values stay sealed), and the
    rows of each child table named by the type."""
    lines = []
    for row in rows:
        record = {
            "entityType": target.entity_type,
            "id": row["id"],
            "policyId": policy_id,
            "archivedAt": archived_at.isoformat(),
            "row": row,
            "children": {name: found.get(row["id"], []) for name, found in children.items()},
        }
        lines.append(json.dumps(record, default=_json_default, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else b""


def archive_key(
    folder: str | None, entity_type: str, started: datetime, run_id: str, batch: int
) -> str:
    """Unique per run (`run_id`): two runs started at the same moment never share a file."""
    stamp = started.strftime("%Y%m%dT%H%M%S%fZ")
    return f"{folder or DEFAULT_ARCHIVE_FOLDER}/{entity_type}/{stamp}-{run_id}-{batch:05d}.jsonl"


async def _apply_batch(
    database: Database,
    storage: Storage,
    target: Target,
    outcome: PolicyOutcome,
    *,
    folder: str | None,
    now: datetime,
    batch_size: int,
) -> int:
    """One batch in its own transaction; the number of rows it handled."""
    due = target.due(outcome.deletion_policy, outcome.cutoff, now)
    async with database.session() as session:
        repository = RetentionRepository(session, target)
        if outcome.deletion_policy == ARCHIVE:
            rows = await repository.lock_rows(due, batch_size)
            if not rows:
                return 0
            ids = [int(row["id"]) for row in rows]
            children = await repository.children(ids)
            key = archive_key(folder, target.entity_type, now, outcome.run_id, outcome.batches + 1)
            data = archive_lines(
                target, rows, children, policy_id=outcome.policy_id, archived_at=now
            )
            await storage.put(key, data, "application/x-ndjson")
            handled = await repository.delete(ids)
            outcome.archive_keys.append(key)
        else:
            ids = await repository.lock_ids(due, batch_size)
            if not ids:
                return 0
            if outcome.deletion_policy == SOFT_DELETE:
                handled = await repository.soft_delete(ids, now)
            else:
                handled = await repository.delete(ids)
    outcome.batches += 1
    outcome.count += handled
    return len(ids)


async def _finish(database: Database, outcome: PolicyOutcome, now: datetime) -> None:
    async with database.session() as session:
        await RetentionPolicyRepository(session).cleaned(outcome.policy_id, now)
        record_event(
            session,
            topic="data_retention_policies/apply",
            subject_type="DataRetentionPolicy",
            subject_id=outcome.policy_id,
            body=outcome.body(),
            actor=ACTOR,
        )


@asynccontextmanager
async def _reading(database: Database) -> AsyncIterator[AsyncSession]:
    # A read: on SQLite a write transaction would take the database's one lock for nothing.
    async with database.sessionmaker() as session:
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        yield session


def _skip_reason(entity_type: str, deletion_policy: str) -> str | None:
    target = TARGETS.get(entity_type)
    if target is None:
        return f"entity type {entity_type} is not one a retention run handles"
    if deletion_policy not in target.policies:
        return f"{deletion_policy} is not available for {entity_type}"
    return None


async def run_retention(
    database: Database,
    storage: Storage,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    max_batches: int | None = None,
) -> list[PolicyOutcome]:
    """Apply every enabled policy (by id); disabled ones are not touched."""
    now = now or utcnow()
    run_id = secrets.token_hex(4)
    async with _reading(database) as session:
        policies = [
            (p.id, p.entity_type, p.deletion_policy, p.retention_period_days, p.archive_policy)
            for p in await RetentionPolicyRepository(session).enabled()
        ]
    outcomes = []
    for policy_id, entity_type, deletion_policy, days, folder in policies:
        outcome = PolicyOutcome(
            policy_id=policy_id,
            entity_type=entity_type,
            deletion_policy=deletion_policy,
            retention_period_days=days,
            cutoff=now - timedelta(days=days),
            dry_run=dry_run,
            run_id=run_id,
        )
        outcomes.append(outcome)
        outcome.skipped = _skip_reason(entity_type, deletion_policy)
        if outcome.skipped is not None:
            log.warning("retention_policy_skipped", policy=policy_id, reason=outcome.skipped)
            continue
        target = TARGETS[entity_type]
        if dry_run:
            async with _reading(database) as session:
                due = target.due(deletion_policy, outcome.cutoff, now)
                outcome.count = await RetentionRepository(session, target).count(due)
            continue
        while True:
            if max_batches is not None and outcome.batches >= max_batches:
                outcome.incomplete = True
                break
            taken = await _apply_batch(
                database, storage, target, outcome, folder=folder, now=now, batch_size=batch_size
            )
            if taken < batch_size:
                break
        await _finish(database, outcome, now)
        log.info("retention_policy_applied", **outcome.body())
    return outcomes


# The worker's periodic run: hourly, at most this many batches per policy (a run ends within
# its lease); what is left is done by the next run.
PERIODIC_INTERVAL_SECONDS = 3600.0
PERIODIC_MAX_BATCHES = 100


async def apply_retention_policies(context: JobContext) -> Mapping[str, Any] | None:
    """The periodic task `data_retention/run` of `shopdb worker`."""
    outcomes = await run_retention(
        context.database,
        context.storage,
        batch_size=BATCH_SIZE,
        max_batches=PERIODIC_MAX_BATCHES,
    )
    return {
        "policies": len(outcomes),
        "handled": {o.entity_type: o.count for o in outcomes if o.skipped is None},
        "skipped": [o.policy_id for o in outcomes if o.skipped is not None],
    }
