"""Adjustments batched per worker (inventory/batching.py), against a PostgreSQL that commits.

What a batch must keep from a lone adjustment: every change applied or refused on its own,
exact totals under concurrency, the same log and event rows, the product's cached document
invalidated before the caller hears back, and one bad change failing alone. And what it must
never be: reachable from a service, since it commits by itself.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import shopdb
from shopdb.app import create_app
from shopdb.db import Database
from shopdb.inventory.batching import Adjustment, SelfCommittingAdjustments, commit_adjustment_now
from shopdb.inventory.errors import InsufficientInventory, LevelNotConnected
from shopdb.models import Event, InventoryAdjustment, InventoryItem, ProductVariant
from shopdb.services import services_of
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import ADJUST, committed_admin, live_client
from tests.inventory.helpers import levels_of, make_items, variant_quantity


class Invalidations:
    def __init__(self) -> None:
        self.calls: list[set[int]] = []

    async def __call__(self, product_ids: set[int]) -> None:
        await asyncio.sleep(0)  # a real invalidation is a Redis round trip
        self.calls.append(set(product_ids))


@pytest.fixture
def invalidations() -> Invalidations:
    return Invalidations()


class RecordingBatcher(SelfCommittingAdjustments):
    """Notes every statement batch it sends, to show the tests did batch."""

    sizes: list[int]
    batches: list[list[Adjustment]]

    async def _execute(self, adjustments: Iterable[Adjustment], now: Any) -> list[Any]:
        adjustments = list(adjustments)
        self.sizes.append(len(adjustments))
        self.batches.append(adjustments)
        return await super()._execute(adjustments, now)


@pytest.fixture
def batcher(live_postgres: Database, invalidations: Invalidations) -> RecordingBatcher:
    recording = RecordingBatcher(live_postgres.primary, invalidations)
    recording.sizes = []
    recording.batches = []
    return recording


async def adjust(
    database: Database, batcher: RecordingBatcher, item: int, location: int, delta: int
) -> bool:
    """As the endpoint does: True if applied, False if refused for lack of stock."""
    async with database.sessionmaker() as session:
        try:
            await commit_adjustment_now(
                batcher,
                session,
                inventory_item_id=item,
                location_id=location,
                delta=delta,
                actor="test",
            )
        except InsufficientInventory:
            return False
    return True


async def product_of(database: Database, item: int) -> int:
    async with database.session() as session:
        product_id = await session.scalar(
            select(ProductVariant.product_id)
            .join(InventoryItem, InventoryItem.product_variant_id == ProductVariant.id)
            .where(InventoryItem.id == item)
        )
    assert product_id is not None
    return product_id


async def written_for(database: Database, item: int) -> tuple[int, int]:
    """(adjustment log rows, events) written for `item`'s levels."""
    async with database.session() as session:
        logged = await session.scalar(
            select(func.count())
            .select_from(InventoryAdjustment)
            .where(InventoryAdjustment.inventory_item_id == item)
        )
        events = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                Event.topic == "inventory_levels/update",
                Event.body["inventoryItemId"].as_integer() == item,
            )
        )
    return int(logged or 0), int(events or 0)


