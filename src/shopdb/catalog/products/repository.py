"""SQL on products and their parts for the write side: load one, lock handles, check SKUs."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, cast, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from shopdb.catalog.rules import DELETED_MARK, MAX_NAME_LENGTH
from shopdb.models import InventoryItem, Product, ProductOption, ProductVariant


def detail_loaders() -> list[LoaderOption]:
    """Everything a ProductDetail shows, in a fixed number of SELECTs whatever the page size."""
    return [
        selectinload(Product.variants).selectinload(ProductVariant.inventory_item),
        selectinload(Product.options).selectinload(ProductOption.values),
        selectinload(Product.images),
    ]


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_detail(self, product_id: int, *, include_deleted: bool = False) -> Product | None:
        statement = (
            select(Product)
            .where(Product.id == product_id)
            .options(*detail_loaders(), selectinload(Product.tag_rows))
            .execution_options(populate_existing=True)
        )
        if not include_deleted:
            statement = statement.where(Product.deleted_at.is_(None))
        return (await self.session.scalars(statement)).one_or_none()

    async def get_by_handle(self, handle: str) -> Product | None:
        """By handle, soft-deleted too (handles stay taken after a delete)."""
        statement = (
            select(Product)
            .where(Product.handle == handle)
            .options(*detail_loaders(), selectinload(Product.tag_rows))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).one_or_none()

    async def exists(self, product_id: int) -> bool:
        found = await self.session.scalar(
            select(Product.id).where(Product.id == product_id, Product.deleted_at.is_(None))
        )
        return found is not None

    async def batch_after(self, after_id: int, size: int) -> builtins.list[Product]:
        rows = await self.session.scalars(
            select(Product)
            .where(Product.id > after_id, Product.deleted_at.is_(None))
            .order_by(Product.id)
            .limit(size)
            .options(*detail_loaders())
        )
        return list(rows)

    async def lock(self, product_id: int) -> bool:
        """Lock a live product's row until commit (SQLite serialises writers anyway).

        Whoever adds or removes variants or images takes it first, so limits and positions
        are checked against a count no concurrent request can change. Whether it exists.
        """
        found = await self.session.scalar(
            select(Product.id)
            .where(Product.id == product_id, Product.deleted_at.is_(None))
            .with_for_update()
        )
        return found is not None

    async def release_skus(self, product_id: int, now: datetime) -> None:
        """Mark the SKUs of a product's variants (and their inventory items) as deleted, in
        two statements: `<sku>--deleted-<variant id>`, cut to fit the column."""
        mark = literal(DELETED_MARK) + cast(ProductVariant.id, String)
        await self.session.execute(
            update(ProductVariant)
            .where(ProductVariant.product_id == product_id, ProductVariant.sku.is_not(None))
            .values(
                sku=func.substr(ProductVariant.sku, 1, MAX_NAME_LENGTH - func.length(mark)) + mark,
                version=ProductVariant.version + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        variant_sku = (
            select(ProductVariant.sku)
            .where(ProductVariant.id == InventoryItem.product_variant_id)
            .scalar_subquery()
        )
        await self.session.execute(
            update(InventoryItem)
            .where(
                InventoryItem.product_variant_id.in_(
                    select(ProductVariant.id).where(ProductVariant.product_id == product_id)
                ),
                InventoryItem.sku.is_not(None),
            )
            .values(sku=variant_sku, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def lock_handle_base(self, base: str) -> None:
        """Serialise handle generation for one base until commit (SQLite serialises writers)."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                select(func.pg_advisory_xact_lock(func.hashtext("products.handle:" + base)))
            )

    async def handles_like(self, base: str) -> set[str]:
        rows = await self.session.scalars(
            select(Product.handle).where(
                or_(Product.handle == base, Product.handle.like(f"{base}-%"))
            )
        )
        return set(rows)

    async def handle_taken(self, handle: str, *, except_id: int | None = None) -> bool:
        statement = select(Product.id).where(Product.handle == handle)
        if except_id is not None:
            statement = statement.where(Product.id != except_id)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def existing_skus(
        self, skus: Sequence[str], *, except_variant_ids: Sequence[int] = ()
    ) -> set[str]:
        if not skus:
            return set()
        statement = select(ProductVariant.sku).where(ProductVariant.sku.in_(list(skus)))
        if except_variant_ids:
            statement = statement.where(ProductVariant.id.not_in(list(except_variant_ids)))
        rows = await self.session.scalars(statement)
        return {sku for sku in rows if sku is not None}

    def add(self, product: Product) -> None:
        self.session.add(product)

    async def flush(self) -> None:
        await self.session.flush()

    async def delete_rows(self, rows: Sequence[object]) -> None:
        for row in rows:
            await self.session.delete(row)
