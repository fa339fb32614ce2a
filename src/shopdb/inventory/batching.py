"""Stock adjustments arriving together on PostgreSQL, sent to it together (group commit).

Everything here commits by itself, outside any unit of work: `commit_adjustment_now` is for a
request whose whole unit of work is one adjustment (POST /inventory-levels/adjust, chosen by
its endpoint), never for a service or an action, whose writes must commit or roll back with
the caller's transaction. No service module imports this one (tests/inventory/test_batching.py
checks it); the wiring (shopdb.services) builds the one instance per worker.

On a busy store most of an adjustment's cost is not the change but what surrounds it: a pooled
connection checked out and returned, SQLAlchemy's execution, a round trip, a commit (a WAL
flush) and a Redis round trip to invalidate the product's cached document. Each worker keeps
one flusher: adjustments that arrive while a batch is in flight wait for it and then go
together, so at low load a batch is one adjustment and nothing waits for a timer.

A batch runs the same compiled statement as a lone adjustment (statements.postgres_change),
once per change, in one round trip inside one transaction (asyncpg's `fetchmany`: every
Bind/Execute, then one Sync; the transaction also holds `products_changing`, which bumps the
changed products' stored documents before the commit). So each change keeps its own guard
(a refused change returns no row and writes nothing) and writes the same rows, log and event
included. A batch holds at most one change per inventory item (another change of that item
waits for the next batch), and
runs them in item order: each locks its level, then its item's variant, items ascending, the
order every other inventory write follows (service.py), so no two transactions wait on each
other in a cycle. (Two levels of one item in one batch would lock the variant between them.)
It also means every returned row belongs to exactly one change.

If the batch fails as a whole (a deadlock with some other transaction, a lost connection), its
changes run again one by one, so that only a change that fails by itself fails its request.
The products whose documents changed are reported (`products_changed`: the wiring passes them
to the change journal's subscribers, the product cache among them) before any request of the
batch is answered: no reader can see the old stock after a response said it moved.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shopdb.inventory import statements
from shopdb.inventory.errors import InventoryChangedConcurrently, InventoryLimitExceeded
from shopdb.inventory.reasons import checked_reason
from shopdb.inventory.repository import NUMERIC_OUT_OF_RANGE, LevelRow, level_row, sqlstate
from shopdb.inventory.service import CONCURRENT_CHANGE_STATES, LevelChange, explain_refusal
from shopdb.kit.types import utcnow

log = structlog.get_logger(__name__)

MAX_BATCH = 100

# Told, after a batch committed and before any of its callers is answered, which products'
# documents it changed (their variants' inventory quantity; lists do not move).
ProductsChanged = Callable[[set[int]], Awaitable[None]]
# Run inside a batch's transaction, just before it commits, with the asyncpg connection and
# the products whose documents it changed (their stored documents' stamps are bumped there).
ProductsChanging = Callable[[Any, list[int]], Awaitable[None]]


@dataclass(frozen=True)
class Adjustment:
    """`delta` units of `available` (the statement is built for that state alone)."""

    inventory_item_id: int
    location_id: int
    delta: int
    reason: str
    note: str | None
    actor: str | None

    def change(self, field: str | None = None) -> LevelChange:
        """The same change as service.change_levels sees it (to explain a refusal)."""
        return LevelChange(
            self.inventory_item_id,
            self.location_id,
            available=self.delta,
            reason=self.reason,
            note=self.note,
            field=field,
        )


@dataclass
class _Waiting:
    adjustment: Adjustment
    result: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SelfCommittingAdjustments:
    """One per worker and engine; `submit` commits the change and returns the changed level,
    or None if refused (then nothing was written)."""

    def __init__(
        self,
        engine: AsyncEngine,
        products_changed: ProductsChanged | None = None,
        products_changing: ProductsChanging | None = None,
    ) -> None:
        self.engine = engine
        self.products_changed = products_changed
        self.products_changing = products_changing
        self._compiled = statements.postgres_change("change").compile(dialect=engine.dialect)
        self._order: Sequence[str] = self._compiled.positiontup or ()
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None
        # Prepared once per pooled connection, as SQLAlchemy's own statement cache does.
        self._prepared: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    async def submit(self, adjustment: Adjustment) -> LevelRow | None:
        waiting = _Waiting(adjustment)
        self._waiting.append(waiting)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_all())
        # shield: a client that hangs up must not cancel the change others are batched with;
        # it is applied (or refused) all the same, as a lone statement would have been.
        return await asyncio.shield(waiting.result)

    async def _flush_all(self) -> None:
        try:
            while self._waiting:
                batch = self._take_batch()
                try:
                    await self._flush(batch)
                except asyncio.CancelledError:  # shutdown: nobody is answered any more
                    for waiting in (*batch, *self._waiting):
                        waiting.result.cancel()
                    raise
                except Exception as exc:  # no caller may wait forever; the next batch goes on
                    log.exception("inventory_batch.failed", size=len(batch))
                    for waiting in batch:
                        if not waiting.result.done():
                            waiting.result.set_exception(exc)
        finally:
            self._flusher = None

    def _take_batch(self) -> list[_Waiting]:
        batch: list[_Waiting] = []
        later: list[_Waiting] = []
        items: set[int] = set()
        for waiting in self._waiting:
            item = waiting.adjustment.inventory_item_id
            if item in items or len(batch) >= MAX_BATCH:
                later.append(waiting)
            else:
                items.add(item)
                batch.append(waiting)
        self._waiting = later
        batch.sort(key=lambda w: w.adjustment.inventory_item_id)
        return batch

    async def _flush(self, batch: list[_Waiting]) -> None:
        now = utcnow()
        try:
            rows = await self._execute([w.adjustment for w in batch], now)
        except Exception as exc:  # the batch as a whole: retry its changes one by one
            if len(batch) == 1:
                await self._finish(batch, None, exc)
                return
            log.warning("inventory_batch.retried_one_by_one", size=len(batch), error=str(exc))
            for waiting in batch:
                await self._flush([waiting])
            return
        by_item = {row["inventory_item_id"]: row for row in rows}
        await self._finish(batch, by_item, None)

    async def _finish(
        self,
        batch: list[_Waiting],
        by_item: dict[int, Any] | None,
        error: BaseException | None,
    ) -> None:
        if by_item is not None and self.products_changed is not None:
            changed = {row["product_id"] for row in by_item.values() if row["product_id"]}
            if changed:
                await self.products_changed(changed)  # before any response of the batch leaves
        for waiting in batch:
            if waiting.result.done():
                continue
            if error is not None:
                waiting.result.set_exception(error)
            else:
                assert by_item is not None
                row = by_item.get(waiting.adjustment.inventory_item_id)
                waiting.result.set_result(None if row is None else _level(row))

    async def _execute(self, adjustments: Iterable[Adjustment], now: Any) -> list[Any]:
        args = [self._arguments(a, now) for a in adjustments]
        async with self.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            raw: Any = (await autocommit.get_raw_connection()).driver_connection
            prepared = self._prepared.get(raw)
            if prepared is None:
                prepared = await raw.prepare(self._compiled.string)
                self._prepared[raw] = prepared
            try:
                async with raw.transaction():
                    rows: list[Any] = await prepared.fetchmany(args)
                    if self.products_changing is not None:
                        changed = sorted({row["product_id"] for row in rows if row["product_id"]})
                        if changed:
                            await self.products_changing(raw, changed)
            except Exception:
                self._prepared.pop(raw, None)  # prepared again next time (a schema change)
                raise
            return rows

    def _arguments(self, adjustment: Adjustment, now: Any) -> tuple[Any, ...]:
        values = statements.change_params(
            item_id=adjustment.inventory_item_id,
            location_id=adjustment.location_id,
            deltas={"available": adjustment.delta},
            variant_delta=adjustment.delta,
            by_policy=True,
            reason=adjustment.reason,
            note=adjustment.note,
            actor=adjustment.actor,
            now=now,
        )
        # With the constants SQLAlchemy renders as parameters, in the statement's $n order.
        # The values need no conversion: ints, strings and an aware UTC datetime are what
        # asyncpg takes (UTCDateTime's own conversion only checks for that).
        every = self._compiled.construct_params(values)
        return tuple(every[name] for name in self._order)


def _level(row: Any) -> LevelRow:
    return level_row(row)


async def commit_adjustment_now(
    adjustments: SelfCommittingAdjustments,
    session: AsyncSession,
    *,
    inventory_item_id: int,
    location_id: int,
    delta: int,
    reason: str | None = None,
    note: str | None = None,
    actor: str | None = None,
    field: str | None = None,
) -> LevelRow:
    """Move `available` by `delta` and commit it now, with the adjustments arriving
    meanwhile; `field` is the request field a refusal names (`availableAdjustment` if None).

    Below zero only where the variant may be sold beyond its stock, decided by the same
    statement. Not part of the caller's unit of work: the change is committed (or refused)
    whatever the caller does next. `session` only explains a refusal (service.explain_refusal).
    """
    reason, note = checked_reason(reason, note)
    adjustment = Adjustment(inventory_item_id, location_id, delta, reason, note, actor)
    try:
        applied = await adjustments.submit(adjustment)
    except Exception as exc:  # the driver's own error: the batch bypasses SQLAlchemy
        if sqlstate(exc) in CONCURRENT_CHANGE_STATES:
            raise InventoryChangedConcurrently from exc
        if sqlstate(exc) == NUMERIC_OUT_OF_RANGE:  # see InventoryLevelRepository._postgres_change
            raise InventoryLimitExceeded(
                inventory_item_id, location_id, adjustment.change(field).field_of("available")
            ) from exc
        raise
    if applied is None:
        raise await explain_refusal(session, adjustment.change(field), delta)
    return applied
