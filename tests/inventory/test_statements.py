"""What a level change costs in statements, and the rows it writes (the same on both backends)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.inventory import service
from shopdb.inventory.errors import InsufficientInventory
from shopdb.inventory.repository import InventoryLevelRepository
from shopdb.models import Event, InventoryAdjustment, InventoryLevel
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.inventory.helpers import levels_of, make_items, stocked, variant_quantity

UPDATE_TOPIC = "inventory_levels/update"


async def begun(session: AsyncSession) -> None:
    """Start the session's transaction (the test harness's SAVEPOINT) before counting."""
    await session.execute(select(1))


async def level_id(session: AsyncSession, item_id: int, location_id: int) -> int:
    found = await session.scalar(
        select(InventoryLevel.id).where(
            InventoryLevel.inventory_item_id == item_id, InventoryLevel.location_id == location_id
        )
    )
    assert found is not None
    return found


async def events_of(session: AsyncSession, subject_type: str, subject_id: int) -> list[Event]:
    rows = await session.scalars(
        select(Event)
        .where(Event.subject_type == subject_type, Event.subject_id == subject_id)
        .order_by(Event.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def log_of(session: AsyncSession, item_id: int) -> list[tuple[int, int, str | None]]:
    """The log's `available` rows: (location, delta, reason)."""
    rows = await session.execute(
        select(
            InventoryAdjustment.location_id,
            InventoryAdjustment.quantity_adjustment,
            InventoryAdjustment.reason,
        )
        .where(
            InventoryAdjustment.inventory_item_id == item_id,
            InventoryAdjustment.quantity_name == "available",
        )
        .order_by(InventoryAdjustment.id)
    )
    return [(r.location_id, r.quantity_adjustment, r.reason) for r in rows]


