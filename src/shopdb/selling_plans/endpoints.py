"""/api/v1/selling-plan-groups (with their plans and products) and
/api/v1/subscription-contracts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from shopdb.dependencies import ServicesDep, SessionDep
from shopdb.idempotency import idempotent
from shopdb.keys import field_cipher
from shopdb.kit.parameters import PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.models import SellingPlan, SellingPlanGroup
from shopdb.selling_plans import contracts, rules, service
from shopdb.selling_plans.auth import SellingPlansRead, SellingPlansWrite
from shopdb.selling_plans.schemas import (
    ContractRead,
    ContractStatus,
    GroupCreate,
    GroupProducts,
    GroupRead,
    GroupUpdate,
    PaymentMethodUpdate,
    PlanCreate,
    PlanRead,
    PlanUpdate,
)

router = domain_router("/selling-plan-groups", tags=["selling plans"])
contracts_router = domain_router("/subscription-contracts", tags=["selling plans"])


def _plan(plan: SellingPlan) -> PlanRead:
    return PlanRead(
        id=plan.id,
        selling_plan_group_id=plan.selling_plan_group_id,
        name=plan.name,
        description=plan.description,
        billing_policy=plan.billing_policy or {},
        delivery_policy=plan.delivery_policy or {},
        pricing_policy=plan.pricing_policy or {},
        recurring=rules.recurring_interval(plan.billing_policy) is not None,
        options=list(plan.options or []),
        position=plan.position,
        status=plan.status,
        created_at=plan.created_at,
        updated_at=plan.updated_at,
    )


def _group(group: SellingPlanGroup, product_ids: list[int]) -> GroupRead:
    return GroupRead(
        id=group.id,
        name=group.name,
        description=group.description,
        merchant_code=group.merchant_code,
        summary=group.summary,
        options=list(group.options or []),
        position=group.position,
        plans=[_plan(plan) for plan in group.selling_plans],
        product_ids=product_ids,
        created_at=group.created_at,
        updated_at=group.updated_at,
    )


async def _group_read(session: SessionDep, group: SellingPlanGroup) -> GroupRead:
    products = await service.product_ids(session, [group.id])
    return _group(group, products[group.id])


@router.get("", response_model=Page[GroupRead])
async def list_selling_plan_groups(
    _subject: SellingPlansRead,
    session: SessionDep,
    page: PageQuery,
    product_id: Annotated[int | None, Query(alias="productId", ge=1)] = None,
) -> Page[GroupRead]:
    """By id, with their plans and the products offering them; `productId`: only the groups
    that product offers. `page`/`pageSize`, or `cursor`; `withTotal=true` adds totalCount."""
    found = await service.list_groups(session, page, product_id=product_id)
    products = await service.product_ids(session, [g.id for g in found.rows])
    return Page[GroupRead](
        items=[_group(g, products[g.id]) for g in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@router.post("", status_code=201, response_model=GroupRead)
@idempotent
async def create_selling_plan_group(
    data: GroupCreate, subject: SellingPlansWrite, session: SessionDep
) -> Response:
    """A group with its plans (`plans`, up to 31), each with its billing, delivery and
    pricing policies."""
    group = await service.create_group(session, subject, data)
    return model_response(
        _group(group, []),
        status_code=201,
        headers={"Location": f"/api/v1/selling-plan-groups/{group.id}"},
    )


@router.get("/{group_id}", response_model=GroupRead)
async def get_selling_plan_group(
    group_id: int, _subject: SellingPlansRead, session: SessionDep
) -> GroupRead:
    return await _group_read(session, await service.get_group(session, group_id))


@router.put("/{group_id}", response_model=GroupRead)
async def update_selling_plan_group(
    group_id: int, data: GroupUpdate, subject: SellingPlansWrite, session: SessionDep
) -> GroupRead:
    """The group's own fields; its plans change through /plans."""
    return await _group_read(session, await service.update_group(session, subject, group_id, data))


@router.delete("/{group_id}", status_code=204)
async def delete_selling_plan_group(
    group_id: int, subject: SellingPlansWrite, session: SessionDep
) -> Response:
    """With its plans (409 SELLING_PLAN_IN_USE while live contracts bill through them)."""
    await service.delete_group(session, subject, group_id)
    return Response(status_code=204)


@router.post("/{group_id}/plans", status_code=201, response_model=PlanRead)
async def create_selling_plan(
    group_id: int, data: PlanCreate, subject: SellingPlansWrite, session: SessionDep
) -> PlanRead:
    """A plan added to the group, offered by the products the group already has."""
    return _plan(await service.add_plan(session, subject, group_id, data))


