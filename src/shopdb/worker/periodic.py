"""The periodic tasks `shopdb worker` runs (shopdb.jobs.schedule), and what each one does.

Each is a sweep that catches up by itself, in batches, each batch its own transaction: a run
that stops half-way (a crash, a lost lease) leaves only less to do for the next one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shopdb.checkouts.abandonment import SWEEP, mark_abandoned_checkouts
from shopdb.checkouts.settings import CheckoutSettings
from shopdb.idempotency.service import purge_expired
from shopdb.jobs.runner import JobContext
from shopdb.keys import field_cipher
from shopdb.kit.types import utcnow

# Rows per transaction, and transactions per run: a run ends in bounded time (its lease), and
# the next run, an interval later, goes on where it stopped.
PURGE_BATCH = 1000
MAX_BATCHES = 100


async def sweep_abandoned_checkouts(context: JobContext) -> Mapping[str, Any] | None:
    """Mark every checkout now due as abandoned; marking one queues its recovery email.

    Each checkout also queues its own `checkouts/mark_abandoned` job when it is created; this
    sweep is what catches the ones whose job row was lost or failed for good."""
    config = CheckoutSettings.from_settings(context.settings)
    cipher = field_cipher(context.settings)
    now = utcnow()
    marked = 0
    for _ in range(MAX_BATCHES):
        async with context.database.session() as session:
            batch = await mark_abandoned_checkouts(session, cipher, config, now=now, limit=SWEEP)
        marked += len(batch)
        if len(batch) < SWEEP:
            break
    return {"abandoned": marked}


async def purge_idempotency_keys(context: JobContext) -> Mapping[str, Any] | None:
    """Delete expired Idempotency-Key rows, oldest first, PURGE_BATCH per transaction (a
    short lock on each batch's rows, never the whole table's)."""
    deleted = 0
    for _ in range(MAX_BATCHES):
        async with context.database.session() as session:
            count = await purge_expired(session, limit=PURGE_BATCH)
        deleted += count
        if count < PURGE_BATCH:
            break
    return {"deleted": deleted}
