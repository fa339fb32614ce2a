"""Customer groups (segments with an optional discount) and who belongs to them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.customers.errors import (
    CustomerGroupNotFound,
    CustomerNotFound,
    GroupNameTaken,
    NotAMember,
)
from shopdb.customers.repository import CustomerGroupRepository, CustomerRepository
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import round_money, utcnow
from shopdb.models import CustomerGroup, CustomerGroupMembership


async def get_group(session: AsyncSession, group_id: int) -> tuple[CustomerGroup, int]:
    repository = CustomerGroupRepository(session)
    group = await repository.get(group_id)
    if group is None:
        raise CustomerGroupNotFound(group_id)
    counts = await repository.member_counts([group.id])
    return group, counts.get(group.id, 0)


async def list_groups(
    session: AsyncSession, request: PageRequest
) -> RowsPage[tuple[CustomerGroup, int]]:
    repository = CustomerGroupRepository(session)
    found = await repository.page(request)
    groups: list[CustomerGroup] = found.rows
    counts = await repository.member_counts([g.id for g in groups])
    return RowsPage([(g, counts.get(g.id, 0)) for g in groups], found.next_cursor, found.total)


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
        raise GroupNameTaken(name)
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
            raise GroupNameTaken(changes["name"])
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
) -> bool:
    """Idempotent, also under concurrency: every caller gets the same answer, and the first
    membership stays. True when this call added it (then the event and new version)."""
    await get_group(session, group_id)
    repository = CustomerGroupRepository(session)
    now = utcnow()
    if await repository.add_membership(group_id, customer_id, now):
        # The customer's groupIds change, so does its version (ETag). Locked after the
        # membership, as remove_member does: one order for both.
        await CustomerRepository(session).touch(customer_id, now)
        _event(session, actor, group_id, "member_add", customerId=customer_id)
        return True
    # Nothing inserted: a member already, or no live customer.
    if not await CustomerRepository(session).exists(customer_id):
        raise CustomerNotFound(customer_id)
    return False


async def remove_member(
    session: AsyncSession, actor: Subject, group_id: int, customer_id: int
) -> None:
    await get_group(session, group_id)
    if not await CustomerGroupRepository(session).remove_membership(group_id, customer_id):
        raise NotAMember(group_id, customer_id)
    await CustomerRepository(session).touch(customer_id, utcnow())
    _event(session, actor, group_id, "member_remove", customerId=customer_id)


async def list_members(
    session: AsyncSession, group_id: int, request: PageRequest
) -> RowsPage[CustomerGroupMembership]:
    await get_group(session, group_id)
    return await CustomerGroupRepository(session).members(group_id, request)
