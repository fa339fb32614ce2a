"""Migration 0009_inventory_states on rows that exist: reasons mapped to Shopify's, the new
states at 0, `available` free to go negative; and back down, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shopdb.db import create_engine
from shopdb.schema import downgrade, upgrade
from tests.fixtures.database import BACKENDS, drop_postgres_database, fresh_database_url
from tests.fixtures.database import test_settings as make_settings

BEFORE = "0008_customer_consent"
THIS = "0009_inventory_states"

# (reason, note) as an older shopdb stored them -> as they are after the upgrade.
STORED = [
    (("received", "initial stock"), ("received", "initial stock")),
    (("import", None), ("correction", "product CSV import")),
    (("import", "kept"), ("correction", "kept")),
    (("disconnect", None), ("correction", "disconnected from the location")),
    ((" Damaged ", "box"), ("damaged", "box")),
    (("count", None), ("other", "reason: count")),
    (("count", "weekly"), ("other", "reason: count / weekly")),
    ((None, None), (None, None)),
]


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = await fresh_database_url(request.param, tmp_path, "invstates")
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine, BEFORE)
    try:
        yield engine
    finally:
        await engine.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(settings.database_url)


async def scalar(connection: AsyncConnection, sql: str, **params: object) -> int:
    return int((await connection.execute(sa.text(sql), params)).scalar_one())


async def stocked_item(connection: AsyncConnection) -> dict[str, int]:
    """A product, variant, item and location at the old revision, in plain SQL."""
    product = await scalar(
        connection,
        "INSERT INTO products (title, handle) VALUES ('Tee', 'tee') RETURNING id",
    )
    variant = await scalar(
        connection,
        "INSERT INTO product_variants (product_id, title, price, inventory_quantity)"
        " VALUES (:product, 'Default', 10, 5) RETURNING id",
        product=product,
    )
    item = await scalar(
        connection,
        "INSERT INTO inventory_items (product_variant_id) VALUES (:variant) RETURNING id",
        variant=variant,
    )
    location = await scalar(
        connection, "INSERT INTO locations (name) VALUES ('Warehouse') RETURNING id"
    )
    await connection.execute(
        sa.text(
            "INSERT INTO inventory_levels (inventory_item_id, location_id, available, committed)"
            " VALUES (:item, :location, 5, 1)"
        ),
        {"item": item, "location": location},
    )
    return {"variant": variant, "item": item, "location": location}


async def test_upgrade_maps_reasons_and_adds_the_states_then_downgrade_restores(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        ids = await stocked_item(connection)
        for (reason, note), _ in STORED:
            await connection.execute(
                sa.text(
                    "INSERT INTO inventory_adjustments"
                    " (inventory_item_id, location_id, quantity_adjustment, reason, note)"
                    " VALUES (:item, :location, 1, :reason, :note)"
                ),
                {"item": ids["item"], "location": ids["location"], "reason": reason, "note": note},
            )

    await upgrade(engine, THIS)

    async with engine.connect() as connection:
        logged = (
            await connection.execute(
                sa.text("SELECT reason, note, quantity_name FROM inventory_adjustments ORDER BY id")
            )
        ).all()
        level = (
            await connection.execute(
                sa.text(
                    "SELECT available, committed, incoming, reserved, damaged, safety_stock,"
                    " quality_control FROM inventory_levels"
                )
            )
        ).one()
    assert [(r.reason, r.note) for r in logged] == [after for _, after in STORED]
    assert {r.quantity_name for r in logged} == {"available"}
    assert tuple(level) == (5, 1, 0, 0, 0, 0, 0)

    levels = "UPDATE inventory_levels SET {} WHERE inventory_item_id = :item"
    async with engine.connect() as connection:
        # `available` may now be negative (a `continue` variant sold beyond its stock)...
        async with connection.begin():
            await connection.execute(
                sa.text(levels.format("available = -2, damaged = 3")), {"item": ids["item"]}
            )
            await connection.execute(
                sa.text("UPDATE product_variants SET inventory_quantity = -2 WHERE id = :v"),
                {"v": ids["variant"]},
            )
            await connection.execute(
                sa.text(
                    "INSERT INTO inventory_adjustments (inventory_item_id, location_id,"
                    " quantity_name, quantity_adjustment, reason) VALUES"
                    " (:item, :location, 'damaged', 3, 'damaged')"
                ),
                {"item": ids["item"], "location": ids["location"]},
            )
        # ...the other states may not, and neither may a reason outside Shopify's.
        for change in ("damaged = -1", "incoming = -1", "committed = -1", "reserved = -1"):
            with pytest.raises(IntegrityError):
                async with connection.begin():
                    await connection.execute(sa.text(levels.format(change)), {"item": ids["item"]})
        with pytest.raises(IntegrityError):
            async with connection.begin():
                await connection.execute(
                    sa.text("UPDATE inventory_adjustments SET reason = 'import'")
                )

    await downgrade(engine, BEFORE)

    async with engine.connect() as connection:
        available = await scalar(connection, "SELECT available FROM inventory_levels")
        total = await scalar(
            connection,
            "SELECT inventory_quantity FROM product_variants WHERE id = :v",
            v=ids["variant"],
        )
        rows = await scalar(connection, "SELECT count(*) FROM inventory_adjustments")
        await connection.rollback()
        # The old CHECK is back.
        with pytest.raises(IntegrityError):
            async with connection.begin():
                await connection.execute(sa.text(levels.format("available = -1")), ids)
    assert (available, total) == (0, 0)  # raised to 0, and the variant's sum with it
    assert rows == len(STORED)  # the damaged row went; the available ones stay
