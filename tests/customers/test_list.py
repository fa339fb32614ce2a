from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Event
from tests.customers.conftest import CUSTOMERS, GROUPS, create_customer


async def _ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[int]:
    response = await client.get(CUSTOMERS, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


@pytest.fixture
async def people(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, int]:
    specs: dict[str, dict[str, Any]] = {
        "ava": {
            "email": "ava@example.com",
            "firstName": "Ava",
            "lastName": "Smith",
            "tags": ["vip"],
        },
        "liam": {
            "email": "liam@example.com",
            "firstName": "Liam",
            "lastName": "Smithers",
        },
        "mia": {
            "email": "mia@example.com",
            "firstName": "Mia",
            "lastName": "Jones",
            "tags": ["vip", "new"],
        },
        "noah": {"email": "Noah@Example.com", "firstName": "Noah"},
        "pct": {"email": "pct@example.com", "firstName": "100%", "lastName": "Under_score"},
    }
    ids = {
        name: (await create_customer(client, headers, **spec))["id"] for name, spec in specs.items()
    }
    # `state` changes through the account actions only: Liam disabled, Noah invited.
    for name, actions in (("liam", ["disable"]), ("noah", ["disable", "invite"])):
        for action in actions:
            answer = await client.post(f"{CUSTOMERS}/{ids[name]}/{action}", headers=headers)
            assert answer.status_code == 200, answer.text
    return ids


class TestFilters:
    async def test_email_is_an_exact_match_in_any_case(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        assert await _ids(client, headers, email="NOAH@example.COM") == [people["noah"]]
        assert await _ids(client, headers, email="noah@example") == []
        assert await _ids(client, headers, email="oah@example.com") == []

    async def test_state(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        assert await _ids(client, headers, state="disabled") == [people["liam"]]
        assert await _ids(client, headers, state="declined") == []

    async def test_tag(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        assert await _ids(client, headers, tag="vip") == [people["ava"], people["mia"]]
        assert await _ids(client, headers, tag="new") == [people["mia"]]

    async def test_q_matches_every_word_against_first_or_last_name(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        assert await _ids(client, headers, q="smith") == [people["ava"], people["liam"]]
        assert await _ids(client, headers, q="SMITHERS") == [people["liam"]]
        assert await _ids(client, headers, q="ava smi") == [people["ava"]]
        assert await _ids(client, headers, q="ava jones") == []

    async def test_q_treats_like_wildcards_literally(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        assert await _ids(client, headers, q="%") == [people["pct"]]
        assert await _ids(client, headers, q="r_s") == [people["pct"]]

    async def test_group(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        people: dict[str, int],
    ) -> None:
        group = (await client.post(GROUPS, json={"name": "Wholesale"}, headers=headers)).json()
        for name in ("mia", "ava"):
            await client.put(f"{GROUPS}/{group['id']}/customers/{people[name]}", headers=headers)

        assert await _ids(client, headers, groupId=group["id"]) == [people["ava"], people["mia"]]

    async def test_filters_combine(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        assert await _ids(client, headers, tag="vip", q="jones") == [people["mia"]]
        assert await _ids(client, headers, tag="vip", state="disabled") == []

    async def test_soft_deleted_customers_are_left_out(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        await client.delete(f"{CUSTOMERS}/{people['ava']}", headers=headers)

        assert await _ids(client, headers, tag="vip") == [people["mia"]]
        assert await _ids(client, headers, email="ava@example.com") == []


class TestSortingAndPages:
    async def test_sorts_by_a_field_in_either_direction_with_blanks_last(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        ascending = await _ids(client, headers, sortBy="lastName", sortDirection="asc")
        descending = await _ids(client, headers, sortBy="lastName", sortDirection="desc")

        by_name = ["mia", "ava", "liam", "pct", "noah"]  # Jones, Smith, Smithers, Under_score, -
        assert ascending == [people[n] for n in by_name]
        assert descending == [people[n] for n in ["pct", "liam", "ava", "mia", "noah"]]

    async def test_default_order_is_by_id(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        assert await _ids(client, headers) == sorted(people.values())
        assert await _ids(client, headers, sortDirection="desc") == sorted(
            people.values(), reverse=True
        )

    async def test_pages_carry_the_total(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        response = await client.get(CUSTOMERS, params={"page": 2, "pageSize": 2}, headers=headers)

        body = response.json()
        assert body["totalCount"] == 5
        assert (body["page"], body["pageSize"]) == (2, 2)
        assert [c["id"] for c in body["items"]] == sorted(people.values())[2:4]
        beyond = await client.get(CUSTOMERS, params={"page": 9, "pageSize": 2}, headers=headers)
        assert beyond.json()["items"] == []
        assert beyond.json()["totalCount"] == 5

    async def test_items_show_decrypted_email_and_phone(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_customer(client, headers, email="Shown@Example.com", phone="+1 555 222 3333")

        (item,) = (await client.get(CUSTOMERS, headers=headers)).json()["items"]

        assert item["email"] == "shown@example.com"
        assert item["phone"] == "+1 555 222 3333"

    async def test_refuses_invalid_parameters(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"sortBy": "email"}, "sortBy"),
            ({"sortDirection": "up"}, "sortDirection"),
            ({"pageSize": 0}, "pageSize"),
            ({"pageSize": 251}, "pageSize"),
            ({"page": 0}, "page"),
            ({"state": "gone"}, "state"),
            ({"groupId": "x"}, "groupId"),
        ]

        answers = []
        for params, _field in cases:
            response = await client.get(CUSTOMERS, params=params, headers=headers)
            answers.append((response.status_code, [d["field"] for d in response.json()["details"]]))

        assert answers == [(400, [field]) for _params, field in cases]


class TestListIsAudited:
    async def test_records_one_access_per_customer_shown(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        people: dict[str, int],
    ) -> None:
        before = await db_session.scalar(
            select(func.count(Event.id)).where(Event.topic == "customers/data_access")
        )

        await client.get(CUSTOMERS, params={"tag": "vip"}, headers=headers)

        rows = (
            await db_session.execute(
                select(Event.subject_id, Event.actor, Event.verb)
                .where(Event.topic == "customers/data_access")
                .order_by(Event.id)
                .offset(before)
            )
        ).all()
        assert sorted(r.subject_id for r in rows) == [people["ava"], people["mia"]]
        assert {(r.actor, r.verb) for r in rows} == {(rows[0].actor, "data_access")}
        assert rows[0].actor.startswith("user:")
