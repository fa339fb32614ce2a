"""SQL on variants by their own id, and the set-based moves that keep positions 1..n."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.kit import journal
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

    async def product_id_of(self, variant_id: int) -> int | None:
        """The live product a variant belongs to, without loading the variant."""
        return await self.session.scalar(
            select(ProductVariant.product_id)
            .join(Product, Product.id == ProductVariant.product_id)
            .where(ProductVariant.id == variant_id, Product.deleted_at.is_(None))
        )

    async def inventory_item_of(self, variant_id: int) -> InventoryItem | None:
        return await self.session.scalar(
            select(InventoryItem).where(InventoryItem.product_variant_id == variant_id)
        )

    # The statements below change rows the session has loaded: callers read the variants
    # again (populate_existing) before using them. Each moved row's version (its ETag) moves.

    async def make_room(self, product_id: int, position: int, now: datetime) -> None:
        """Shift the variants at `position` and after one place down, in one UPDATE."""
        await self._shift(
            and_(ProductVariant.product_id == product_id, ProductVariant.position >= position),
            ProductVariant.position + 1,
            product_id,
            now,
        )

    async def move(
        self, product_id: int, variant_id: int, start: int, end: int, now: datetime
    ) -> None:
        """Move one variant from `start` to `end`; the ones in between shift by one place
        towards `start`. One UPDATE."""
        if start == end:
            return
        low, high = min(start, end), max(start, end)
        step = 1 if end < start else -1
        await self._shift(
            and_(
                ProductVariant.product_id == product_id,
                (ProductVariant.id == variant_id) | ProductVariant.position.between(low, high),
            ),
            case(
                (ProductVariant.id == variant_id, end),
                else_=ProductVariant.position + step,
            ),
            product_id,
            now,
        )

    async def renumber(self, product_id: int, now: datetime) -> None:
        """Positions 1..n in (position, id) order, writing only the rows whose position
        changes: one UPDATE, whatever gaps or ties were there before (a delete, old data)."""
        ranked = (
            select(
                ProductVariant.id.label("id"),
                func.row_number()
                .over(order_by=(ProductVariant.position, ProductVariant.id))
                .label("rank"),
            )
            .where(ProductVariant.product_id == product_id)
            .subquery()
        )
        await self.session.execute(
            update(ProductVariant)
            .where(ProductVariant.id == ranked.c.id, ProductVariant.position != ranked.c.rank)
            .values(
                position=ranked.c.rank,
                version=ProductVariant.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        journal.note(self.session, journal.PRODUCT, [product_id], membership=False)

    async def _shift(
        self,
        where: ColumnElement[bool],
        position: ColumnElement[int],
        product_id: int,
        now: datetime,
    ) -> None:
        await self.session.execute(
            update(ProductVariant)
            .where(where)
            .values(position=position, version=ProductVariant.version + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        journal.note(self.session, journal.PRODUCT, [product_id], membership=False)
