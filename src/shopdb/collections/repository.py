"""SQL for smart collections: the rows, the matching products page, the manual positions."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.collections.rules import ConditionDefinition, rules_condition
from shopdb.kit.pagination import count_rows, offset_for
from shopdb.models import (
    CollectionProduct,
    Order,
    OrderLineItem,
    Product,
    ProductVariant,
    SmartCollection,
)


def units_sold() -> Any:
    """Units of the product on orders that are neither cancelled nor deleted (0 if none).

    Line items whose variant was deleted (product_variant_id set NULL) no longer count: the
    orders tables keep no product id of their own. Refunded units still count, since refunds
    are recorded as amounts, not as line quantities.
    """
    return (
        select(func.coalesce(func.sum(OrderLineItem.quantity), 0))
        .join(ProductVariant, ProductVariant.id == OrderLineItem.product_variant_id)
        .join(Order, Order.id == OrderLineItem.order_id)
        .where(
            ProductVariant.product_id == Product.id,
            Order.cancelled_at.is_(None),
            Order.deleted_at.is_(None),
        )
        .scalar_subquery()
    )


def _order(collection: SmartCollection) -> tuple[list[ColumnElement[Any]], Any]:
    """ORDER BY for the collection's sort order, and the outer join `manual` needs."""
    sort = collection.sort_order
    if sort == "manual":
        position = CollectionProduct.position
        join = and_(
            CollectionProduct.collection_id == collection.id,
            CollectionProduct.product_id == Product.id,
        )
        unpositioned = case((position.is_(None), 1), else_=0)
        return [unpositioned.asc(), position.asc(), Product.id.asc()], join
    if sort == "best-selling":
        return [units_sold().desc(), Product.id.asc()], None
    if sort in ("alpha-asc", "alpha-desc"):
        key: Any = Product.title
    elif sort in ("price-asc", "price-desc"):
        key = (
            select(func.min(ProductVariant.price))
            .where(ProductVariant.product_id == Product.id)
            .scalar_subquery()
        )
    else:
        key = Product.created_at
    if sort in ("alpha-desc", "price-desc", "created-desc"):
        return [key.desc(), Product.id.desc()], None
    return [key.asc(), Product.id.asc()], None


class CollectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, collection_id: int) -> SmartCollection | None:
        return await self.session.scalar(
            select(SmartCollection).where(
                SmartCollection.id == collection_id, SmartCollection.deleted_at.is_(None)
            )
        )

    async def list(self, *, page: int, page_size: int) -> tuple[Sequence[SmartCollection], int]:
        statement = select(SmartCollection).where(SmartCollection.deleted_at.is_(None))
        total = await count_rows(self.session, statement)
        rows = await self.session.scalars(
            statement.order_by(SmartCollection.id)
            .offset(offset_for(page, page_size))
            .limit(page_size)
        )
        return rows.all(), total

    async def handles_like(self, base: str) -> set[str]:
        rows = await self.session.scalars(
            select(SmartCollection.handle).where(
                or_(SmartCollection.handle == base, SmartCollection.handle.like(f"{base}-%"))
            )
        )
        return set(rows)

    async def handle_taken(self, handle: str, except_id: int | None = None) -> bool:
        statement = select(SmartCollection.id).where(SmartCollection.handle == handle)
        if except_id is not None:
            statement = statement.where(SmartCollection.id != except_id)
        return (await self.session.scalar(statement.limit(1))) is not None

    async def add(self, collection: SmartCollection) -> SmartCollection:
        self.session.add(collection)
        await self.session.flush()
        return collection

    async def flush(self) -> None:
        await self.session.flush()

    async def product_ids(
        self,
        collection: SmartCollection,
        definitions: Mapping[int, ConditionDefinition],
        *,
        page: int,
        page_size: int,
    ) -> tuple[builtins.list[int], int]:
        """One page of matching product ids in the collection's order, and how many match.

        `definitions`: the metafield definitions the rules name (rules.definition_ids).
        """
        matching = select(Product.id).where(
            Product.deleted_at.is_(None),
            rules_condition(collection.rules or [], collection.disjunctive_rules, definitions),
        )
        total = await count_rows(self.session, matching)
        order, join = _order(collection)
        statement = matching
        if join is not None:
            statement = statement.outerjoin(CollectionProduct, join)
        rows = await self.session.scalars(
            statement.order_by(*order).offset(offset_for(page, page_size)).limit(page_size)
        )
        return list(rows), total

    async def live_product_ids(self, ids: Sequence[int]) -> set[int]:
        if not ids:
            return set()
        rows = await self.session.scalars(
            select(Product.id).where(Product.id.in_(list(ids)), Product.deleted_at.is_(None))
        )
        return set(rows)

    async def replace_positions(self, collection_id: int, product_ids: Sequence[int]) -> None:
        await self.session.execute(
            delete(CollectionProduct).where(CollectionProduct.collection_id == collection_id)
        )
        self.session.add_all(
            CollectionProduct(collection_id=collection_id, product_id=pid, position=i + 1)
            for i, pid in enumerate(product_ids)
        )
        await self.session.flush()