@pytest.mark.postgres_only
class TestBatchedAdjustments:
    async def test_concurrent_adjustments_end_exactly(
        self, live_postgres: Database, batcher: RecordingBatcher
    ) -> None:
        (item,), (variant,), loc = await make_items(live_postgres, 1, {"A": 50, "B": 0})
        jobs = [
            adjust(live_postgres, batcher, item, loc["A"], +1 if n % 2 else -1) for n in range(60)
        ]
        jobs += [adjust(live_postgres, batcher, item, loc["B"], +1) for _ in range(40)]
        assert all(await asyncio.gather(*jobs))

        async with live_postgres.session() as session:
            assert await levels_of(session, item) == {loc["A"]: (50, 0), loc["B"]: (40, 0)}
            assert await variant_quantity(session, variant) == 90
        assert await written_for(live_postgres, item) == (100, 100)

    async def test_concurrent_takes_never_oversell(
        self, live_postgres: Database, batcher: RecordingBatcher
    ) -> None:
        items, variants, loc = await make_items(live_postgres, 3, {"A": 7})
        # Thirty takes of each of three items, interleaved: batches mix items and levels.
        jobs = [
            adjust(live_postgres, batcher, item, loc["A"], -1) for _ in range(30) for item in items
        ]
        outcomes = await asyncio.gather(*jobs)

        assert outcomes.count(True) == 21
        assert max(batcher.sizes) > 1  # several changes per statement batch
        for batch in batcher.batches:  # one change per item, in item order: the lock order
            items = [a.inventory_item_id for a in batch]
            assert items == sorted(set(items))
        async with live_postgres.session() as session:
            for item, variant in zip(items, variants, strict=True):
                assert await levels_of(session, item) == {loc["A"]: (0, 0)}
                assert await variant_quantity(session, variant) == 0
        for item in items:
            assert await written_for(live_postgres, item) == (7, 7)

    async def test_a_refusal_is_explained_to_its_caller(
        self, live_postgres: Database, batcher: RecordingBatcher
    ) -> None:
        (item,), _, loc = await make_items(live_postgres, 1, {"A": 1})
        (other,), _, other_loc = await make_items(live_postgres, 1, {"B": 1})
        async with live_postgres.sessionmaker() as session:
            with pytest.raises(LevelNotConnected):  # item is not stocked at B
                await commit_adjustment_now(
                    batcher,
                    session,
                    inventory_item_id=item,
                    location_id=other_loc["B"],
                    delta=1,
                )
        assert await adjust(live_postgres, batcher, other, other_loc["B"], -2) is False
        assert await adjust(live_postgres, batcher, item, loc["A"], -1) is True

    async def test_documents_are_invalidated_before_the_caller_hears_back(
        self, live_postgres: Database, batcher: RecordingBatcher, invalidations: Invalidations
    ) -> None:
        items, _, loc = await make_items(live_postgres, 2, {"A": 5})
        products = {await product_of(live_postgres, item) for item in items}

        async def adjusted_then_seen(item: int) -> bool:
            await adjust(live_postgres, batcher, item, loc["A"], -1)
            product = await product_of(live_postgres, item)
            return any(product in call for call in invalidations.calls)

        assert all(await asyncio.gather(*(adjusted_then_seen(i) for i in items * 3)))
        assert set().union(*invalidations.calls) == products

    async def test_a_change_that_fails_fails_alone(
        self, live_postgres: Database, batcher: RecordingBatcher
    ) -> None:
        items, _, loc = await make_items(live_postgres, 4, {"A": 5})
        too_long = "x" * 300  # the log's reason column holds 255: the statement fails
        adjustments = [Adjustment(item, loc["A"], -1, "correction", None, "t") for item in items]
        adjustments[2] = Adjustment(items[2], loc["A"], -1, too_long, None, "t")

        results = await asyncio.gather(
            *(batcher.submit(a) for a in adjustments), return_exceptions=True
        )

        assert batcher.sizes[0] == 4  # sent together, then again one by one
        assert isinstance(results[2], Exception)
        assert [r.available for i, r in enumerate(results) if i != 2] == [4, 4, 4]  # type: ignore[union-attr]
        async with live_postgres.session() as session:
            assert await levels_of(session, items[2]) == {loc["A"]: (5, 0)}


@pytest.mark.postgres_only
class TestBatchedStates:
    async def test_the_policy_decides_below_zero_in_the_batch_too(
        self, live_postgres: Database, batcher: RecordingBatcher
    ) -> None:
        (deny,), (deny_variant,), loc = await make_items(live_postgres, 1, {"A": 3})
        (sold_on,), (sold_on_variant,), other = await make_items(
            live_postgres, 1, {"B": 1}, policy="continue"
        )

        async with live_postgres.sessionmaker() as session:
            oversold = await commit_adjustment_now(
                batcher,
                session,
                inventory_item_id=sold_on,
                location_id=other["B"],
                delta=-4,
                reason="shrinkage",
            )
            with pytest.raises(InsufficientInventory) as refused:
                await commit_adjustment_now(
                    batcher,
                    session,
                    inventory_item_id=deny,
                    location_id=loc["A"],
                    delta=-4,
                    field="delta",
                )

        assert (oversold.available, oversold.damaged, oversold.on_hand) == (-3, 0, -3)
        assert refused.value.details[0]["field"] == "delta"
        async with live_postgres.session() as session:
            assert await levels_of(session, deny) == {loc["A"]: (3, 0)}
            assert await variant_quantity(session, deny_variant) == 3
            assert await variant_quantity(session, sold_on_variant) == -3
            rows = await session.execute(
                select(InventoryAdjustment.quantity_name, InventoryAdjustment.reason).where(
                    InventoryAdjustment.inventory_item_id == sold_on
                )
            )
            assert [tuple(r) for r in rows] == [("available", "shrinkage")]


