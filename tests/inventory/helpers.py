"""Stock set-ups and read-backs shared by the inventory tests."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.db import Database
from shopdb.models import InventoryItem, InventoryLevel, Location, Product, ProductVariant
from shopdb.models.inventory import QUANTITY_STATES
from tests.fixtures.catalog import ProductFactory


async def stocked(
    make_product: ProductFactory, quantity: int = 10, policy: str = "deny", sku: str = "ONE"
) -> dict[str, Any]:
    """A one-variant product stocked at the first location, with an inventory policy."""
    product = await make_product(
        options=[],
        variants=[
            {"price": "1", "sku": sku, "inventoryQuantity": quantity, "inventoryPolicy": policy}
        ],
    )
    variant: dict[str, Any] = product["variants"][0]
    return variant


async def variant_quantity(session: AsyncSession, variant_id: int) -> int:
    value = await session.scalar(
        select(ProductVariant.inventory_quantity)
        .where(ProductVariant.id == variant_id)
        .execution_options(populate_existing=True)
    )
    assert value is not None
    return value


async def states_of(session: AsyncSession, item_id: int, location_id: int) -> dict[str, int]:
    """Every state of one level, read from the table."""
    row = (
        await session.execute(
            select(*(getattr(InventoryLevel, name) for name in QUANTITY_STATES))
            .where(
                InventoryLevel.inventory_item_id == item_id,
                InventoryLevel.location_id == location_id,
            )
            .execution_options(populate_existing=True)
        )
    ).one()
    return dict(zip(QUANTITY_STATES, row, strict=True))


async def levels_of(session: AsyncSession, item_id: int) -> dict[int, tuple[int, int]]:
    rows = await session.execute(
        select(InventoryLevel.location_id, InventoryLevel.available, InventoryLevel.committed)
        .where(InventoryLevel.inventory_item_id == item_id)
        .execution_options(populate_existing=True)
    )
    return {r.location_id: (r.available, r.committed) for r in rows}


async def make_items(
    database: Database,
    count: int,
    stock: dict[str, int],
    *,
    policy: str = "deny",
    tracked: bool = True,
) -> tuple[list[int], list[int], dict[str, int]]:
    """`count` single-variant products, each stocked per location name; committed."""
    run = uuid.uuid4().hex[:8]
    async with database.session() as session:
        locations = {name: Location(name=name) for name in stock}
        session.add_all(locations.values())
        await session.flush()
        item_ids: list[int] = []
        variant_ids: list[int] = []
        for n in range(count):
            product = Product(title=f"P{n}", handle=f"p{n}-{run}", status="active")
            variant = ProductVariant(
                title="Default Title",
                price=Decimal("1.00"),
                option1="Default Title",
                inventory_quantity=sum(stock.values()),
                inventory_policy=policy,
            )
            variant.inventory_item = InventoryItem(sku=f"S{n}-{run}", tracked=tracked)
            product.variants = [variant]
            session.add(product)
            await session.flush()
            assert variant.inventory_item is not None
            for name, quantity in stock.items():
                session.add(
                    InventoryLevel(
                        inventory_item_id=variant.inventory_item.id,
                        location_id=locations[name].id,
                        available=quantity,
                    )
                )
            item_ids.append(variant.inventory_item.id)
            variant_ids.append(variant.id)
        return item_ids, variant_ids, {n: loc.id for n, loc in locations.items()}
