"""The retention run over generated history (rows with a backdated created_at): a dry run's
counts, then the real run's, compared; batches; archives read back; disabled policies."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.compliance.retention import run_retention
from shopdb.db import Database
from shopdb.models import (
    Checkout,
    Customer,
    CustomerAddress,
    DataRetentionPolicy,
    Event,
    InventoryAdjustment,
    InventoryLevel,
    Order,
    OrderLineItem,
    OrderTransaction,
)
from shopdb.storage.local import LocalStorage
from tests.compliance.conftest import (
    NOW,
    add_checkout,
    add_customer,
    add_events,
    add_order,
    add_policy,
    days_ago,
)
from tests.orders.helpers import make_locations, make_variant

# SQLite may give a deleted row's id to the next row (the run's own event): history is counted
# by its topic too.
HISTORY = Event.topic == "products/update"


async def count(session: AsyncSession, column: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count(column)).where(*where)) or 0)


async def apply_events(session: AsyncSession) -> list[Event]:
    found = await session.scalars(
        select(Event).where(Event.topic == "data_retention_policies/apply").order_by(Event.id)
    )
    return list(found)


async def read_archive(storage: LocalStorage, keys: list[str]) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for key in keys:
        data = await storage.get(key)
        lines.extend(json.loads(line) for line in data.decode().splitlines())
    return lines


class TestDryRunThenRealRun:
    async def test_counts_match_and_only_old_events_go(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            policy = await add_policy(session, "events", "hard_delete", days=30)
            old = await add_events(session, [400, 90, 31, 30.5])
            kept = await add_events(session, [29, 5, 0])

        dry = await run_retention(database, storage, dry_run=True, now=NOW)

        async with database.session() as session:
            assert await count(session, Event.id, HISTORY, Event.id.in_(old + kept)) == 7
            assert await apply_events(session) == []
            stored = await session.get(DataRetentionPolicy, policy.id)
            assert stored is not None
            assert stored.last_cleanup_date is None
        assert [(o.entity_type, o.count, o.dry_run, o.batches) for o in dry] == [
            ("events", 4, True, 0)
        ]

        real = await run_retention(database, storage, now=NOW)

        assert [(o.entity_type, o.count, o.dry_run) for o in real] == [("events", 4, False)]
        async with database.session() as session:
            assert await count(session, Event.id, HISTORY, Event.id.in_(old)) == 0
            assert await count(session, Event.id, HISTORY, Event.id.in_(kept)) == 3
            stored = await session.get(DataRetentionPolicy, policy.id)
            assert stored is not None
            assert stored.last_cleanup_date == NOW
            (recorded,) = await apply_events(session)
        assert recorded.subject == f"DataRetentionPolicy {policy.id}"
        assert recorded.actor == "system:retention"
        assert recorded.body["count"] == 4
        assert recorded.body["deletionPolicy"] == "hard_delete"
        assert recorded.body["entityType"] == "events"

    async def test_a_second_run_finds_nothing_more(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            await add_policy(session, "events", "hard_delete", days=30)
            await add_events(session, [40, 50])

        first = await run_retention(database, storage, now=NOW)
        dry = await run_retention(database, storage, dry_run=True, now=NOW)
        second = await run_retention(database, storage, now=NOW)

        assert [o.count for o in first + dry + second] == [2, 0, 0]


class TestBatches:
    async def test_rows_go_in_batches_of_the_given_size(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            await add_policy(session, "events", "hard_delete", days=10)
            old = await add_events(session, [20] * 7)

        (outcome,) = await run_retention(database, storage, now=NOW, batch_size=3)

        assert (outcome.count, outcome.batches, outcome.incomplete) == (7, 3, False)
        async with database.session() as session:
            assert await count(session, Event.id, HISTORY, Event.id.in_(old)) == 0

    async def test_max_batches_stops_the_run_and_the_next_one_goes_on(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            await add_policy(session, "events", "hard_delete", days=10)
            old = await add_events(session, [20] * 5)

        (first,) = await run_retention(database, storage, now=NOW, batch_size=2, max_batches=2)
        async with database.session() as session:
            left = await count(session, Event.id, HISTORY, Event.id.in_(old))
        (second,) = await run_retention(database, storage, now=NOW, batch_size=2, max_batches=2)

        assert (first.count, first.batches, first.incomplete, left) == (4, 2, True, 1)
        assert (second.count, second.batches, second.incomplete) == (1, 1, False)


class TestDisabledPolicy:
    async def test_a_disabled_policy_touches_nothing(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            policy = await add_policy(session, "events", "hard_delete", days=1, enabled=False)
            old = await add_events(session, [100, 200])

        dry = await run_retention(database, storage, dry_run=True, now=NOW)
        real = await run_retention(database, storage, now=NOW)

        assert (dry, real) == ([], [])
        async with database.session() as session:
            assert await count(session, Event.id, HISTORY, Event.id.in_(old)) == 2
            stored = await session.get(DataRetentionPolicy, policy.id)
            assert stored is not None
            assert stored.last_cleanup_date is None
            assert await apply_events(session) == []


class TestCheckouts:
    async def test_old_checkouts_never_completed_are_archived_and_read_back(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            await add_policy(session, "checkouts", "archive", days=60, folder="vault/2026")
            left = [await add_checkout(session, age) for age in (61, 90, 365)]
            completed = await add_checkout(session, 365, completed=True)
            recent = await add_checkout(session, 59)
            left_ids = [c.id for c in left]
            tokens = {c.id: c.token for c in left}

        (dry,) = await run_retention(database, storage, dry_run=True, now=NOW)
        (real,) = await run_retention(database, storage, now=NOW, batch_size=2)

        assert (dry.count, real.count, real.batches) == (3, 3, 2)
        assert all(key.startswith("vault/2026/checkouts/") for key in real.archive_keys)
        archived = await read_archive(storage, real.archive_keys)
        assert [line["id"] for line in archived] == left_ids
        assert {line["id"]: line["row"]["token"] for line in archived} == tokens
        assert {line["entityType"] for line in archived} == {"checkouts"}
        assert archived[0]["row"]["total_price"] == "10.00"
        assert archived[0]["row"]["requested_lines"] == [{"variantId": 1, "quantity": 1}]
        async with database.session() as session:
            assert await count(session, Checkout.id, Checkout.id.in_(left_ids)) == 0
            assert await count(session, Checkout.id, Checkout.id == completed.id) == 1
            assert await count(session, Checkout.id, Checkout.id == recent.id) == 1


class TestOrders:
    async def test_soft_delete_hides_final_orders_only(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            await add_policy(session, "orders", "soft_delete", days=365)
            closed = await add_order(session, 400, state="closed")
            cancelled = await add_order(session, 500, state="cancelled")
            still_open = await add_order(session, 600, state="open")
            young = await add_order(session, 100, state="closed")

        (dry,) = await run_retention(database, storage, dry_run=True, now=NOW)
        (real,) = await run_retention(database, storage, now=NOW)
        (again,) = await run_retention(database, storage, dry_run=True, now=NOW)

        assert (dry.count, real.count, again.count) == (2, 2, 0)
        async with database.session() as session:
            rows = {
                o.id: o
                for o in await session.scalars(
                    select(Order).execution_options(populate_existing=True)
                )
            }
            assert rows[closed.id].deleted_at == NOW
            assert rows[closed.id].version == closed.version + 1
            assert rows[cancelled.id].deleted_at == NOW
            assert rows[still_open.id].deleted_at is None
            assert rows[young.id].deleted_at is None
            # Soft deleted: the lines stay with their order.
            assert await count(session, OrderLineItem.id, OrderLineItem.order_id == closed.id) == 2

    async def test_hard_delete_cascades_to_lines_and_transactions(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            await add_policy(session, "orders", "hard_delete", days=365)
            customer = await add_customer(session, 900)
            gone = await add_order(session, 400, customer_id=customer.id)
            checkout = await add_checkout(session, 400, completed=True)
            checkout.order_id = gone.id
            kept = await add_order(session, 400, state="open")

        (real,) = await run_retention(database, storage, now=NOW)

        assert real.count == 1
        async with database.session() as session:
            assert await count(session, Order.id, Order.id == gone.id) == 0
            assert await count(session, OrderLineItem.id, OrderLineItem.order_id == gone.id) == 0
            assert (
                await count(session, OrderTransaction.id, OrderTransaction.order_id == gone.id) == 0
            )
            assert await count(session, OrderLineItem.id, OrderLineItem.order_id == kept.id) == 2
            # The completed checkout stays, without its order (SET NULL); the customer stays.
            reread = await session.get(Checkout, checkout.id, populate_existing=True)
            assert reread is not None
            assert reread.order_id is None
            assert await count(session, Customer.id, Customer.id == customer.id) == 1

    async def test_archive_writes_each_order_with_its_lines_and_transactions(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            await add_policy(session, "orders", "archive", days=30)
            orders = [await add_order(session, 40, lines=n) for n in (1, 3)]
            numbers = [o.number for o in orders]

        (real,) = await run_retention(database, storage, now=NOW)

        archived = await read_archive(storage, real.archive_keys)
        assert [line["row"]["number"] for line in archived] == numbers
        assert [len(line["children"]["order_line_items"]) for line in archived] == [1, 3]
        assert [len(line["children"]["order_transactions"]) for line in archived] == [1, 1]
        assert archived[0]["row"]["total_price"] == "20.00"
        async with database.session() as session:
            assert await count(session, Order.id, Order.id.in_([o.id for o in orders])) == 0


class TestCustomers:
    async def test_customers_still_referred_to_are_kept(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            await add_policy(session, "customers", "hard_delete", days=365)
            alone = await add_customer(session, 800)
            with_order = await add_customer(session, 800)
            await add_order(session, 10, state="open", customer_id=with_order.id)
            with_checkout = await add_customer(session, 800)
            await add_checkout(session, 10, customer_id=with_checkout.id)
            young = await add_customer(session, 30)

        (dry,) = await run_retention(database, storage, dry_run=True, now=NOW)
        (real,) = await run_retention(database, storage, now=NOW)

        assert (dry.count, real.count) == (1, 1)
        async with database.session() as session:
            remaining = set(await session.scalars(select(Customer.id)))
            assert alone.id not in remaining
            assert {with_order.id, with_checkout.id, young.id} <= remaining
            # The addresses went with their customer (ON DELETE CASCADE).
            assert (
                await count(session, CustomerAddress.id, CustomerAddress.customer_id == alone.id)
                == 0
            )

    async def test_soft_delete_then_archive_keeps_sealed_values(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            policy = await add_policy(session, "customers", "soft_delete", days=365)
            customer = await add_customer(session, 800)
            sealed = customer.email

        (soft,) = await run_retention(database, storage, now=NOW)
        async with database.session() as session:
            stored = await session.get(DataRetentionPolicy, policy.id)
            assert stored is not None
            stored.deletion_policy = "archive"
        (archived_run,) = await run_retention(database, storage, now=NOW)

        assert (soft.count, archived_run.count) == (1, 1)
        (line,) = await read_archive(storage, archived_run.archive_keys)
        assert line["row"]["email"] == sealed
        assert line["row"]["deleted_at"] is not None
        assert [a["city"] for a in line["children"]["customer_addresses"]] == ["Paris"]


class TestSeveralPolicies:
    async def test_each_enabled_policy_runs_and_records_its_own_event(
        self, database: Database, storage: LocalStorage
    ) -> None:
        async with database.session() as session:
            events_policy = await add_policy(session, "events", "hard_delete", days=30)
            checkouts_policy = await add_policy(session, "checkouts", "hard_delete", days=30)
            await add_policy(session, "orders", "hard_delete", days=30, enabled=False)
            await add_events(session, [31, 32, 33])
            for age in (31, 45):
                await add_checkout(session, age)
            order = await add_order(session, 400)

        dry = await run_retention(database, storage, dry_run=True, now=NOW)
        real = await run_retention(database, storage, now=NOW)

        expected = [("events", 3), ("checkouts", 2)]
        assert [(o.entity_type, o.count) for o in dry] == expected
        assert [(o.entity_type, o.count) for o in real] == expected
        async with database.session() as session:
            recorded = await apply_events(session)
            assert [(e.subject_id, e.body["count"]) for e in recorded] == [
                (events_policy.id, 3),
                (checkouts_policy.id, 2),
            ]
            assert await count(session, Order.id, Order.id == order.id) == 1


class TestInventoryAdjustments:
    async def test_old_adjustments_go_and_levels_keep_their_numbers(
        self, database: Database, storage: LocalStorage
    ) -> None:
        (location,) = await make_locations(database, "Main")
        stocked = await make_variant(database, "5.00", {location: 10})
        async with database.session() as session:
            await add_policy(session, "inventory_adjustments", "hard_delete", days=90)
            rows = [
                InventoryAdjustment(
                    inventory_item_id=stocked.item_id,
                    location_id=location,
                    quantity_adjustment=n,
                    reason="correction",
                    created_at=days_ago(age),
                )
                for n, age in ((1, 365), (2, 91), (3, 89))
            ]
            session.add_all(rows)
            await session.flush()
            ids = [r.id for r in rows]

        (dry,) = await run_retention(database, storage, dry_run=True, now=NOW)
        (real,) = await run_retention(database, storage, now=NOW)

        assert (dry.count, real.count) == (2, 2)
        async with database.session() as session:
            left = await session.scalars(
                select(InventoryAdjustment.quantity_adjustment).where(
                    InventoryAdjustment.id.in_(ids)
                )
            )
            assert list(left) == [3]
            level = await session.scalar(
                select(InventoryLevel.available).where(
                    InventoryLevel.inventory_item_id == stocked.item_id
                )
            )
            assert level == 10
