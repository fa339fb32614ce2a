"""SQL for smart collections: the rows, the matching products page, the manual positions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.collections.rules import ConditionDefinition, rules_condition
from shopdb.kit.pagination import Direction, PageRequest, RowsPage, read_requested_page
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


@dataclass(frozen=True)
class CollectionSort:
    """A collection's sort order as one keyset: (key, product id), both in `direction`."""

    key: Any
    direction: Direction
    key_type: type
    nulls_last: bool = False
    # The outer join `manual` needs for the positions.
    join: Any = None


def _sort(collection: SmartCollection) -> CollectionSort:
    sort = collection.sort_order
    direction: Direction = "desc" if sort in ("alpha-desc", "price-desc", "created-desc") else "asc"
    if sort == "manual":
        # Positioned products first, by position; the rest after them, by id.
        join = and_(
            CollectionProduct.collection_id == collection.id,
            CollectionProduct.product_id == Product.id,
        )
        return CollectionSort(CollectionProduct.position, "asc", int, nulls_last=True, join=join)
    if sort == "best-selling":
        # Most units first, ties by id ascending: one ascending keyset over minus the units.
        return CollectionSort(-units_sold(), "asc", int)
    if sort in ("alpha-asc", "alpha-desc"):
        return CollectionSort(Product.title, direction, str)
    if sort in ("price-asc", "price-desc"):
        lowest = (
            select(func.min(ProductVariant.price))
            .where(ProductVariant.product_id == Product.id)
            .scalar_subquery()
        )
        # A product always has a variant; were one without, it would sort last, not vanish.
        return CollectionSort(lowest, direction, Decimal, nulls_last=True)
    return CollectionSort(Product.created_at, direction, datetime)


class CollectionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, collection_id: int) -> SmartCollection | None:
        return await self.session.scalar(
            select(SmartCollection).where(
                SmartCollection.id == collection_id, SmartCollection.deleted_at.is_(None)
            )
        )

    async def list(self, request: PageRequest) -> RowsPage[SmartCollection]:
        return await read_requested_page(
            self.session,
            select(SmartCollection).where(SmartCollection.deleted_at.is_(None)),
            request,
            sort_column=SmartCollection.id,
            id_column=SmartCollection.id,
        )

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
        request: PageRequest,
    ) -> RowsPage[int]:
        """One page of matching product ids in the collection's order.

        `definitions`: the metafield definitions the rules name (rules.definition_ids).
        """
        sort = _sort(collection)
        matching = select(Product.id).where(
            Product.deleted_at.is_(None),
            rules_condition(collection.rules or [], collection.disjunctive_rules, definitions),
        )
        if sort.join is not None:
            matching = matching.outerjoin(CollectionProduct, sort.join)
        return await read_requested_page(
            self.session,
            matching,
            request,
            sort_column=sort.key,
            id_column=Product.id,
            direction=sort.direction,
            sort_name=collection.sort_order,
            key_type=sort.key_type,
            nulls_last=sort.nulls_last,
        )

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
