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

    async def test_pages_carry_no_total_unless_asked(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        response = await client.get(CUSTOMERS, params={"page": 2, "pageSize": 2}, headers=headers)

        body = response.json()
        assert body["totalCount"] is None
        assert (body["page"], body["pageSize"]) == (2, 2)
        assert [c["id"] for c in body["items"]] == sorted(people.values())[2:4]
        assert body["nextCursor"] is not None

    async def test_with_total_counts_every_match(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> None:
        params: dict[str, str | int] = {"page": 2, "pageSize": 2, "withTotal": "true"}
        response = await client.get(CUSTOMERS, params=params, headers=headers)

        assert response.json()["totalCount"] == 5
        beyond = await client.get(CUSTOMERS, params={**params, "page": 9}, headers=headers)
        assert beyond.json()["items"] == []
        assert beyond.json()["totalCount"] == 5
        assert beyond.json()["nextCursor"] is None
        vip = await client.get(
            CUSTOMERS, params={"tag": "vip", "withTotal": "true"}, headers=headers
        )
        assert vip.json()["totalCount"] == 2

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


async def _walk(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[int]:
    """Every id of the list, pageSize 2, page after page by nextCursor."""
    seen: list[int] = []
    cursor = None
    for _ in range(50):
        query = {**params, "pageSize": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get(CUSTOMERS, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["totalCount"] is None
        seen.extend(item["id"] for item in body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return seen
    raise AssertionError("the walk does not end")


class TestCursorPages:
    @pytest.fixture
    async def crowd(
        self, client: httpx.AsyncClient, headers: dict[str, str], people: dict[str, int]
    ) -> list[int]:
        """People plus ties on every name and more blank names (blanks sort last)."""
        for first, last in [("Ava", "Smith"), (None, "Smith"), ("Zoe", None), (None, None)]:
            fields = {k: v for k, v in (("firstName", first), ("lastName", last)) if v}
            await create_customer(client, headers, **fields)
        return await _ids(client, headers, pageSize=250)

    @pytest.mark.parametrize(
        "sort_by", ["id", "createdAt", "updatedAt", "firstName", "lastName", "state"]
    )
    @pytest.mark.parametrize("direction", ["asc", "desc"])
    async def test_walk_every_customer_once_in_the_offset_order(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        crowd: list[int],
        sort_by: str,
        direction: str,
    ) -> None:
        params = {"sortBy": sort_by, "sortDirection": direction}
        whole = await _ids(client, headers, pageSize=250, **params)

        walked = await _walk(client, headers, **params)

        assert sorted(whole) == sorted(crowd)
        assert walked == whole

    async def test_walk_keeps_the_filters(
        self, client: httpx.AsyncClient, headers: dict[str, str], crowd: list[int]
    ) -> None:
        params = {"q": "smi", "sortBy": "firstName", "sortDirection": "desc"}
        whole = await _ids(client, headers, pageSize=250, **params)

        assert len(whole) == 4  # Ava Smith twice, Liam Smithers, a Smith with no first name
        assert await _walk(client, headers, **params) == whole

    async def test_a_cursor_of_another_sort_is_refused(
        self, client: httpx.AsyncClient, headers: dict[str, str], crowd: list[int]
    ) -> None:
        first = await client.get(
            CUSTOMERS, params={"sortBy": "lastName", "pageSize": 2}, headers=headers
        )
        cursor = first.json()["nextCursor"]

        response = await client.get(
            CUSTOMERS, params={"sortBy": "firstName", "cursor": cursor}, headers=headers
        )

        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["cursor"]

    async def test_offset_pages_stop_at_the_depth_and_point_to_the_cursor(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.get(
            CUSTOMERS, params={"page": 41, "pageSize": 250}, headers=headers
        )

        assert response.status_code == 400
        (detail,) = response.json()["details"]
        assert detail["field"] == "page"
        assert "cursor" in detail["message"]
