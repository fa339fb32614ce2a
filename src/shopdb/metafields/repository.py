"""SQL for metafields, their definitions, and whether an owner exists."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.pagination import AnySelect, PageRequest, RowsPage, read_requested_page
from shopdb.models import (
    Customer,
    Location,
    Metafield,
    MetafieldDefinition,
    Order,
    Product,
    ProductImage,
    ProductVariant,
    Shop,
    SmartCollection,
)

# Owner resources and their tables. A polymorphic owner cannot have a foreign key, so its
# existence is checked here before every write.
OWNER_MODELS: dict[str, Any] = {
    "products": Product,
    "variants": ProductVariant,
    "collections": SmartCollection,
    "customers": Customer,
    "orders": Order,
    "locations": Location,
    "shop": Shop,
}


def _live_ids_statement(resource: str, ids: Sequence[int]) -> Any:
    """SELECT the ids among `ids` of live records a reference value may point to."""
    wanted = list(ids)
    if resource == "variants":
        # A variant lives as long as its product does (variants are deleted, not soft-deleted).
        return (
            select(ProductVariant.id)
            .join(Product, Product.id == ProductVariant.product_id)
            .where(ProductVariant.id.in_(wanted), Product.deleted_at.is_(None))
        )
    if resource == "images":
        return (
            select(ProductImage.id)
            .join(Product, Product.id == ProductImage.product_id)
            .where(ProductImage.id.in_(wanted), Product.deleted_at.is_(None))
        )
    model: Any = {"products": Product, "collections": SmartCollection, "customers": Customer}[
        resource
    ]
    return select(model.id).where(model.id.in_(wanted), model.deleted_at.is_(None))


class MetafieldRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def owner_exists(self, owner_resource: str, owner_id: int) -> bool:
        model = OWNER_MODELS[owner_resource]
        statement = select(model.id).where(model.id == owner_id)
        if hasattr(model, "deleted_at"):
            statement = statement.where(model.deleted_at.is_(None))
        return (await self.session.scalar(statement)) is not None

    async def live_ids(self, resource: str, ids: Sequence[int]) -> set[int]:
        """Which of `ids` are live records of `resource` (products, variants, collections,
        customers, images): what a reference metafield may point to."""
        if not ids:
            return set()
        return set(await self.session.scalars(_live_ids_statement(resource, ids)))

    async def lock_id_value(
        self, owner_resource: str, namespace: str, key: str, value: str
    ) -> None:
        """Serialise writers of one `id` value until commit (SQLite serialises writers)."""
        if self.session.get_bind().dialect.name == "postgresql":
            name = f"metafields.id:{owner_resource}:{namespace}.{key}={value}"
            await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtext(name))))

    async def id_value_holder(
        self, owner_resource: str, namespace: str, key: str, value: str, except_owner_id: int
    ) -> int | None:
        """The owner id of another metafield of type `id` holding `value`, if any."""
        return await self.session.scalar(
            select(Metafield.owner_id)
            .where(
                Metafield.owner_resource == owner_resource,
                Metafield.namespace == namespace,
                Metafield.key == key,
                Metafield.type == "id",
                Metafield.value == value,
                Metafield.owner_id != except_owner_id,
            )
            .limit(1)
        )

    async def collections_using(self, definition_id: int) -> builtins.list[int]:
        """Live smart collections with a rule naming this definition (`condition_object_id`)."""
        rows = await self.session.execute(
            select(SmartCollection.id, SmartCollection.rules)
            .where(
                SmartCollection.deleted_at.is_(None),
                # A cheap filter before the rules are read in Python; JSON text differs by
                # backend, the key's name does not.
                cast(SmartCollection.rules, String).like("%condition_object_id%"),
            )
            .order_by(SmartCollection.id)
        )
        return [
            collection_id
            for collection_id, rules in rows
            if any(
                isinstance(rule, dict) and rule.get("condition_object_id") == definition_id
                for rule in rules or []
            )
        ]

    async def definitions_by_ids(self, ids: Sequence[int]) -> builtins.list[MetafieldDefinition]:
        if not ids:
            return []
        rows = await self.session.scalars(
            select(MetafieldDefinition)
            .where(MetafieldDefinition.id.in_(list(ids)))
            .order_by(MetafieldDefinition.id)
        )
        return list(rows)

    async def get(self, metafield_id: int) -> Metafield | None:
        return await self.session.get(Metafield, metafield_id)

    async def find(
        self, owner_resource: str, owner_id: int, namespace: str, key: str
    ) -> Metafield | None:
        return await self.session.scalar(
            select(Metafield).where(
                Metafield.owner_resource == owner_resource,
                Metafield.owner_id == owner_id,
                Metafield.namespace == namespace,
                Metafield.key == key,
            )
        )

    async def for_owner(self, owner_resource: str, owner_id: int) -> builtins.list[Metafield]:
        rows = await self.session.scalars(
            select(Metafield)
            .where(Metafield.owner_resource == owner_resource, Metafield.owner_id == owner_id)
            .order_by(Metafield.namespace, Metafield.key)
        )
        return list(rows)

    async def for_owners(
        self, owner_resource: str, owner_ids: Sequence[int], namespace: str
    ) -> builtins.list[Metafield]:
        """One namespace's metafields of many owners, in one statement."""
        if not owner_ids:
            return []
        rows = await self.session.scalars(
            select(Metafield)
            .where(
                Metafield.owner_resource == owner_resource,
                Metafield.owner_id.in_(list(owner_ids)),
                Metafield.namespace == namespace,
            )
            .order_by(Metafield.owner_id, Metafield.key)
        )
        return list(rows)

    async def list(
        self,
        *,
        owner_resources: Sequence[str],
        owner_id: int | None,
        namespace: str | None,
        key: str | None,
        request: PageRequest,
    ) -> RowsPage[Metafield]:
        """`owner_resources`: only these (the ones the caller may read; empty: none)."""
        statement: AnySelect = select(Metafield)
        if set(owner_resources) != set(OWNER_MODELS):
            statement = statement.where(Metafield.owner_resource.in_(owner_resources))
        for column, value in (
            (Metafield.owner_id, owner_id),
            (Metafield.namespace, namespace),
            (Metafield.key, key),
        ):
            if value is not None:
                statement = statement.where(column == value)
        return await read_requested_page(
            self.session, statement, request, sort_column=Metafield.id, id_column=Metafield.id
        )

    async def add(self, row: Metafield | MetafieldDefinition) -> None:
        self.session.add(row)
        await self.session.flush()

    async def delete(self, row: Metafield | MetafieldDefinition) -> None:
        await self.session.delete(row)
        await self.session.flush()

    async def flush(self) -> None:
        await self.session.flush()

    async def definition(
        self, owner_type: str, namespace: str, key: str
    ) -> MetafieldDefinition | None:
        return await self.session.scalar(
            select(MetafieldDefinition).where(
                MetafieldDefinition.owner_type == owner_type,
                MetafieldDefinition.namespace == namespace,
                MetafieldDefinition.key == key,
            )
        )

    async def get_definition(self, definition_id: int) -> MetafieldDefinition | None:
        return await self.session.get(MetafieldDefinition, definition_id)

    async def list_definitions(
        self, *, owner_type: str | None, namespace: str | None, request: PageRequest
    ) -> RowsPage[MetafieldDefinition]:
        statement: AnySelect = select(MetafieldDefinition)
        if owner_type is not None:
            statement = statement.where(MetafieldDefinition.owner_type == owner_type)
        if namespace is not None:
            statement = statement.where(MetafieldDefinition.namespace == namespace)
        return await read_requested_page(
            self.session,
            statement,
            request,
            sort_column=MetafieldDefinition.id,
            id_column=MetafieldDefinition.id,
        )
