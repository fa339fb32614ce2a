from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import CustomerGroup, CustomerGroupMembership, Event
from tests.auth.helpers import bearer, make_user
from tests.customers.conftest import CUSTOMERS, GROUPS, create_customer
from tests.kit.api_pages import read_all, walk_pages


async def _group(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post(GROUPS, json={"name": "Wholesale", **fields}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def _group_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(CustomerGroup.id))) or 0)


class TestGroups:
    async def test_creates_reads_and_lists_groups(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await _group(
            client, headers, description="Trade accounts", discountPercentage="12.5"
        )
        await _group(client, headers, name="Alpha")

        shown = await client.get(f"{GROUPS}/{created['id']}", headers=headers)
        listed = await client.get(GROUPS, headers=headers)

        assert created["discountPercentage"] == "12.50"
        assert created["memberCount"] == 0
        assert shown.json() == created
        assert [g["name"] for g in listed.json()["items"]] == ["Alpha", "Wholesale"]
        assert listed.json()["totalCount"] is None
        counted = await client.get(GROUPS, params={"withTotal": "true"}, headers=headers)
        assert counted.json()["totalCount"] == 2

    async def test_cursor_pages_walk_every_group_by_name(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        for name in ["delta", "Alpha", "charlie", "Bravo", "echo"]:
            await _group(client, headers, name=name)

        walked = await walk_pages(client, GROUPS, headers)
        whole = await read_all(client, GROUPS, headers)

        assert [g["name"] for g in walked] == [g["name"] for g in whole["items"]]
        assert whole["totalCount"] == 5
        assert sorted(g["name"] for g in walked) == sorted(
            ["delta", "Alpha", "charlie", "Bravo", "echo"]
        )

    async def test_refuses_a_duplicate_name_in_any_case(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        await _group(client, headers)
        before = await _group_count(db_session)

        response = await client.post(GROUPS, json={"name": "WHOLESALE"}, headers=headers)

        assert response.status_code == 409
        assert response.json()["code"] == "GROUP_NAME_TAKEN"
        assert response.json()["details"] == [
            {"field": "name", "message": "is already used by another group (in any case)"}
        ]
        assert await _group_count(db_session) == before

    async def test_refuses_invalid_groups(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        bodies: list[dict[str, Any]] = [
            {"name": ""},
            {"name": "X", "discountPercentage": "101"},
            {"name": "X", "discountPercentage": "-1"},
            {"name": "X", "discountPercentage": "1.234"},
        ]

        answers = [(await client.post(GROUPS, json=b, headers=headers)).status_code for b in bodies]

        assert answers == [400, 400, 400, 400]
        assert await _group_count(db_session) == 0

    async def test_updates_and_refuses_a_taken_name(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        first = await _group(client, headers)
        second = await _group(client, headers, name="Retail")

        renamed = await client.put(
            f"{GROUPS}/{second['id']}",
            json={"name": "Retail VIP", "discountPercentage": "5"},
            headers=headers,
        )
        clash = await client.put(
            f"{GROUPS}/{second['id']}", json={"name": "wholesale"}, headers=headers
        )

        assert renamed.status_code == 200
        assert (renamed.json()["name"], renamed.json()["discountPercentage"]) == (
            "Retail VIP",
            "5.00",
        )
        assert clash.status_code == 409
        assert clash.json()["code"] == "GROUP_NAME_TAKEN"
        assert [d["field"] for d in clash.json()["details"]] == ["name"]
        assert (await client.get(f"{GROUPS}/{first['id']}", headers=headers)).json()[
            "name"
        ] == "Wholesale"

    async def test_deleting_a_group_ends_its_memberships(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        group = await _group(client, headers)
        customer = await create_customer(client, headers)
        await client.put(f"{GROUPS}/{group['id']}/customers/{customer['id']}", headers=headers)

        response = await client.delete(f"{GROUPS}/{group['id']}", headers=headers)

        assert response.status_code == 204
        assert (await client.get(f"{GROUPS}/{group['id']}", headers=headers)).status_code == 404
        memberships = await db_session.scalar(
            select(func.count(CustomerGroupMembership.id)).where(
                CustomerGroupMembership.customer_id == customer["id"]
            )
        )
        assert memberships == 0
        detail = (await client.get(f"{CUSTOMERS}/{customer['id']}", headers=headers)).json()
        assert detail["groupIds"] == []


class TestMembership:
    async def test_adds_members_once_and_lists_them(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        group = await _group(client, headers)
        first = await create_customer(client, headers)
        second = await create_customer(client, headers)

        answers = [
            (
                await client.put(f"{GROUPS}/{group['id']}/customers/{c['id']}", headers=headers)
            ).status_code
            for c in (first, second, first)
        ]
        members = (await client.get(f"{GROUPS}/{group['id']}/customers", headers=headers)).json()
        shown = (await client.get(f"{GROUPS}/{group['id']}", headers=headers)).json()

        assert answers == [204, 204, 204]
        assert [m["customerId"] for m in members["items"]] == [first["id"], second["id"]]
        assert members["totalCount"] is None
        assert members["nextCursor"] is None
        counted = await read_all(client, f"{GROUPS}/{group['id']}/customers", headers)
        assert counted["totalCount"] == 2
        assert shown["memberCount"] == 2
        detail = await client.get(f"{CUSTOMERS}/{first['id']}", headers=headers)
        assert detail.json()["groupIds"] == [group["id"]]
        assert detail.headers["etag"] == '"2"'
        added = await db_session.scalar(
            select(func.count(Event.id)).where(Event.topic == "customer_groups/member_add")
        )
        assert added == 2

    async def test_cursor_pages_walk_every_live_member(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        group = await _group(client, headers)
        members = [await create_customer(client, headers) for _ in range(5)]
        for customer in members:
            await client.put(f"{GROUPS}/{group['id']}/customers/{customer['id']}", headers=headers)
        await client.delete(f"{CUSTOMERS}/{members[2]['id']}", headers=headers)

        walked = await walk_pages(client, f"{GROUPS}/{group['id']}/customers", headers)

        live = [c["id"] for i, c in enumerate(members) if i != 2]
        assert [m["customerId"] for m in walked] == sorted(live)

    async def test_removes_a_member(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        group = await _group(client, headers)
        customer = await create_customer(client, headers)
        path = f"{GROUPS}/{group['id']}/customers/{customer['id']}"
        await client.put(path, headers=headers)

        removed = await client.delete(path, headers=headers)
        again = await client.delete(path, headers=headers)

        assert (removed.status_code, again.status_code) == (204, 404)
        assert (await client.get(f"{GROUPS}/{group['id']}", headers=headers)).json()[
            "memberCount"
        ] == 0

    async def test_unknown_or_deleted_customers_cannot_join(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        group = await _group(client, headers)
        gone = await create_customer(client, headers)
        await client.delete(f"{CUSTOMERS}/{gone['id']}", headers=headers)

        unknown = await client.put(f"{GROUPS}/{group['id']}/customers/999999", headers=headers)
        deleted = await client.put(
            f"{GROUPS}/{group['id']}/customers/{gone['id']}", headers=headers
        )
        no_group = await client.put(f"{GROUPS}/999999/customers/{gone['id']}", headers=headers)

        assert (unknown.status_code, deleted.status_code, no_group.status_code) == (404, 404, 404)
        count = await db_session.scalar(select(func.count(CustomerGroupMembership.id)))
        assert count == 0

    async def test_soft_deleted_members_are_not_counted(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        group = await _group(client, headers)
        customer = await create_customer(client, headers)
        await client.put(f"{GROUPS}/{group['id']}/customers/{customer['id']}", headers=headers)

        await client.delete(f"{CUSTOMERS}/{customer['id']}", headers=headers)

        shown = (await client.get(f"{GROUPS}/{group['id']}", headers=headers)).json()
        members = (await client.get(f"{GROUPS}/{group['id']}/customers", headers=headers)).json()
        assert (shown["memberCount"], members["items"]) == (0, [])


class TestGroupPermissions:
    async def test_reading_needs_read_and_changing_needs_write(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        group = await _group(client, headers)
        reader = bearer(app, await make_user(db_session, permissions=["customers:read"]))
        writer = bearer(app, await make_user(db_session, permissions=["customers:write"]))

        assert (await client.get(GROUPS, headers=reader)).status_code == 200
        assert (await client.get(GROUPS, headers=writer)).status_code == 403
        assert (await client.post(GROUPS, json={"name": "R"}, headers=reader)).status_code == 403
        assert (await client.post(GROUPS, json={"name": "W"}, headers=writer)).status_code == 201
        assert (await client.delete(f"{GROUPS}/{group['id']}", headers=reader)).status_code == 403
        assert await _group_count(db_session) == 2
