"""Inventory items: cost, tracking and country of origin (the SKU follows the variant)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.events.service import record_event
from shopdb.inventory.errors import InventoryItemNotFound
from shopdb.inventory.repository import InventoryItemRepository
from shopdb.inventory.schemas import InventoryItemUpdate
from shopdb.models import InventoryItem


async def get_item(session: AsyncSession, item_id: int) -> InventoryItem:
    item = await InventoryItemRepository(session).get(item_id)
    if item is None:
        raise InventoryItemNotFound(item_id, field="id")
    return item


async def update_item(
    session: AsyncSession, item_id: int, data: InventoryItemUpdate, *, actor: str | None
) -> InventoryItem:
    item = await get_item(session, item_id)
    given = data.model_fields_set
    if "cost" in given:
        item.cost = data.cost
    if "tracked" in given and data.tracked is not None:
        item.tracked = data.tracked
    if "country_code_of_origin" in given:
        item.country_code_of_origin = data.country_code_of_origin
    await session.flush()
    record_event(
        session,
        topic="inventory_items/update",
        subject_type="InventoryItem",
        subject_id=item.id,
        body={
            "id": item.id,
            "cost": None if item.cost is None else str(item.cost),
            "tracked": item.tracked,
            "countryCodeOfOrigin": item.country_code_of_origin,
        },
        actor=actor,
    )
    return item