@pytest.mark.postgres_only
async def test_over_http_available_goes_to_the_batch_and_other_states_to_the_session(
    live_postgres: Database, batcher: RecordingBatcher, backend: Backend
) -> None:
    application = create_app(backend.settings)
    use_services(application, live_postgres)
    services_of(application).adjustments = batcher
    headers, _ = await committed_admin(application)
    (item,), (variant,), loc = await make_items(live_postgres, 1, {"A": 2}, policy="continue")
    at = {"inventoryItemId": item, "locationId": loc["A"]}

    async with live_client(application) as client:
        oversold = await client.post(ADJUST, json=at | {"availableAdjustment": -5}, headers=headers)
        batched = len(batcher.sizes)
        damaged = await client.post(
            ADJUST, json=at | {"name": "damaged", "delta": 2, "reason": "damaged"}, headers=headers
        )
        level = await client.get(
            "/api/v1/inventory-levels", params={"inventoryItemIds": item}, headers=headers
        )

    assert oversold.status_code == 200, oversold.text
    assert oversold.json()["available"] == -3
    assert batched == 1
    assert damaged.status_code == 200, damaged.text
    assert len(batcher.sizes) == batched  # not through the batch: its statement is `available`'s
    (listed,) = level.json()["items"]
    assert (listed["available"], listed["damaged"], listed["onHand"]) == (-3, 2, -1)
    async with live_postgres.session() as session:
        assert await variant_quantity(session, variant) == -3


@pytest.mark.postgres_only
async def test_no_caller_waits_forever_when_a_batch_breaks(live_postgres: Database) -> None:
    (item,), _, loc = await make_items(live_postgres, 1, {"A": 5})

    async def broken(product_ids: set[int]) -> None:
        raise RuntimeError("invalidation broke")

    batcher = SelfCommittingAdjustments(live_postgres.primary, broken)
    change = Adjustment(item, loc["A"], -1, "correction", None, "t")
    with pytest.raises(RuntimeError, match="invalidation broke"):
        await asyncio.wait_for(batcher.submit(change), timeout=10)
    batcher.products_changed = None
    level = await asyncio.wait_for(batcher.submit(change), timeout=10)  # the next one goes on
    assert level is not None
    assert level.available == 3


async def test_the_server_batches_adjustments_on_postgresql_only(backend: Backend) -> None:
    application = create_app(backend.settings)
    async with application.router.lifespan_context(application):
        installed = services_of(application).adjustments
    if backend.name == "postgresql":
        assert isinstance(installed, SelfCommittingAdjustments)
    else:
        assert installed is None


SOURCE = Path(shopdb.__file__).parent
BATCHING = "shopdb.inventory.batching"
# The batching module's own names, and the ways to the one instance (the Services).
SELF_COMMITTING_NAMES = {
    "SelfCommittingAdjustments",
    "commit_adjustment_now",
    "services_of",
    "get_services",
    "ServicesDep",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(module: str, tree: ast.Module) -> set[str]:
    """Every module `tree` imports, at any depth of the code (function-level imports too)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing package
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _is_service(module: str) -> bool:
    """shopdb.<domain>.service / actions, and modules of such packages but their endpoints
    (shopdb.orders.actions.endpoints is an endpoint: it may reach the Services)."""
    parts = module.split(".")[2:]
    return parts[-1:] != ["endpoints"] and any(part in ("service", "actions") for part in parts)


def _sources() -> dict[str, ast.Module]:
    return {
        _module_name(path): ast.parse(path.read_text(), str(path))
        for path in sorted(SOURCE.rglob("*.py"))
    }


class TestOnlyItsEndpointReachesTheSelfCommittingPath:
    """A batch commits by itself: a service using it would commit outside its caller's unit
    of work. Only the endpoint that chose it (and the wiring that builds it) may see it."""

    def test_only_the_adjust_endpoint_and_the_wiring_import_the_batching_module(self) -> None:
        importers = {
            module
            for module, tree in _sources().items()
            if BATCHING in _imported_modules(module, tree)
        }
        assert importers == {"shopdb.inventory.endpoints", "shopdb.services"}

    def test_no_service_or_action_names_the_self_committing_path(self) -> None:
        services = {m: tree for m, tree in _sources().items() if _is_service(m)}
        assert "shopdb.inventory.service" in services  # the check looks where it should
        named = {
            module: sorted(
                {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
                & SELF_COMMITTING_NAMES
                | {
                    alias.name
                    for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom)
                    for alias in node.names
                }
                & SELF_COMMITTING_NAMES
            )
            for module, tree in services.items()
        }
        assert {m: n for m, n in named.items() if n} == {}

    def test_importing_every_service_loads_no_batching(self) -> None:
        services = sorted(m for m in _sources() if _is_service(m))
        script = (
            "import importlib, sys\n"
            f"for name in {services!r}: importlib.import_module(name)\n"
            f"print({BATCHING!r} in sys.modules)\n"
        )
        # A fresh interpreter: nothing else has imported the module there yet.
        ran = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert ran.stdout.strip() == "False"

    def test_the_service_adjustment_takes_no_batcher(self) -> None:
        from shopdb.inventory import service

        parameters = inspect.signature(service.adjust_available).parameters
        assert list(parameters) == [
            "session",
            "inventory_item_id",
            "location_id",
            "delta",
            "reason",
            "note",
            "actor",
        ]
