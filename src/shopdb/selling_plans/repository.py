"""Every query on selling plan groups, plans, product links and subscription contracts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.kit.types import utcnow
from shopdb.models import (
    OrderLineItem,
    Product,
    ProductSellingPlan,
    ProductVariant,
    SellingPlan,
    SellingPlanGroup,
    SubscriptionContract,
)

LIVE_STATUSES = ("active", "paused")


@dataclass(frozen=True)
class OfferedPlan:
    """A selling plan as an order line reads it, with the products that offer it."""

    id: int
    status: str
    billing_policy: dict[str, Any]
    pricing_policy: dict[str, Any]
    product_ids: frozenset[int]


@dataclass(frozen=True)
class RecurringLine:
    line_id: int
    variant_id: int | None
    quantity: int
    selling_plan_id: int
    billing_policy: dict[str, Any]


class SellingPlanRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- groups and plans ------------------------------------------------------------------

    async def get_group(self, group_id: int) -> SellingPlanGroup | None:
        result = await self.session.execute(
            select(SellingPlanGroup)
            .where(SellingPlanGroup.id == group_id)
            .options(selectinload(SellingPlanGroup.selling_plans))
            .execution_options(populate_existing=True)
        )
        return result.scalar_one_or_none()

    async def page_groups(
        self, request: PageRequest, *, product_id: int | None
    ) -> RowsPage[SellingPlanGroup]:
        """By id, each group's plans in one more query for the whole page; `product_id`:
        only the groups with a plan that product offers."""
        statement = select(SellingPlanGroup).options(selectinload(SellingPlanGroup.selling_plans))
        if product_id is not None:
            statement = statement.where(
                exists()
                .where(
                    SellingPlan.selling_plan_group_id == SellingPlanGroup.id,
                    ProductSellingPlan.selling_plan_id == SellingPlan.id,
                    ProductSellingPlan.product_id == product_id,
                )
                .correlate(SellingPlanGroup)
            )
        return await read_requested_page(
            self.session,
            statement,
            request,
            sort_column=SellingPlanGroup.id,
            id_column=SellingPlanGroup.id,
        )

    async def product_ids_of_groups(self, group_ids: Collection[int]) -> dict[int, list[int]]:
        """The products offering any plan of each group, ascending."""
        if not group_ids:
            return {}
        result = await self.session.execute(
            select(SellingPlan.selling_plan_group_id, ProductSellingPlan.product_id)
            .join(ProductSellingPlan, ProductSellingPlan.selling_plan_id == SellingPlan.id)
            .where(SellingPlan.selling_plan_group_id.in_(list(group_ids)))
            .distinct()
            .order_by(SellingPlan.selling_plan_group_id, ProductSellingPlan.product_id)
        )
        found: dict[int, list[int]] = {group_id: [] for group_id in group_ids}
        for group_id, product_id in result.all():
            found[group_id].append(product_id)
        return found

    async def add(self, row: Any) -> None:
        self.session.add(row)
        await self.session.flush()

    async def delete_group(self, group_id: int) -> None:
        # Its plans and their product links go with it (ON DELETE CASCADE).
        await self.session.execute(delete(SellingPlanGroup).where(SellingPlanGroup.id == group_id))

    async def delete_plan(self, plan_id: int) -> None:
        await self.session.execute(delete(SellingPlan).where(SellingPlan.id == plan_id))

    async def existing_products(self, product_ids: Collection[int]) -> set[int]:
        result = await self.session.scalars(
            select(Product.id).where(
                Product.id.in_(list(product_ids)), Product.deleted_at.is_(None)
            )
        )
        return set(result)

    async def link(self, plan_ids: Sequence[int], product_ids: Sequence[int]) -> None:
        """Each product offers each plan; links that exist already are kept."""
        rows = [{"product_id": p, "selling_plan_id": s} for s in plan_ids for p in product_ids]
        if not rows:
            return
        postgres = self.session.get_bind().dialect.name == "postgresql"
        insert = postgresql_insert if postgres else sqlite_insert
        await self.session.execute(
            insert(ProductSellingPlan)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["product_id", "selling_plan_id"])
        )

    async def unlink(self, plan_ids: Sequence[int], product_ids: Sequence[int]) -> None:
        if not plan_ids or not product_ids:
            return
        await self.session.execute(
            delete(ProductSellingPlan).where(
                ProductSellingPlan.selling_plan_id.in_(list(plan_ids)),
                ProductSellingPlan.product_id.in_(list(product_ids)),
            )
        )

    async def live_contracts_for(
        self, plan_ids: Sequence[int], product_ids: Sequence[int] | None = None
    ) -> int:
        """How many active or paused contracts bill through the plans (for the products'
        variants, when given)."""
        if not plan_ids:
            return 0
        statement = select(func.count()).where(
            SubscriptionContract.selling_plan_id.in_(list(plan_ids)),
            SubscriptionContract.status.in_(LIVE_STATUSES),
        )
        if product_ids is not None:
            statement = statement.where(
                SubscriptionContract.product_variant_id.in_(
                    select(ProductVariant.id).where(
                        ProductVariant.product_id.in_(list(product_ids))
                    )
                )
            )
        return int(await self.session.scalar(statement) or 0)

    # --- order lines ------------------------------------------------------------------------

    async def offered_plans(self, plan_ids: Collection[int]) -> dict[int, OfferedPlan]:
        """The plans of `plan_ids` that exist, with the products offering each (one query)."""
        result = await self.session.execute(
            select(
                SellingPlan.id,
                SellingPlan.status,
                SellingPlan.billing_policy,
                SellingPlan.pricing_policy,
                ProductSellingPlan.product_id,
            )
            .outerjoin(ProductSellingPlan, ProductSellingPlan.selling_plan_id == SellingPlan.id)
            .where(SellingPlan.id.in_(list(plan_ids)))
        )
        rows: dict[int, tuple[str, Any, Any, set[int]]] = {}
        for plan_id, status, billing, pricing, product_id in result.all():
            entry = rows.setdefault(plan_id, (status, billing, pricing, set()))
            if product_id is not None:
                entry[3].add(product_id)
        return {
            plan_id: OfferedPlan(plan_id, status, billing or {}, pricing or {}, frozenset(products))
            for plan_id, (status, billing, pricing, products) in rows.items()
        }

    async def recurring_lines(self, order_id: int) -> list[RecurringLine]:
        """The order's lines sold under a plan, with the plan's billing policy, by line id."""
        result = await self.session.execute(
            select(
                OrderLineItem.id,
                OrderLineItem.product_variant_id,
                OrderLineItem.quantity,
                SellingPlan.id,
                SellingPlan.billing_policy,
            )
            .join(SellingPlan, SellingPlan.id == OrderLineItem.selling_plan_id)
            .where(OrderLineItem.order_id == order_id)
            .order_by(OrderLineItem.id)
        )
        return [RecurringLine(*row) for row in result.all()]


class ContractRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, contract_id: int) -> SubscriptionContract | None:
        return await self.session.get(SubscriptionContract, contract_id, populate_existing=True)

    async def page(
        self, request: PageRequest, *, status: str | None, customer_id: int | None
    ) -> RowsPage[SubscriptionContract]:
        statement = select(SubscriptionContract)
        if status is not None:
            statement = statement.where(SubscriptionContract.status == status)
        if customer_id is not None:
            statement = statement.where(SubscriptionContract.customer_id == customer_id)
        return await read_requested_page(
            self.session,
            statement,
            request,
            sort_column=SubscriptionContract.id,
            id_column=SubscriptionContract.id,
        )

    async def add_all(self, contracts: list[SubscriptionContract]) -> None:
        self.session.add_all(contracts)
        await self.session.flush()

    async def transition(
        self, contract_id: int, from_statuses: Collection[str], **values: Any
    ) -> SubscriptionContract | None:
        """Set `values` if the contract's status is one of `from_statuses` (one guarded
        UPDATE: two concurrent transitions cannot both pass); the row, or None."""
        statement = (
            update(SubscriptionContract)
            .where(
                SubscriptionContract.id == contract_id,
                SubscriptionContract.status.in_(list(from_statuses)),
            )
            .values(**values, updated_at=utcnow())
            .returning(SubscriptionContract)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    # --- billing -----------------------------------------------------------------------------

    async def due_ids(self, now: datetime, limit: int) -> list[int]:
        """Active contracts whose next attempt is due and that no live claim holds."""
        result = await self.session.scalars(
            select(SubscriptionContract.id)
            .where(
                SubscriptionContract.status == "active",
                SubscriptionContract.next_attempt_at <= now,
                or_(
                    SubscriptionContract.billing_lease_until.is_(None),
                    SubscriptionContract.billing_lease_until < now,
                ),
            )
            .order_by(SubscriptionContract.next_attempt_at, SubscriptionContract.id)
            .limit(limit)
        )
        return list(result)

    async def claim(
        self, contract_id: int, now: datetime, lease_until: datetime
    ) -> SubscriptionContract | None:
        """Take the contract for billing (one guarded UPDATE: a second worker gets None)."""
        statement = (
            update(SubscriptionContract)
            .where(
                SubscriptionContract.id == contract_id,
                SubscriptionContract.status == "active",
                SubscriptionContract.next_attempt_at <= now,
                or_(
                    SubscriptionContract.billing_lease_until.is_(None),
                    SubscriptionContract.billing_lease_until < now,
                ),
            )
            .values(billing_lease_until=lease_until)
            .returning(SubscriptionContract)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def in_cycle(
        self, contract_id: int, cycle: int, *, active_only: bool, **values: Any
    ) -> SubscriptionContract | None:
        """Set `values` if the contract is still on billing cycle `cycle` (and active, if
        `active_only`); the row, or None."""
        conditions = [
            SubscriptionContract.id == contract_id,
            SubscriptionContract.billing_cycle == cycle,
        ]
        if active_only:
            conditions.append(SubscriptionContract.status == "active")
        statement = (
            update(SubscriptionContract)
            .where(*conditions)
            .values(**values, updated_at=utcnow())
            .returning(SubscriptionContract)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()
