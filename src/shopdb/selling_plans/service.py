"""Selling plan groups, their plans, and the products that offer them. Services never commit.

A product offers a group by offering each of its plans (a product_selling_plans row per
plan): attaching products to a group links them to every plan of it, and a plan added later
is offered by the products the group already has. Detaching, deleting a plan or a group is
refused (409 SELLING_PLAN_IN_USE) while active or paused subscription contracts bill through
it: they would have nothing to renew with.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.models import SellingPlan, SellingPlanGroup
from shopdb.selling_plans.errors import (
    SellingPlanGroupNotFound,
    SellingPlanInUse,
    SellingPlanNotFound,
)
from shopdb.selling_plans.repository import SellingPlanRepository
from shopdb.selling_plans.schemas import (
    GroupCreate,
    GroupUpdate,
    PlanCreate,
    PlanUpdate,
    policy_json,
)

GROUP_FIELDS = ("name", "description", "merchant_code", "summary", "options", "position")


def _event(
    session: AsyncSession, actor: Subject, group: SellingPlanGroup, topic: str, **body: Any
) -> None:
    record_event(
        session,
        topic=topic,
        subject_type="SellingPlanGroup",
        subject_id=group.id,
        body={"id": group.id, "name": group.name, **body},
        actor=actor.principal,
    )


def _new_plan(data: PlanCreate) -> SellingPlan:
    return SellingPlan(
        name=data.name,
        description=data.description,
        billing_policy=policy_json(data.billing_policy),
        delivery_policy=policy_json(data.delivery_policy),
        pricing_policy=policy_json(data.pricing_policy),
        options=list(data.options),
        position=data.position,
        status=data.status,
    )


async def get_group(session: AsyncSession, group_id: int) -> SellingPlanGroup:
    group = await SellingPlanRepository(session).get_group(group_id)
    if group is None:
        raise SellingPlanGroupNotFound(group_id)
    return group


async def product_ids(session: AsyncSession, group_ids: list[int]) -> dict[int, list[int]]:
    return await SellingPlanRepository(session).product_ids_of_groups(group_ids)


async def list_groups(
    session: AsyncSession, request: PageRequest, *, product_id: int | None = None
) -> RowsPage[SellingPlanGroup]:
    return await SellingPlanRepository(session).page_groups(request, product_id=product_id)


async def create_group(
    session: AsyncSession, actor: Subject, data: GroupCreate
) -> SellingPlanGroup:
    group = SellingPlanGroup(
        name=data.name,
        description=data.description,
        merchant_code=data.merchant_code,
        summary=data.summary,
        options=list(data.options),
        position=data.position,
        selling_plans=[_new_plan(plan) for plan in data.plans],
    )
    await SellingPlanRepository(session).add(group)
    _event(
        session,
        actor,
        group,
        "selling_plan_groups/create",
        plans=[plan.id for plan in group.selling_plans],
    )
    return await get_group(session, group.id)


async def update_group(
    session: AsyncSession, actor: Subject, group_id: int, data: GroupUpdate
) -> SellingPlanGroup:
    group = await get_group(session, group_id)
    changed = []
    for field in GROUP_FIELDS:
        if field not in data.model_fields_set:
            continue
        value = getattr(data, field)
        if value is None and field in ("name", "options"):
            raise ValidationFailed.on(field, "must not be null")
        setattr(group, field, list(value) if field == "options" else value)
        changed.append(field)
    await session.flush()
    _event(session, actor, group, "selling_plan_groups/update", changed=changed)
    return await get_group(session, group_id)


async def delete_group(session: AsyncSession, actor: Subject, group_id: int) -> None:
    group = await get_group(session, group_id)
    repository = SellingPlanRepository(session)
    plan_ids = [plan.id for plan in group.selling_plans]
    if await repository.live_contracts_for(plan_ids):
        raise SellingPlanInUse("id", "active or paused subscription contracts use its plans")
    _event(session, actor, group, "selling_plan_groups/delete")
    await repository.delete_group(group_id)


def _plan_of(group: SellingPlanGroup, plan_id: int) -> SellingPlan:
    for plan in group.selling_plans:
        if plan.id == plan_id:
            return plan
    raise SellingPlanNotFound(group.id, plan_id)


async def add_plan(
    session: AsyncSession, actor: Subject, group_id: int, data: PlanCreate
) -> SellingPlan:
    group = await get_group(session, group_id)
    if len(group.selling_plans) >= 31:
        raise ValidationFailed.on("plans", "a group has at most 31 plans")
    repository = SellingPlanRepository(session)
    plan = _new_plan(data)
    plan.selling_plan_group_id = group_id
    await repository.add(plan)
    # Offered by the products that already offer the group.
    offering = (await repository.product_ids_of_groups([group_id]))[group_id]
    await repository.link([plan.id], offering)
    _event(session, actor, group, "selling_plan_groups/update", planAdded=plan.id)
    return plan


async def update_plan(
    session: AsyncSession, actor: Subject, group_id: int, plan_id: int, data: PlanUpdate
) -> SellingPlan:
    group = await get_group(session, group_id)
    plan = _plan_of(group, plan_id)
    changed = []
    for field in data.model_fields_set:
        value = getattr(data, field)
        if field in ("billing_policy", "delivery_policy", "pricing_policy"):
            if value is None and field != "pricing_policy":
                raise ValidationFailed.on(field, "must not be null")
            value = policy_json(value)
        elif value is None and field in ("name", "options", "status"):
            raise ValidationFailed.on(field, "must not be null")
        elif field == "options":
            value = list(value)
        setattr(plan, field, value)
        changed.append(field)
    await session.flush()
    # Live contracts keep the interval they were opened with; the price applies to their
    # next orders.
    _event(
        session,
        actor,
        group,
        "selling_plan_groups/update",
        planUpdated=plan.id,
        changed=sorted(changed),
    )
    return plan


async def delete_plan(session: AsyncSession, actor: Subject, group_id: int, plan_id: int) -> None:
    group = await get_group(session, group_id)
    plan = _plan_of(group, plan_id)
    repository = SellingPlanRepository(session)
    if await repository.live_contracts_for([plan.id]):
        raise SellingPlanInUse("planId", "active or paused subscription contracts use the plan")
    await repository.delete_plan(plan.id)
    _event(session, actor, group, "selling_plan_groups/update", planDeleted=plan.id)


async def _checked_products(repository: SellingPlanRepository, ids: list[int]) -> list[int]:
    unique = list(dict.fromkeys(ids))
    found = await repository.existing_products(unique)
    missing = [
        {"field": f"productIds[{position}]", "message": "does not exist"}
        for position, product_id in enumerate(ids)
        if product_id not in found
    ]
    if missing:
        raise ValidationFailed("Validation failed", missing)
    return unique


async def attach_products(
    session: AsyncSession, actor: Subject, group_id: int, ids: list[int]
) -> SellingPlanGroup:
    group = await get_group(session, group_id)
    repository = SellingPlanRepository(session)
    products = await _checked_products(repository, ids)
    if not group.selling_plans:
        raise ValidationFailed.on("productIds", "the group has no plans to offer")
    await repository.link([plan.id for plan in group.selling_plans], products)
    _event(session, actor, group, "selling_plan_groups/update", productsAdded=products)
    return group


async def detach_products(
    session: AsyncSession, actor: Subject, group_id: int, ids: list[int]
) -> SellingPlanGroup:
    group = await get_group(session, group_id)
    repository = SellingPlanRepository(session)
    products = list(dict.fromkeys(ids))
    plan_ids = [plan.id for plan in group.selling_plans]
    if await repository.live_contracts_for(plan_ids, products):
        raise SellingPlanInUse(
            "productIds", "active or paused subscription contracts bill these products"
        )
    await repository.unlink(plan_ids, products)
    _event(session, actor, group, "selling_plan_groups/update", productsRemoved=products)
    return group
