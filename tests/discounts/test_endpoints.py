"""/api/v1/discount-codes over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.types import utcnow
from shopdb.models import DiscountCode, Event
from tests.auth.helpers import bearer, make_user
from tests.discounts.conftest import CODES, create_code
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent


async def _codes(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(DiscountCode.id))) or 0)


async def _events(session: AsyncSession, topic: str, code_id: int) -> list[Event]:
    found = await session.scalars(
        select(Event)
        .where(Event.topic == topic, Event.subject_type == "DiscountCode")
        .where(Event.subject_id == code_id)
        .order_by(Event.id)
    )
    return list(found)


def _iso(delta: timedelta) -> str:
    return (utcnow() + delta).isoformat()


def _problem(response: httpx.Response) -> tuple[int, str, list[str]]:
    body = response.json()
    return response.status_code, body["code"], [d["field"] for d in body["details"]]


class TestCreate:
    async def test_creates_a_percentage_code_with_its_etag_and_event(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        response = await client.post(
            CODES,
            json={
                "code": "Summer25",
                "type": "percentage",
                "value": 25,
                "minimumAmount": "50.00",
                "usageLimit": 100,
                "endsAt": _iso(timedelta(days=30)),
            },
            headers=headers,
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"{CODES}/{body['id']}"
        assert (body["code"], body["type"], body["value"]) == ("Summer25", "percentage", "25.00")
        assert (body["minimumAmount"], body["usageLimit"], body["usedCount"]) == ("50.00", 100, 0)
        assert (body["status"], body["currency"], body["startsAt"]) == ("active", None, None)
        [event] = await _events(db_session, "discounts/create", body["id"])
        assert event.body["code"] == "Summer25"

    async def test_a_fixed_amount_needs_a_currency_and_free_shipping_stores_zero(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        fixed = await create_code(
            client, headers, code="TENOFF", type="fixed_amount", value="10.00", currency="eur"
        )
        shipping = await create_code(
            client, headers, code="SHIPFREE", type="free_shipping", value=None
        )

        assert (fixed["value"], fixed["currency"]) == ("10.00", "EUR")
        assert (shipping["value"], shipping["currency"]) == ("0.00", None)

    async def test_refuses_invalid_values_naming_the_field_and_creates_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        before = await _codes(db_session)
        cases: list[tuple[dict[str, Any], str]] = [
            ({"type": "percentage", "value": "100.01"}, "value"),
            ({"type": "percentage", "value": "0"}, "value"),
            ({"type": "percentage"}, "value"),
            ({"type": "fixed_amount", "value": "5"}, "currency"),
            ({"type": "fixed_amount", "value": "0", "currency": "USD"}, "value"),
            ({"type": "free_shipping", "value": "5"}, "value"),
            ({"type": "percentage", "value": "5", "usageLimit": 0}, "usageLimit"),
            ({"type": "percentage", "value": "5", "minimumAmount": "-1"}, "minimumAmount"),
            ({"type": "percentage", "value": "5", "currency": "EURO"}, "currency"),
            ({"type": "bogo", "value": "5"}, "type"),
            (
                {
                    "type": "percentage",
                    "value": "5",
                    "startsAt": _iso(timedelta(days=2)),
                    "endsAt": _iso(timedelta(days=1)),
                },
                "endsAt",
            ),
            ({"type": "percentage", "value": "5", "startsAt": "2030-01-01T00:00:00"}, "startsAt"),
            ({"type": "percentage", "value": "5", "code": ""}, "code"),
        ]
        for fields, field in cases:
            body = {"code": "BAD", **fields}
            response = await client.post(CODES, json=body, headers=headers)
            assert _problem(response) == (400, "VALIDATION_ERROR", [field]), (fields, response.text)
        assert await _codes(db_session) == before

    async def test_refuses_a_code_taken_in_any_letter_case(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        await create_code(client, headers, code="WELCOME")
        before = await _codes(db_session)

        response = await client.post(
            CODES, json={"code": "welcome", "type": "percentage", "value": 5}, headers=headers
        )

        assert _problem(response) == (409, "DISCOUNT_CODE_TAKEN", ["code"])
        assert await _codes(db_session) == before

    async def test_needs_discounts_write(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        reader = await make_user(db_session, permissions=["discounts:read"])
        response = await client.post(
            CODES,
            json={"code": "X1", "type": "percentage", "value": 5},
            headers=bearer(app, reader),
        )
        assert response.status_code == 403
        assert await _codes(db_session) == 0


class TestRead:
    async def test_reads_one_and_looks_up_by_code_in_any_case(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_code(client, headers, code="Holiday-2026")

        one = await client.get(f"{CODES}/{created['id']}", headers=headers)
        found = await client.get(
            f"{CODES}/lookup", params={"code": "hOLIDAY-2026"}, headers=headers
        )
        missed = await client.get(f"{CODES}/lookup", params={"code": "HOLIDAY"}, headers=headers)

        assert one.status_code == 200
        assert one.json() == created
        assert one.headers["etag"] == '"1"'
        assert found.status_code == 200
        assert found.json()["id"] == created["id"]
        assert _problem(missed) == (404, "NOT_FOUND", ["code"])

    async def test_an_unknown_id_is_404(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.get(f"{CODES}/987654", headers=headers)
        assert response.status_code == 404


class TestList:
    async def test_filters_by_prefix_type_and_status(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        active = await create_code(client, headers, code="SPRING10")
        scheduled = await create_code(
            client, headers, code="SPRING20", value=20, startsAt=_iso(timedelta(days=3))
        )
        expired = await create_code(
            client,
            headers,
            code="winter5",
            type="fixed_amount",
            value=5,
            currency="USD",
            startsAt=_iso(timedelta(days=-10)),
            endsAt=_iso(timedelta(days=-1)),
        )

        async def ids(**params: Any) -> list[int]:
            response = await client.get(CODES, params=params, headers=headers)
            assert response.status_code == 200, response.text
            return [item["id"] for item in response.json()["items"]]

        assert await ids() == [active["id"], scheduled["id"], expired["id"]]
        assert await ids(code="spring") == [active["id"], scheduled["id"]]
        assert await ids(code="SPRING_") == []  # wildcards are literal
        assert await ids(type="fixed_amount") == [expired["id"]]
        assert await ids(status="active") == [active["id"]]
        assert await ids(status="scheduled") == [scheduled["id"]]
        assert await ids(status="expired") == [expired["id"]]
        assert (scheduled["status"], expired["status"]) == ("scheduled", "expired")
        paged = await client.get(
            CODES, params={"page": 2, "pageSize": 2, "withTotal": "true"}, headers=headers
        )
        assert paged.json()["totalCount"] == 3
        assert [i["id"] for i in paged.json()["items"]] == [expired["id"]]

    async def test_pages_by_cursor_and_counts_only_when_asked(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        made = [(await create_code(client, headers, code=f"CUR{n}"))["id"] for n in range(5)]

        first = (await client.get(CODES, params={"pageSize": 2}, headers=headers)).json()
        second = (
            await client.get(
                CODES, params={"pageSize": 2, "cursor": first["nextCursor"]}, headers=headers
            )
        ).json()
        last = (
            await client.get(
                CODES, params={"pageSize": 2, "cursor": second["nextCursor"]}, headers=headers
            )
        ).json()
        forged = await client.get(CODES, params={"cursor": "nonsense"}, headers=headers)

        assert first["totalCount"] is None
        assert [i["id"] for i in first["items"] + second["items"] + last["items"]] == made
        assert last["nextCursor"] is None
        assert _problem(forged) == (400, "VALIDATION_ERROR", ["cursor"])

    async def test_a_page_costs_the_same_statements_whatever_its_size(
        self, backend: Backend, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        for n in range(12):
            await create_code(client, headers, code=f"BULK{n}")
        await client.get(CODES, params={"pageSize": 1}, headers=headers)  # warm the caches

        with statements_sent(backend.engine, first_word=True) as small:
            await client.get(CODES, params={"pageSize": 2}, headers=headers)
        with statements_sent(backend.engine, first_word=True) as large:
            page = await client.get(CODES, params={"pageSize": 12}, headers=headers)

        assert len(page.json()["items"]) == 12
        assert small == large
        assert [s for s in large if s == "SELECT"] == ["SELECT"]  # the page; no count unasked


class TestUpdate:
    async def test_updates_with_a_matching_etag_and_records_what_changed(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_code(client, headers, code="FALL")

        response = await client.put(
            f"{CODES}/{created['id']}",
            json={"value": "15", "usageLimit": 5, "code": "Fall-15"},
            headers={**headers, "If-Match": '"1"'},
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["code"], body["value"], body["usageLimit"]) == ("Fall-15", "15.00", 5)
        assert (body["version"], response.headers["etag"]) == (2, '"2"')
        [event] = await _events(db_session, "discounts/update", created["id"])
        assert event.body["changed"] == ["code", "usageLimit", "value"]

    async def test_a_stale_etag_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_code(client, headers, code="STALE")
        await client.put(f"{CODES}/{created['id']}", json={"value": 11}, headers=headers)

        response = await client.put(
            f"{CODES}/{created['id']}", json={"value": 12}, headers={**headers, "If-Match": '"1"'}
        )

        assert response.status_code == 412
        assert response.headers["etag"] == '"2"'
        after = await client.get(f"{CODES}/{created['id']}", headers=headers)
        assert (after.json()["value"], after.json()["version"]) == ("11.00", 2)

    async def test_an_update_that_changes_nothing_writes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_code(client, headers, code="SAME")

        response = await client.put(
            f"{CODES}/{created['id']}", json={"value": "10.00", "code": "SAME"}, headers=headers
        )

        assert response.json()["version"] == 1
        assert await _events(db_session, "discounts/update", created["id"]) == []

    async def test_the_rules_hold_on_the_code_as_it_would_be(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_code(client, headers, code="RULES", startsAt=_iso(timedelta(days=1)))
        await create_code(client, headers, code="OTHER")
        url = f"{CODES}/{created['id']}"

        to_fixed = await client.put(url, json={"type": "fixed_amount"}, headers=headers)
        to_fixed_no_currency = await client.put(
            url, json={"type": "fixed_amount", "value": 5}, headers=headers
        )
        ends_first = await client.put(
            url, json={"endsAt": _iso(timedelta(hours=1))}, headers=headers
        )
        taken = await client.put(url, json={"code": "other"}, headers=headers)
        null_type = await client.put(url, json={"type": None}, headers=headers)

        assert _problem(to_fixed) == (400, "VALIDATION_ERROR", ["value"])
        assert _problem(to_fixed_no_currency) == (400, "VALIDATION_ERROR", ["currency"])
        assert _problem(ends_first) == (400, "VALIDATION_ERROR", ["endsAt"])
        assert _problem(taken) == (409, "DISCOUNT_CODE_TAKEN", ["code"])
        assert _problem(null_type) == (400, "VALIDATION_ERROR", ["type"])
        unchanged = await client.get(url, headers=headers)
        assert unchanged.json() == created

    async def test_the_usage_limit_cannot_go_below_the_uses_made(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_code(client, headers, code="USED", usageLimit=10)
        code = await db_session.get(DiscountCode, created["id"])
        assert code is not None
        code.used_count = 3
        await db_session.flush()

        below = await client.put(
            f"{CODES}/{created['id']}", json={"usageLimit": 2}, headers=headers
        )
        at = await client.put(f"{CODES}/{created['id']}", json={"usageLimit": 3}, headers=headers)

        assert _problem(below) == (409, "DISCOUNT_USAGE_LIMIT_BELOW_USES", ["usageLimit"])
        assert (at.status_code, at.json()["usageLimit"], at.json()["usedCount"]) == (200, 3, 3)

    async def test_used_count_is_read_only(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_code(client, headers, code="RO")

        response = await client.put(
            f"{CODES}/{created['id']}", json={**created, "usedCount": 99}, headers=headers
        )

        assert response.status_code == 200, response.text
        assert (response.json()["usedCount"], response.json()["version"]) == (0, 1)


class TestDelete:
    async def test_soft_deletes_and_keeps_the_code_reserved(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_code(client, headers, code="GONE")

        stale = await client.delete(
            f"{CODES}/{created['id']}", headers={**headers, "If-Match": '"7"'}
        )
        deleted = await client.delete(
            f"{CODES}/{created['id']}", headers={**headers, "If-Match": '"1"'}
        )
        again = await client.get(f"{CODES}/{created['id']}", headers=headers)
        lookup = await client.get(f"{CODES}/lookup", params={"code": "gone"}, headers=headers)
        listed = await client.get(CODES, headers=headers)
        reuse = await client.post(
            CODES, json={"code": "GONE", "type": "percentage", "value": 5}, headers=headers
        )

        assert stale.status_code == 412
        assert deleted.status_code == 204
        assert again.status_code == 404
        assert lookup.status_code == 404
        assert listed.json()["items"] == []
        assert _problem(reuse) == (409, "DISCOUNT_CODE_TAKEN", ["code"])
        row = await db_session.get(DiscountCode, created["id"])
        assert row is not None
        assert row.deleted_at is not None
        [event] = await _events(db_session, "discounts/delete", created["id"])
        assert event.body == {"id": created["id"], "code": "GONE"}


class TestIdempotentCreate:
    async def test_a_retry_with_the_same_key_replays_the_first_answer(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        keyed = {**headers, "Idempotency-Key": "create-once"}
        body = {"code": "ONCE", "type": "percentage", "value": Decimal("5").to_eng_string()}

        first = await client.post(CODES, json=body, headers=keyed)
        second = await client.post(CODES, json=body, headers=keyed)

        assert (first.status_code, second.status_code) == (201, 201)
        assert second.json() == first.json()
        assert second.headers.get("idempotent-replayed") == "true"
        assert await _codes(db_session) == 1
