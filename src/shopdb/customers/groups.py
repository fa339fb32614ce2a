"""Customer groups (segments with an optional discount) and who belongs to them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers.repository import CustomerGroupRepository, CustomerRepository
from shopdb.errors import Conflict, NotFound, ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.types import round_money, utcnow
from shopdb.models import CustomerGroup, CustomerGroupMembership


async def get_group(session: AsyncSession, group_id: int) -> tuple[CustomerGroup, int]:
    repository = CustomerGroupRepository(session)
    group = await repository.get(group_id)
    if group is None:
        raise NotFound.resource("Customer group", group_id)
    counts = await repository.member_counts([group.id])
    return group, counts.get(group.id, 0)


async def list_groups(
    session: AsyncSession, *, page: int, page_size: int
) -> tuple[list[tuple[CustomerGroup, int]], int]:
    repository = CustomerGroupRepository(session)
    groups, total = await repository.page(offset=(page - 1) * page_size, limit=page_size)
    counts = await repository.member_counts([g.id for g in groups])
    return [(g, counts.get(g.id, 0)) for g in groups], total


def _event(session: AsyncSession, actor: Subject, group_id: int, verb: str, **body: Any) -> None:
    record_event(
        session,
        topic=f"customer_groups/{verb}",
        subject_type="CustomerGroup",
        subject_id=group_id,
        body={"id": group_id, **body},
        actor=actor.principal,
    )


async def create_group(
    session: AsyncSession,
    actor: Subject,
    *,
    name: str,
    description: str | None,
    discount_percentage: Decimal,
) -> tuple[CustomerGroup, int]:
    repository = CustomerGroupRepository(session)
    if await repository.name_taken(name):
        raise Conflict(f"A customer group named {name!r} already exists")
    group = await repository.add(
        CustomerGroup(
            name=name,
            description=description,
            discount_percentage=round_money(discount_percentage),
            memberships=[],
        )
    )
    _event(session, actor, group.id, "create", name=name)
    return group, 0


async def update_group(
    session: AsyncSession, actor: Subject, group_id: int, changes: dict[str, Any]
) -> tuple[CustomerGroup, int]:
    group, members = await get_group(session, group_id)
    if "name" in changes:
        if changes["name"] is None:
            raise ValidationFailed.on("name", "must not be null")
        if await CustomerGroupRepository(session).name_taken(changes["name"], except_id=group.id):
            raise Conflict(f"A customer group named {changes['name']!r} already exists")
    if changes.get("discount_percentage") is not None:
        changes["discount_percentage"] = round_money(changes["discount_percentage"])
    for field, value in changes.items():
        setattr(group, field, value)
    group.updated_at = utcnow()
    await session.flush()
    _event(session, actor, group.id, "update", changed=sorted(changes))
    return group, members


async def delete_group(session: AsyncSession, actor: Subject, group_id: int) -> None:
    group, _members = await get_group(session, group_id)
    await CustomerGroupRepository(session).delete(group.id)
    _event(session, actor, group_id, "delete", name=group.name)


async def add_member(
    session: AsyncSession, actor: Subject, group_id: int, customer_id: int
) -> CustomerGroupMembership:
    """Idempotent: adding a member twice keeps the first membership."""
    await get_group(session, group_id)
    repository = CustomerGroupRepository(session)
    membership = await repository.membership(group_id, customer_id)
    if membership is None:
        # The customer's groupIds change, so does its version (ETag); also proves it is live.
        if not await CustomerRepository(session).touch(customer_id, utcnow()):
            raise NotFound.resource("Customer", customer_id)
        membership = CustomerGroupMembership(customer_group_id=group_id, customer_id=customer_id)
        await repository.add_membership(membership)
        _event(session, actor, group_id, "member_add", customerId=customer_id)
    return membership


async def remove_member(
    session: AsyncSession, actor: Subject, group_id: int, customer_id: int
) -> None:
    await get_group(session, group_id)
    if not await CustomerGroupRepository(session).remove_membership(group_id, customer_id):
        raise NotFound(f"Customer {customer_id} is not a member of group {group_id}")
    await CustomerRepository(session).touch(customer_id, utcnow())
    _event(session, actor, group_id, "member_remove", customerId=customer_id)


async def list_members(
    session: AsyncSession, group_id: int, *, page: int, page_size: int
) -> tuple[list[CustomerGroupMembership], int]:
    await get_group(session, group_id)
    return await CustomerGroupRepository(session).members(
        group_id, offset=(page - 1) * page_size, limit=page_size
    )
