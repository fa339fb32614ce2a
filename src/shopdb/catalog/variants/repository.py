"""SQL on variants by their own id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.models import InventoryItem, Product, ProductVariant


class VariantRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, variant_id: int) -> ProductVariant | None:
        """A variant of a live (not soft-deleted) product, with its inventory item."""
        statement = (
            select(ProductVariant)
            .join(Product, Product.id == ProductVariant.product_id)
            .where(ProductVariant.id == variant_id, Product.deleted_at.is_(None))
            .options(selectinload(ProductVariant.inventory_item))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def inventory_item_of(self, variant_id: int) -> InventoryItem | None:
        return await self.session.scalar(
            select(InventoryItem).where(InventoryItem.product_variant_id == variant_id)
        )