@router.put("/{group_id}/plans/{plan_id}", response_model=PlanRead)
async def update_selling_plan(
    group_id: int,
    plan_id: int,
    data: PlanUpdate,
    subject: SellingPlansWrite,
    session: SessionDep,
) -> PlanRead:
    return _plan(await service.update_plan(session, subject, group_id, plan_id, data))


@router.delete("/{group_id}/plans/{plan_id}", status_code=204)
async def delete_selling_plan(
    group_id: int, plan_id: int, subject: SellingPlansWrite, session: SessionDep
) -> Response:
    await service.delete_plan(session, subject, group_id, plan_id)
    return Response(status_code=204)


@router.post("/{group_id}/products", response_model=GroupRead)
async def attach_selling_plan_group_products(
    group_id: int, data: GroupProducts, subject: SellingPlansWrite, session: SessionDep
) -> GroupRead:
    """The products offer every plan of the group (already offered: unchanged)."""
    group = await service.attach_products(session, subject, group_id, data.product_ids)
    return await _group_read(session, group)


@router.delete("/{group_id}/products", response_model=GroupRead)
async def detach_selling_plan_group_products(
    group_id: int, data: GroupProducts, subject: SellingPlansWrite, session: SessionDep
) -> GroupRead:
    """The products no longer offer the group's plans (409 SELLING_PLAN_IN_USE while live
    contracts bill them through it)."""
    group = await service.detach_products(session, subject, group_id, data.product_ids)
    return await _group_read(session, group)


# --- subscription contracts ----------------------------------------------------------------


@contracts_router.get("", response_model=Page[ContractRead])
async def list_subscription_contracts(
    _subject: SellingPlansRead,
    session: SessionDep,
    services: ServicesDep,
    page: PageQuery,
    status: ContractStatus | None = None,
    customer_id: Annotated[int | None, Query(alias="customerId", ge=1)] = None,
) -> Page[ContractRead]:
    """By id; filter by `status` and `customerId`; `page`/`pageSize`, or `cursor`."""
    found = await contracts.list_contracts(session, page, status=status, customer_id=customer_id)
    cipher = field_cipher(services.settings)
    return Page[ContractRead](
        items=[contracts.contract_read(cipher, c) for c in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@contracts_router.get("/{contract_id}", response_model=ContractRead)
async def get_subscription_contract(
    contract_id: int, _subject: SellingPlansRead, session: SessionDep, services: ServicesDep
) -> ContractRead:
    contract = await contracts.get_contract(session, contract_id)
    return contracts.contract_read(field_cipher(services.settings), contract)


@contracts_router.post("/{contract_id}/pause", response_model=ContractRead)
async def pause_subscription_contract(
    contract_id: int, subject: SellingPlansWrite, session: SessionDep, services: ServicesDep
) -> ContractRead:
    """active -> paused: not billed until resumed (409 INVALID_CONTRACT_STATUS otherwise)."""
    contract = await contracts.pause_contract(session, subject, contract_id)
    return contracts.contract_read(field_cipher(services.settings), contract)


@contracts_router.post("/{contract_id}/resume", response_model=ContractRead)
async def resume_subscription_contract(
    contract_id: int, subject: SellingPlansWrite, session: SessionDep, services: ServicesDep
) -> ContractRead:
    """paused -> active: its cycle is billed again from scratch, at once if overdue."""
    contract = await contracts.resume_contract(session, subject, contract_id)
    return contracts.contract_read(field_cipher(services.settings), contract)


@contracts_router.post("/{contract_id}/cancel", response_model=ContractRead)
async def cancel_subscription_contract(
    contract_id: int, subject: SellingPlansWrite, session: SessionDep, services: ServicesDep
) -> ContractRead:
    """active or paused -> cancelled, for good."""
    contract = await contracts.cancel_contract(session, subject, contract_id)
    return contracts.contract_read(field_cipher(services.settings), contract)


@contracts_router.put("/{contract_id}/payment-method", response_model=ContractRead)
async def update_subscription_payment_method(
    contract_id: int,
    data: PaymentMethodUpdate,
    subject: SellingPlansWrite,
    session: SessionDep,
    services: ServicesDep,
) -> ContractRead:
    """Save another payment method (sealed; never read back): a gateway token, or a Stripe
    customer and payment method."""
    cipher = field_cipher(services.settings)
    contract = await contracts.update_payment_method(session, cipher, subject, contract_id, data)
    return contracts.contract_read(cipher, contract)
