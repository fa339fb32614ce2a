"""SQL on products and their parts for the write side: load one, lock handles, check SKUs."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from shopdb.catalog.rules import DELETED_MARK, MAX_NAME_LENGTH
from shopdb.models import (
    InventoryItem,
    OptionValue,
    Product,
    ProductOption,
    ProductTag,
    ProductVariant,
)


@dataclass(frozen=True)
class StoredVariant:
    """A variant as stored, with its inventory item's SKU and cost: what a PUT compares."""

    id: int
    title: str
    price: Decimal
    compare_at_price: Decimal | None
    sku: str | None
    barcode: str | None
    option1: str | None
    option2: str | None
    option3: str | None
    weight: Decimal | None
    weight_unit: str | None
    inventory_policy: str
    taxable: bool
    requires_shipping: bool
    position: int
    inventory_quantity: int
    inventory_item_id: int | None
    item_sku: str | None
    item_cost: Decimal | None


# StoredVariant's fields but its title, as _structure names them.
_VARIANT_FIELDS = tuple(name for name in StoredVariant.__dataclass_fields__ if name != "title")


@dataclass(frozen=True)
class StoredOption:
    name: str
    position: int
    values: builtins.list[tuple[str, int]]  # (value, position), in their stored order


@dataclass(frozen=True)
class StoredStructure:
    """A product's variants, options and tags as stored, in the order the ORM loads them."""

    variants: builtins.list[StoredVariant]
    options: builtins.list[StoredOption]
    tags: builtins.list[str]


# What `lock_with_structure`'s second statement returns: one row per variant (kind "v"), per
# option value ("o") and per tag ("t"), each kind filling its own columns (the others NULL).
_STRUCTURE_COLUMNS = (
    "kind",
    "id",  # the variant's, the option's
    "position",  # the variant's, the option's
    "text",  # the variant's title, the option's name, the tag
    *(
        "price",
        "compare_at_price",
        "sku",
        "barcode",
        "option1",
        "option2",
        "option3",
        "weight",
        "weight_unit",
        "inventory_policy",
        "taxable",
        "requires_shipping",
        "inventory_quantity",
        "inventory_item_id",
        "item_sku",
        "item_cost",
    ),
    "value",  # an option value, its position and id
    "value_position",
    "value_id",
)


def _structure_rows(kind: str, columns: dict[str, Any]) -> Any:
    """One kind's SELECT list, in _STRUCTURE_COLUMNS' order."""
    given = {"kind": literal_column(f"'{kind}'"), **columns}
    return [given.get(name, null()).label(name) for name in _STRUCTURE_COLUMNS]


@functools.cache
def _locked_product() -> Select[Product]:
    """The live product `:product_id`, its row locked until commit (as `lock`)."""
    return (
        select(Product)
        .where(Product.id == bindparam("product_id"), Product.deleted_at.is_(None))
        .with_for_update()
        .execution_options(populate_existing=True)
    )


@functools.cache
def _structure() -> Select[Any]:
    """The variants (with their inventory items), option values and tags of `:product_id`,
    in one statement, variants and options in the ORM's order (built once: building and keying
    it costs more than running it).

    Run after the product's row is locked, not joined to that locking SELECT: on PostgreSQL a
    locking SELECT that waited for another writer sees that writer's product row but the
    other tables as they were before it committed."""
    product_id = bindparam("product_id", type_=BigInteger())
    variants = (
        select(
            *_structure_rows(
                "v",
                {
                    "id": ProductVariant.id,
                    "position": ProductVariant.position,
                    "text": ProductVariant.title,
                    **{name: getattr(ProductVariant, name) for name in _STRUCTURE_COLUMNS[4:16]},
                    "inventory_quantity": ProductVariant.inventory_quantity,
                    "inventory_item_id": InventoryItem.id,
                    "item_sku": InventoryItem.sku,
                    "item_cost": InventoryItem.cost,
                },
            )
        )
        .outerjoin(InventoryItem, InventoryItem.product_variant_id == ProductVariant.id)
        .where(ProductVariant.product_id == product_id)
    )
    option_values = (
        select(
            *_structure_rows(
                "o",
                {
                    "id": ProductOption.id,
                    "position": ProductOption.position,
                    "text": ProductOption.name,
                    "value": OptionValue.value,
                    "value_position": OptionValue.position,
                    "value_id": OptionValue.id,
                },
            )
        )
        .outerjoin(OptionValue, OptionValue.product_option_id == ProductOption.id)
        .where(ProductOption.product_id == product_id)
    )
    tags = select(*_structure_rows("t", {"text": ProductTag.tag})).where(
        ProductTag.product_id == product_id
    )
    rows = union_all(variants, option_values, tags).subquery()
    return select(*rows.c).order_by(
        rows.c.kind, rows.c.position, rows.c.id, rows.c.value_position, rows.c.value_id
    )


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

    async def lock_with_structure(self, product_id: int) -> tuple[Product, StoredStructure] | None:
        """A live product's row, locked until commit as `lock` locks it, and its variants,
        options and tags as plain rows; in two statements (the ORM graph takes nine, and a
        session holding it makes every flush slower). The ORM relationships stay unloaded."""
        bound = {"product_id": product_id}
        product = (await self.session.scalars(_locked_product(), bound)).one_or_none()
        if product is None:
            return None
        variants: builtins.list[StoredVariant] = []
        options: dict[int, StoredOption] = {}
        tags: builtins.list[str] = []
        for row in (await self.session.execute(_structure(), bound)).mappings():
            if row["kind"] == "v":
                variants.append(
                    StoredVariant(
                        title=row["text"], **{name: row[name] for name in _VARIANT_FIELDS}
                    )
                )
            elif row["kind"] == "o":
                option = options.get(row["id"])
                if option is None:
                    option = options[row["id"]] = StoredOption(row["text"], row["position"], [])
                if row["value"] is not None:
                    option.values.append((row["value"], row["value_position"]))
            else:
                tags.append(row["text"])
        return product, StoredStructure(variants, list(options.values()), tags)

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
