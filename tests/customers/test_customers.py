from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.models import Customer, Event, User
from shopdb.services import services_of
from tests.auth.helpers import bearer, make_user
from tests.customers.conftest import CUSTOMERS, create_customer
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent


async def _live_customers(session: AsyncSession) -> int:
    return int(
        await session.scalar(select(func.count(Customer.id)).where(Customer.deleted_at.is_(None)))
        or 0
    )


async def _events(session: AsyncSession, topic: str, customer_id: int) -> list[Event]:
    result = await session.scalars(
        select(Event)
        .where(Event.topic == topic, Event.subject_type == "Customer")
        .where(Event.subject_id == customer_id)
        .order_by(Event.id)
    )
    return list(result)


class TestCreate:
    async def test_creates_a_customer_with_tags_and_a_default_address(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(
            CUSTOMERS,
            json={
                "email": "  Ava.Smith@Example.COM ",
                "firstName": "Ava",
                "lastName": "Smith",
                "phone": "+1 555 010 9999",
                "tags": ["vip", " newsletter ", "vip"],
                "addresses": [
                    {"address1": "1 Main St", "city": "Portland", "country": "US"},
                    {"address1": "2 Side St", "city": "Salem", "country": "US"},
                ],
            },
            headers=headers,
        )

        assert response.status_code == 201
        body = response.json()
        assert response.headers["etag"] == '"1"'
        assert response.headers["location"] == f"{CUSTOMERS}/{body['id']}"
        assert body["email"] == "ava.smith@example.com"
        assert body["phone"] == "+1 555 010 9999"
        assert body["state"] == "enabled"
        never_asked = {"state": "not_subscribed", "optInLevel": None, "consentUpdatedAt": None}
        assert body["emailMarketingConsent"] == never_asked
        assert body["smsMarketingConsent"] == never_asked
        assert (body["taxExempt"], body["taxExemptions"]) == (False, [])
        assert "acceptsMarketing" not in body
        assert body["tags"] == ["newsletter", "vip"]
        assert [a["isDefault"] for a in body["addresses"]] == [True, False]
        assert body["defaultAddress"]["address1"] == "1 Main St"
        assert body["groupIds"] == []

    async def test_refuses_a_duplicate_email_in_any_case(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        await create_customer(client, headers, email="dup@example.com")
        before = await _live_customers(db_session)

        response = await client.post(CUSTOMERS, json={"email": "DUP@Example.com "}, headers=headers)

        assert response.status_code == 409
        assert response.json()["code"] == "EMAIL_TAKEN"
        assert response.json()["details"] == [
            {"field": "email", "message": "is already used by another customer"}
        ]
        assert await _live_customers(db_session) == before

    async def test_refuses_invalid_customers(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        address = {"city": "X", "country": "US"}
        cases: dict[str, tuple[dict[str, Any], str]] = {
            "email": ({"email": "not an email"}, "email"),
            "no email": ({}, "email"),
            "accepts marketing": (
                {"email": "a@example.com", "acceptsMarketing": True},
                "acceptsMarketing",
            ),
            "phone": ({"email": "a@example.com", "phone": "call me"}, "phone"),
            "blank tag": ({"email": "a@example.com", "tags": [" "]}, "tags"),
            "address": (
                {"email": "a@example.com", "addresses": [address]},
                "addresses[0].address1",
            ),
            "extra field": ({"email": "a@example.com", "emailHash": "x"}, "emailHash"),
        }
        before = await _live_customers(db_session)

        answers = {}
        for case, (body, _field) in cases.items():
            response = await client.post(CUSTOMERS, json=body, headers=headers)
            answers[case] = (response.status_code, [d["field"] for d in response.json()["details"]])

        assert answers == {case: (400, [field]) for case, (_body, field) in cases.items()}
        assert await _live_customers(db_session) == before

    async def test_refuses_two_default_addresses(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        address = {"address1": "1 Main St", "city": "Portland", "country": "US", "isDefault": True}

        response = await client.post(
            CUSTOMERS,
            json={"email": "two@example.com", "addresses": [address, address]},
            headers=headers,
        )

        assert response.status_code == 400
        assert await _live_customers(db_session) == 0

    async def test_records_the_creation(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        clerk: User,
    ) -> None:
        created = await create_customer(client, headers, email="event@example.com")

        (recorded,) = await _events(db_session, "customers/create", created["id"])

        assert recorded.actor == f"user:{clerk.id}"
        assert "event@example.com" not in str(recorded.body)


class TestRead:
    async def test_returns_the_customer_with_an_etag_and_records_the_access(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        clerk: User,
    ) -> None:
        created = await create_customer(client, headers, firstName="Mia")

        response = await client.get(f"{CUSTOMERS}/{created['id']}", headers=headers)

        assert response.status_code == 200
        assert response.headers["etag"] == '"1"'
        assert response.json() == created
        accesses = await _events(db_session, "customers/data_access", created["id"])
        # One for the creation's answer, one for this read.
        assert len(accesses) == 2
        last = accesses[-1]
        assert last.actor == f"user:{clerk.id}"
        assert last.subject == f"Customer {created['id']}"
        assert last.body["via"] == f"GET {CUSTOMERS}/{created['id']}"

    async def test_an_api_key_read_is_recorded_against_the_key(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        clerk: User,
    ) -> None:
        from tests.auth.helpers import make_api_key

        created = await create_customer(client, headers)
        key, secret = await make_api_key(db_session, clerk, ["customers:read"])

        await client.get(f"{CUSTOMERS}/{created['id']}", headers={"X-API-Key": secret})

        accesses = await _events(db_session, "customers/data_access", created["id"])
        assert accesses[-1].actor == f"api_key:{key.id}"

    async def test_a_read_that_is_refused_records_nothing(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        created = await create_customer(client, headers)
        outsider = await make_user(db_session, permissions=["orders:read"])
        before = len(await _events(db_session, "customers/data_access", created["id"]))

        response = await client.get(f"{CUSTOMERS}/{created['id']}", headers=bearer(app, outsider))

        assert response.status_code == 403
        assert len(await _events(db_session, "customers/data_access", created["id"])) == before

    async def test_unknown_customer(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.get(f"{CUSTOMERS}/999999", headers=headers)

        assert response.status_code == 404


class TestUpdate:
    async def test_changes_the_fields_sent_and_bumps_the_etag(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(
            client, headers, firstName="Old", lastName="Name", tags=["a", "b"]
        )

        response = await client.put(
            f"{CUSTOMERS}/{created['id']}",
            json={"firstName": "New", "tags": ["b", "c"], "phone": "+44 20 7946 0000"},
            headers={**headers, "If-Match": '"1"'},
        )

        body = response.json()
        assert response.status_code == 200
        assert response.headers["etag"] == '"2"'
        assert (body["firstName"], body["lastName"]) == ("New", "Name")
        assert body["tags"] == ["b", "c"]
        assert body["phone"] == "+44 20 7946 0000"
        assert body["email"] == created["email"]

    async def test_a_stale_if_match_is_refused_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers, firstName="Kept")
        await client.put(f"{CUSTOMERS}/{created['id']}", json={"note": "v2"}, headers=headers)

        response = await client.put(
            f"{CUSTOMERS}/{created['id']}",
            json={"firstName": "Lost"},
            headers={**headers, "If-Match": '"1"'},
        )

        assert response.status_code == 412
        assert response.json()["code"] == "PRECONDITION_FAILED"
        current = await client.get(f"{CUSTOMERS}/{created['id']}", headers=headers)
        assert current.json()["firstName"] == "Kept"
        assert current.headers["etag"] == '"2"'

    async def test_accepted_if_match_forms(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)
        path = f"{CUSTOMERS}/{created['id']}"
        answers = []

        for version, if_match in enumerate(['"1"', 'W/"2"', "*", '"7", "4"'], start=1):
            response = await client.put(
                path, json={"note": f"v{version}"}, headers={**headers, "If-Match": if_match}
            )
            answers.append((response.status_code, response.headers.get("etag")))

        assert answers == [(200, '"2"'), (200, '"3"'), (200, '"4"'), (200, '"5"')]

    async def test_refuses_another_customers_email(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        await create_customer(client, headers, email="first@example.com")
        second = await create_customer(client, headers, email="second@example.com")

        response = await client.put(
            f"{CUSTOMERS}/{second['id']}", json={"email": "FIRST@example.com"}, headers=headers
        )

        assert response.status_code == 409
        assert response.json()["code"] == "EMAIL_TAKEN"
        assert [d["field"] for d in response.json()["details"]] == ["email"]
        current = await client.get(f"{CUSTOMERS}/{second['id']}", headers=headers)
        assert current.json()["email"] == "second@example.com"

    async def test_changing_the_case_of_ones_own_email_is_allowed(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers, email="self@example.com")

        response = await client.put(
            f"{CUSTOMERS}/{created['id']}", json={"email": "SELF@example.com"}, headers=headers
        )

        assert response.status_code == 200
        assert response.json()["email"] == "self@example.com"

    async def test_refuses_null_for_required_fields(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)

        response = await client.put(
            f"{CUSTOMERS}/{created['id']}", json={"email": None}, headers=headers
        )

        assert response.status_code == 400

    async def test_records_which_fields_changed_without_their_values(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers)

        await client.put(
            f"{CUSTOMERS}/{created['id']}",
            json={"email": "changed@example.com", "taxExempt": True},
            headers=headers,
        )

        (recorded,) = await _events(db_session, "customers/update", created["id"])
        assert recorded.body == {"id": created["id"], "changed": ["email", "taxExempt"]}


class TestSoftDelete:
    async def test_hides_the_customer_and_frees_the_email(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(client, headers, email="leaving@example.com")

        response = await client.delete(f"{CUSTOMERS}/{created['id']}", headers=headers)

        assert response.status_code == 204
        assert (
            await client.get(f"{CUSTOMERS}/{created['id']}", headers=headers)
        ).status_code == 404
        listed = await client.get(
            CUSTOMERS, params={"email": "leaving@example.com"}, headers=headers
        )
        assert listed.json()["items"] == []
        row = await db_session.get(Customer, created["id"])
        assert row is not None
        assert row.deleted_at is not None
        assert len(await _events(db_session, "customers/delete", created["id"])) == 1
        again = await create_customer(client, headers, email="leaving@example.com")
        assert again["id"] != created["id"]

    async def test_a_stale_if_match_keeps_the_customer(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_customer(client, headers)

        response = await client.delete(
            f"{CUSTOMERS}/{created['id']}", headers={**headers, "If-Match": '"9"'}
        )

        assert response.status_code == 412
        assert (
            await client.get(f"{CUSTOMERS}/{created['id']}", headers=headers)
        ).status_code == 200

    async def test_deleting_twice(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        created = await create_customer(client, headers)
        await client.delete(f"{CUSTOMERS}/{created['id']}", headers=headers)

        response = await client.delete(f"{CUSTOMERS}/{created['id']}", headers=headers)

        assert response.status_code == 404


class TestEncryptedAtRest:
    async def test_no_plaintext_email_or_phone_in_any_table_the_customer_touches(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_customer(
            client,
            headers,
            email="secret.person@example.com",
            phone="+1 555 123 4567",
            addresses=[
                {
                    "address1": "1 Main St",
                    "city": "Portland",
                    "country": "US",
                    "phone": "+1 555 765 4321",
                }
            ],
        )
        await client.get(f"{CUSTOMERS}/{created['id']}", headers=headers)
        await client.put(
            f"{CUSTOMERS}/{created['id']}", json={"phone": "+1 555 000 1111"}, headers=headers
        )
        plaintexts = ["secret.person", "555 123 4567", "555 765 4321", "555 000 1111", "5551234567"]

        dumps = []
        for table in ("customers", "customer_addresses", "events"):
            rows = (await db_session.execute(text(f"SELECT * FROM {table}"))).all()
            dumps.append(" ".join(str(value) for row in rows for value in row).lower())

        assert all(p not in dump for p in plaintexts for dump in dumps)
        raw = (
            await db_session.execute(
                text("SELECT email, phone, email_hash FROM customers WHERE id = :id"),
                {"id": created["id"]},
            )
        ).one()
        assert raw.email.startswith("v1:")
        assert raw.phone.startswith("v1:")
        assert len(raw.email_hash) == 64
        address_phone = await db_session.scalar(
            text("SELECT phone FROM customer_addresses WHERE customer_id = :id"),
            {"id": created["id"]},
        )
        assert address_phone.startswith("v1:")


class TestNeedsTheCustomerPermissions:
    @pytest.mark.parametrize(
        ("permissions", "expected"),
        [
            ([], {"list": 403, "get": 403, "create": 403, "update": 403, "delete": 403}),
            (
                ["customers:read"],
                {"list": 200, "get": 200, "create": 403, "update": 403, "delete": 403},
            ),
            (
                ["customers:write"],
                {"list": 403, "get": 403, "create": 403, "update": 403, "delete": 204},
            ),
        ],
        ids=["none", "read", "write-only"],
    )
    async def test_matrix(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        permissions: list[str],
        expected: dict[str, int],
    ) -> None:
        created = await create_customer(client, headers)
        user = await make_user(db_session, permissions=permissions)
        auth = bearer(app, user)
        path = f"{CUSTOMERS}/{created['id']}"

        answers = {
            "list": (await client.get(CUSTOMERS, headers=auth)).status_code,
            "get": (await client.get(path, headers=auth)).status_code,
            "create": (
                await client.post(CUSTOMERS, json={"email": "m@example.com"}, headers=auth)
            ).status_code,
            "update": (await client.put(path, json={"note": "x"}, headers=auth)).status_code,
            "delete": (await client.delete(path, headers=auth)).status_code,
        }

        assert answers == expected


TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")


class TestListQueryCount:
    async def test_a_page_costs_the_same_number_of_queries_whatever_its_size(
        self,
        app: FastAPI,
        backend: Backend,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
    ) -> None:
        from shopdb.auth.access import AccessCache
        from shopdb.models import CustomerGroup

        # The caller's standing is read once and kept for the whole test, however slow it runs.
        services_of(app).access_cache = AccessCache(3600)

        group = CustomerGroup(name="Wholesale", memberships=[])
        db_session.add(group)
        await db_session.flush()
        for i in range(12):
            created = await create_customer(
                client, headers, tags=[f"t{i}", "all"], phone="+1 555 0000"
            )
            await client.put(
                f"/api/v1/customer-groups/{group.id}/customers/{created['id']}", headers=headers
            )
        await client.get(CUSTOMERS, params={"pageSize": 1}, headers=headers)  # warm the caches

        with statements_sent(backend.engine) as small:
            small_page = await client.get(CUSTOMERS, params={"pageSize": 2}, headers=headers)
        with statements_sent(backend.engine) as large:
            large_page = await client.get(CUSTOMERS, params={"pageSize": 12}, headers=headers)

        assert len(small_page.json()["items"]) == 2
        assert len(large_page.json()["items"]) == 12
        assert all(item["groupIds"] == [group.id] for item in large_page.json()["items"])
        assert len(small) == len(large)
        data = [s for s in large if not s.upper().startswith(TRANSACTION_CONTROL)]
        # page (no count unless withTotal), its tags, its memberships, then the access events
        # in one batch (flushed by the next query), then the orders' one GROUP BY
        assert [s.split()[0].upper() for s in data] == ["SELECT"] * 3 + ["INSERT", "SELECT"]
        assert "INTO events" in data[-2]
        assert "FROM orders" in data[-1]