async def states_log_of(session: AsyncSession, item_id: int) -> list[tuple[int, str, int, str]]:
    """Every log row: (location, state, delta, reason)."""
    rows = await session.execute(
        select(
            InventoryAdjustment.location_id,
            InventoryAdjustment.quantity_name,
            InventoryAdjustment.quantity_adjustment,
            InventoryAdjustment.reason,
        )
        .where(InventoryAdjustment.inventory_item_id == item_id)
        .order_by(InventoryAdjustment.id)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def level_body(**quantities: int) -> dict[str, int]:
    """An event body's quantities: every state (0 unless given), unavailable and onHand."""
    states = {
        "available": 0,
        "committed": 0,
        "incoming": 0,
        "reserved": 0,
        "damaged": 0,
        "safetyStock": 0,
        "qualityControl": 0,
    } | quantities
    unavailable = sum(states[n] for n in ("reserved", "damaged", "safetyStock", "qualityControl"))
    on_hand = states["available"] + states["committed"] + unavailable
    return states | {"unavailable": unavailable, "onHand": on_hand}


def change_deltas(**deltas: int) -> dict[str, int]:
    """A `change` event's deltas of the states other than available (0 unless given)."""
    names = ("committed", "incoming", "reserved", "damaged", "safetyStock", "qualityControl")
    return {f"{name}Delta": deltas.get(name, 0) for name in names}


SecondLocation = Callable[[], Awaitable[int]]


@pytest.fixture
def second_location(client: httpx.AsyncClient, admin: Headers) -> SecondLocation:
    async def make() -> int:
        response = await client.post("/api/v1/locations", json={"name": "Shop"}, headers=admin)
        assert response.status_code == 201, response.text
        created: int = response.json()["id"]
        return created

    return make


class TestRoundTrips:
    async def test_adjust_is_one_statement_on_postgresql(
        self,
        backend: Backend,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        await begun(db_session)

        with statements_sent(backend.engine, first_word=True, commits=True) as sent:
            level = await service.adjust_available(
                db_session,
                inventory_item_id=variant["inventoryItemId"],
                location_id=location["id"],
                delta=-3,
            )

        assert (level.available, level.committed, level.on_hand) == (7, 0, 7)
        if backend.name == "postgresql":
            assert sent == ["WITH"]
        else:  # no data-modifying CTEs: level, log, variant, event; still no savepoint
            assert sent == ["UPDATE", "INSERT", "UPDATE", "INSERT"]

    async def test_set_of_a_stocked_level_is_one_statement_on_postgresql(
        self,
        backend: Backend,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        await begun(db_session)

        with statements_sent(backend.engine, first_word=True, commits=True) as sent:
            level = await service.set_available(
                db_session,
                inventory_item_id=variant["inventoryItemId"],
                location_id=location["id"],
                available=4,
            )

        assert level.available == 4
        if backend.name == "postgresql":
            assert sent == ["WITH"]
        else:  # reads the value it replaces, then as an adjustment by the difference
            assert sent == ["SELECT", "UPDATE", "INSERT", "UPDATE", "INSERT"]

    async def test_a_move_between_states_is_one_statement_on_postgresql(
        self,
        backend: Backend,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        await begun(db_session)

        with statements_sent(backend.engine, first_word=True, commits=True) as sent:
            level = await service.move_quantity(
                db_session,
                inventory_item_id=variant["inventoryItemId"],
                location_id=location["id"],
                quantity=2,
                from_name="available",
                to_name="quality_control",
                reason="quality_control",
            )

        assert (level.available, level.quality_control, level.on_hand) == (8, 2, 10)
        if backend.name == "postgresql":
            assert sent == ["WITH"]
        else:  # level, log (both states), variant, event
            assert sent == ["UPDATE", "INSERT", "UPDATE", "INSERT"]

    async def test_a_refusal_costs_one_query_to_explain_itself(
        self,
        backend: Backend,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 2)
        await begun(db_session)

        with (
            statements_sent(backend.engine, first_word=True, commits=True) as sent,
            pytest.raises(InsufficientInventory),
        ):
            await service.adjust_available(
                db_session,
                inventory_item_id=variant["inventoryItemId"],
                location_id=location["id"],
                delta=-3,
            )

        expected = ["WITH", "SELECT"] if backend.name == "postgresql" else ["UPDATE", "SELECT"]
        assert sent == expected
        assert await levels_of(db_session, variant["inventoryItemId"]) == {location["id"]: (2, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 2

    @pytest.mark.postgres_only
    async def test_a_committed_adjust_is_two_statements_with_the_commit(
        self, live_postgres: Database
    ) -> None:
        (item,), (variant,), loc = await make_items(live_postgres, 1, {"A": 5})
        engine = live_postgres.primary

        with statements_sent(engine, first_word=True, commits=True) as sent:
            async with live_postgres.session() as session:
                await service.adjust_available(
                    session, inventory_item_id=item, location_id=loc["A"], delta=1
                )

        assert sent == ["WITH", "COMMIT"]
        async with live_postgres.session() as session:
            assert await levels_of(session, item) == {loc["A"]: (6, 0)}
            assert await variant_quantity(session, variant) == 6


class TestWrittenRows:
    async def test_adjust_writes_its_log_row_and_event(
        self,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        item = variant["inventoryItemId"]

        await service.adjust_available(
            db_session,
            inventory_item_id=item,
            location_id=location["id"],
            delta=-4,
            reason="damaged",
            note="dropped a box",
            actor="user:7",
        )

        level = await level_id(db_session, item, location["id"])
        (written,) = await events_of(db_session, "InventoryLevel", level)
        assert (written.topic, written.verb, written.subject, written.actor) == (
            UPDATE_TOPIC,
            "update",
            f"InventoryLevel {level}",
            "user:7",
        )
        assert written.body == {
            "inventoryItemId": item,
            "locationId": location["id"],
            **level_body(available=6),
            "availableDelta": -4,
            **change_deltas(),
            "reason": "damaged",
        }
        assert written.created_at is not None
        notes = await db_session.scalars(
            select(InventoryAdjustment.note).where(InventoryAdjustment.inventory_item_id == item)
        )
        assert await log_of(db_session, item) == [
            (location["id"], 10, "received"),
            (location["id"], -4, "damaged"),
        ]
        assert list(notes) == ["initial stock", "dropped a box"]
        assert await variant_quantity(db_session, variant["id"]) == 6

    async def test_committed_only_move_logs_its_state_and_leaves_the_variant(
        self,
        location: dict[str, Any],
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 10)
        item = variant["inventoryItemId"]

        (level,) = await service.change_levels(
            db_session, [service.LevelChange(item, location["id"], committed=2)]
        )

        assert (level.available, level.committed, level.on_hand) == (10, 2, 12)
        assert await states_log_of(db_session, item) == [
            (location["id"], "available", 10, "received"),
            (location["id"], "committed", 2, "correction"),
        ]
        assert await variant_quantity(db_session, variant["id"]) == 10
        (written,) = await events_of(db_session, "InventoryLevel", level.id)
        assert written.body == {
            "inventoryItemId": item,
            "locationId": location["id"],
            **level_body(available=10, committed=2),
            "availableDelta": 0,
            **change_deltas(committed=2),
            "reason": "correction",
        }

    async def test_set_connects_first_and_its_event_has_no_committed_delta(
        self,
        make_product: ProductFactory,
        location: dict[str, Any],
        second_location: SecondLocation,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]
        shop = await second_location()

        level = await service.set_available(
            db_session,
            inventory_item_id=item,
            location_id=shop,
            available=8,
            reason="cycle_count_available",
        )

        (connected,) = await events_of(db_session, "InventoryItem", item)
        assert (connected.topic, connected.body) == (
            "inventory_levels/connect",
            {"inventoryItemId": item, "locationId": shop},
        )
        (updated,) = await events_of(db_session, "InventoryLevel", level.id)
        assert updated.id > connected.id
        assert updated.body == {
            "inventoryItemId": item,
            "locationId": shop,
            **level_body(available=8),
            "availableDelta": 8,
            "reason": "cycle_count_available",
        }
        assert await states_log_of(db_session, item) == [
            (location["id"], "available", 5, "received"),
            (shop, "available", 8, "cycle_count_available"),
        ]
        assert await variant_quantity(db_session, variant["id"]) == 13

    async def test_setting_the_same_value_writes_nothing(
        self, location: dict[str, Any], make_product: ProductFactory, db_session: AsyncSession
    ) -> None:
        """No new version, event or log row: re-importing an unchanged file leaves no trace."""
        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]
        before = await service.levels_of_items(db_session, [item], location_id=location["id"])

        level = await service.set_available(
            db_session, inventory_item_id=item, location_id=location["id"], available=5
        )

        assert level.available == 5
        assert level.updated_at == before[0].updated_at
        assert await events_of(db_session, "InventoryLevel", level.id) == []
        assert await log_of(db_session, item) == [(location["id"], 5, "received")]
        assert await variant_quantity(db_session, variant["id"]) == 5

    async def test_a_level_only_added_to_the_session_is_changed(
        self,
        location: dict[str, Any],
        make_product: ProductFactory,
        second_location: SecondLocation,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]
        shop = await second_location()
        InventoryLevelRepository(db_session).add_level(item, shop, 0)  # pending, not flushed

        level = await service.adjust_available(
            db_session, inventory_item_id=item, location_id=shop, delta=3
        )

        assert level.available == 3
        assert await variant_quantity(db_session, variant["id"]) == 8


class TestSeveralLevels:
    async def test_one_refusal_undoes_the_changes_before_it(
        self,
        location: dict[str, Any],
        second_location: SecondLocation,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]
        shop = await second_location()
        await service.set_available(
            db_session, inventory_item_id=item, location_id=shop, available=2
        )
        home = await level_id(db_session, item, location["id"])
        events_before = len(await events_of(db_session, "InventoryLevel", home))
        log_before = await log_of(db_session, item)

        # Applied in (item, location) order: the warehouse's -1 succeeds, then the shop refuses.
        with pytest.raises(InsufficientInventory):
            await service.change_levels(
                db_session,
                [
                    service.LevelChange(item, shop, available=-3),
                    service.LevelChange(item, location["id"], available=-1),
                ],
            )

        assert await levels_of(db_session, item) == {location["id"]: (5, 0), shop: (2, 0)}
        assert await variant_quantity(db_session, variant["id"]) == 7
        assert await log_of(db_session, item) == log_before
        assert len(await events_of(db_session, "InventoryLevel", home)) == events_before

    async def test_an_item_at_two_locations_moves_its_variant_by_the_sum(
        self,
        location: dict[str, Any],
        second_location: SecondLocation,
        make_product: ProductFactory,
        db_session: AsyncSession,
    ) -> None:
        variant = await stocked(make_product, 5)
        item = variant["inventoryItemId"]
        shop = await second_location()
        await service.set_available(
            db_session, inventory_item_id=item, location_id=shop, available=4
        )

        moved = await service.change_levels(
            db_session,
            [
                service.LevelChange(item, shop, available=-3, committed=3),
                service.LevelChange(item, location["id"], available=2),
            ],
        )

        assert [(lv.location_id, lv.available, lv.committed) for lv in moved] == [
            (shop, 1, 3),
            (location["id"], 7, 0),
        ]
        assert await variant_quantity(db_session, variant["id"]) == 8
        assert (await states_log_of(db_session, item))[-3:] == [
            (location["id"], "available", 2, "correction"),
            (shop, "available", -3, "correction"),
            (shop, "committed", 3, "correction"),
        ]
