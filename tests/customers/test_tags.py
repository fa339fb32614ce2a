"""Customer tags are unique in any letter case (as products' are); the tag filter ignores case."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import CustomerTag
from tests.customers.conftest import CUSTOMERS, create_customer


async def _stored(session: AsyncSession, customer_id: int) -> list[str]:
    rows = await session.scalars(
        select(CustomerTag.tag)
        .where(CustomerTag.customer_id == customer_id)
        .order_by(CustomerTag.id)
    )
    return list(rows)


class TestOneTagInAnyCase:
    async def test_the_first_spelling_is_kept_on_create(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers, tags=["VIP", "vip", " Vip ", "new"])

        assert created["tags"] == ["VIP", "new"]
        assert sorted(await _stored(db_session, created["id"])) == ["VIP", "new"]

    async def test_and_on_update(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers, tags=["old"])

        response = await client.put(
            f"{CUSTOMERS}/{created['id']}", json={"tags": ["Gold", "GOLD", "gold"]}, headers=headers
        )

        assert response.status_code == 200
        assert response.json()["tags"] == ["Gold"]
        assert await _stored(db_session, created["id"]) == ["Gold"]

    async def test_a_replacement_may_change_a_tags_case(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers, tags=["vip", "kept"])

        response = await client.put(
            f"{CUSTOMERS}/{created['id']}", json={"tags": ["kept", "VIP"]}, headers=headers
        )

        assert response.json()["tags"] == ["VIP", "kept"]
        assert sorted(await _stored(db_session, created["id"])) == ["VIP", "kept"]


class TestFilter:
    async def test_matches_in_any_case(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        upper = await create_customer(client, headers, tags=["VIP"])
        lower = await create_customer(client, headers, tags=["vip", "other"])
        await create_customer(client, headers, tags=["vipish"])

        answers = {}
        for tag in ("vip", "VIP", "Vip", "vi"):
            response = await client.get(CUSTOMERS, params={"tag": tag}, headers=headers)
            answers[tag] = [item["id"] for item in response.json()["items"]]

        both = [upper["id"], lower["id"]]
        assert answers == {"vip": both, "VIP": both, "Vip": both, "vi": []}

    async def test_like_wildcards_in_a_tag_are_literal(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_customer(client, headers, tags=["vip"])
        percent = await create_customer(client, headers, tags=["50%"])

        response = await client.get(CUSTOMERS, params={"tag": "50%"}, headers=headers)
        nothing = await client.get(CUSTOMERS, params={"tag": "%"}, headers=headers)

        assert [item["id"] for item in response.json()["items"]] == [percent["id"]]
        assert nothing.json()["items"] == []
