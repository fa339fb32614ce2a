"""Identical concurrent PUTs of a group membership all succeed (PostgreSQL, committed sessions)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from shopdb.auth.dependencies import Subject
from shopdb.customers import groups
from shopdb.db import Database
from shopdb.models import Customer, CustomerGroup, CustomerGroupMembership, Event

pytestmark = pytest.mark.postgres_only

ACTOR = Subject("user", 1, frozenset({"customers:write"}))


async def a_group_and_a_customer(database: Database) -> tuple[int, int]:
    run = uuid.uuid4().hex[:8]
    async with database.session() as session:
        group = CustomerGroup(name=f"Race {run}", memberships=[])
        customer = Customer(
            email=f"sealed-{run}",  # never decrypted here: any unique text will do
            email_hash=f"hash-{run}",
            tag_rows=[],
            addresses=[],
            group_memberships=[],
        )
        session.add_all([group, customer])
        await session.flush()
        return group.id, customer.id


async def test_racing_identical_puts_all_succeed_and_add_once(live_postgres: Database) -> None:
    group_id, customer_id = await a_group_and_a_customer(live_postgres)
    start = asyncio.Event()

    async def put() -> bool:
        async with live_postgres.session() as session:
            await start.wait()  # all twelve start together
            return await groups.add_member(session, ACTOR, group_id, customer_id)

    racing = [asyncio.create_task(put()) for _ in range(12)]
    await asyncio.sleep(0.05)
    start.set()
    outcomes = await asyncio.gather(*racing, return_exceptions=True)

    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert outcomes.count(True) == 1  # exactly one of them added it
    async with live_postgres.session() as session:
        memberships = await session.scalar(
            select(func.count(CustomerGroupMembership.id)).where(
                CustomerGroupMembership.customer_group_id == group_id
            )
        )
        events = await session.scalar(
            select(func.count(Event.id)).where(
                Event.topic == "customer_groups/member_add", Event.subject_id == group_id
            )
        )
        version = await session.scalar(select(Customer.version).where(Customer.id == customer_id))
    assert (memberships, events, version) == (1, 1, 2)
