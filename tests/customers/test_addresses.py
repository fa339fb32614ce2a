from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.app import create_app
from shopdb.db import Database
from shopdb.models import CustomerAddress
from shopdb.services import services_of
from tests.auth.helpers import bearer, make_user
from tests.customers.conftest import CUSTOMERS, create_customer
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services

ADDRESS = {"address1": "1 Main St", "city": "Portland", "country": "US"}


def _address(**fields: Any) -> dict[str, Any]:
    return {**ADDRESS, **fields}


async def _defaults(session: AsyncSession, customer_id: int) -> list[int]:
    result = await session.scalars(
        select(CustomerAddress.id)
        .where(CustomerAddress.customer_id == customer_id, CustomerAddress.is_default)
        .order_by(CustomerAddress.id)
    )
    return list(result)


async def _add(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: int, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{CUSTOMERS}/{customer_id}/addresses", json=_address(**fields), headers=headers
    )
    assert response.status_code == 201, response.text
    added: dict[str, Any] = response.json()
    return added


@pytest.fixture
async def customer(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    return await create_customer(client, headers)


class TestExactlyOneDefault:
    async def test_the_first_address_becomes_the_default(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        customer: dict[str, Any],
    ) -> None:
        first = await _add(client, headers, customer["id"], phone="+1 555 444 5555")
        second = await _add(client, headers, customer["id"], address1="2 Side St")

        assert first["isDefault"] is True
        assert first["phone"] == "+1 555 444 5555"
        assert second["isDefault"] is False
        assert await _defaults(db_session, customer["id"]) == [first["id"]]

    async def test_a_new_default_unsets_the_old_one(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        customer: dict[str, Any],
    ) -> None:
        await _add(client, headers, customer["id"])

        newer = await _add(client, headers, customer["id"], address1="2 Side St", isDefault=True)

        assert newer["isDefault"] is True
        assert await _defaults(db_session, customer["id"]) == [newer["id"]]

    @pytest.mark.parametrize("how", ["put-field", "default-endpoint"])
    async def test_moving_the_default_to_another_address(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        customer: dict[str, Any],
        how: str,
    ) -> None:
        first = await _add(client, headers, customer["id"])
        second = await _add(client, headers, customer["id"], address1="2 Side St")
        path = f"{CUSTOMERS}/{customer['id']}/addresses/{second['id']}"

        if how == "put-field":
            response = await client.put(path, json={"isDefault": True}, headers=headers)
        else:
            response = await client.put(f"{path}/default", headers=headers)

        assert response.status_code == 200
        assert response.json()["isDefault"] is True
        assert await _defaults(db_session, customer["id"]) == [second["id"]]
        listed = await client.get(f"{CUSTOMERS}/{customer['id']}/addresses", headers=headers)
        assert [(a["id"], a["isDefault"]) for a in listed.json()] == [
            (first["id"], False),
            (second["id"], True),
        ]

    async def test_the_default_cannot_simply_be_switched_off(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        customer: dict[str, Any],
    ) -> None:
        only = await _add(client, headers, customer["id"])

        response = await client.put(
            f"{CUSTOMERS}/{customer['id']}/addresses/{only['id']}",
            json={"isDefault": False},
            headers=headers,
        )

        assert response.status_code == 400
        assert response.json()["code"] == "DEFAULT_ADDRESS_REQUIRED"
        assert [d["field"] for d in response.json()["details"]] == ["isDefault"]
        assert await _defaults(db_session, customer["id"]) == [only["id"]]

    async def test_deleting_the_default_promotes_the_oldest_remaining(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        customer: dict[str, Any],
    ) -> None:
        first = await _add(client, headers, customer["id"])
        second = await _add(client, headers, customer["id"], address1="2")
        third = await _add(client, headers, customer["id"], address1="3", isDefault=True)

        response = await client.delete(
            f"{CUSTOMERS}/{customer['id']}/addresses/{third['id']}", headers=headers
        )

        assert response.status_code == 204
        assert await _defaults(db_session, customer["id"]) == [first["id"]]
        await client.delete(
            f"{CUSTOMERS}/{customer['id']}/addresses/{first['id']}", headers=headers
        )
        assert await _defaults(db_session, customer["id"]) == [second["id"]]

    async def test_deleting_the_last_address_leaves_none(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        customer: dict[str, Any],
    ) -> None:
        only = await _add(client, headers, customer["id"])

        await client.delete(f"{CUSTOMERS}/{customer['id']}/addresses/{only['id']}", headers=headers)

        count = await db_session.scalar(
            select(func.count(CustomerAddress.id)).where(
                CustomerAddress.customer_id == customer["id"]
            )
        )
        assert count == 0
        detail = (await client.get(f"{CUSTOMERS}/{customer['id']}", headers=headers)).json()
        assert (detail["addresses"], detail["defaultAddress"]) == ([], None)

    async def test_deleting_another_address_keeps_the_default(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        customer: dict[str, Any],
    ) -> None:
        first = await _add(client, headers, customer["id"])
        second = await _add(client, headers, customer["id"], address1="2")

        await client.delete(
            f"{CUSTOMERS}/{customer['id']}/addresses/{second['id']}", headers=headers
        )

        assert await _defaults(db_session, customer["id"]) == [first["id"]]


class TestAddressChanges:
    async def test_updates_the_fields_sent_and_reencrypts_the_phone(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        customer: dict[str, Any],
    ) -> None:
        added = await _add(client, headers, customer["id"], phone="+1 555 100 2000")

        response = await client.put(
            f"{CUSTOMERS}/{customer['id']}/addresses/{added['id']}",
            json={"city": "Eugene", "phone": "+1 555 300 4000"},
            headers=headers,
        )

        body = response.json()
        assert (body["city"], body["address1"], body["phone"]) == (
            "Eugene",
            "1 Main St",
            "+1 555 300 4000",
        )
        raw = await db_session.scalar(
            text("SELECT phone FROM customer_addresses WHERE id = :id"), {"id": added["id"]}
        )
        assert raw.startswith("v1:")
        assert "300 4000" not in raw

    async def test_each_change_gives_the_customer_a_new_etag(
        self, client: httpx.AsyncClient, headers: dict[str, str], customer: dict[str, Any]
    ) -> None:
        path = f"{CUSTOMERS}/{customer['id']}"
        added = await _add(client, headers, customer["id"])
        after_add = (await client.get(path, headers=headers)).headers["etag"]
        await client.put(f"{path}/addresses/{added['id']}", json={"zip": "97204"}, headers=headers)
        after_update = (await client.get(path, headers=headers)).headers["etag"]
        await client.delete(f"{path}/addresses/{added['id']}", headers=headers)
        after_delete = (await client.get(path, headers=headers)).headers["etag"]

        assert [after_add, after_update, after_delete] == ['"2"', '"3"', '"4"']

    async def test_another_customers_address_is_not_found(
        self, client: httpx.AsyncClient, headers: dict[str, str], customer: dict[str, Any]
    ) -> None:
        other = await create_customer(client, headers)
        theirs = await _add(client, headers, other["id"])
        path = f"{CUSTOMERS}/{customer['id']}/addresses/{theirs['id']}"

        answers = [
            (await client.get(path, headers=headers)).status_code,
            (await client.put(path, json={"city": "X"}, headers=headers)).status_code,
            (await client.delete(path, headers=headers)).status_code,
        ]

        assert answers == [404, 404, 404]

    async def test_a_deleted_customer_has_no_addresses_to_change(
        self, client: httpx.AsyncClient, headers: dict[str, str], customer: dict[str, Any]
    ) -> None:
        await client.delete(f"{CUSTOMERS}/{customer['id']}", headers=headers)

        response = await client.post(
            f"{CUSTOMERS}/{customer['id']}/addresses", json=ADDRESS, headers=headers
        )

        assert response.status_code == 404

    async def test_refuses_nulls_for_required_fields(
        self, client: httpx.AsyncClient, headers: dict[str, str], customer: dict[str, Any]
    ) -> None:
        added = await _add(client, headers, customer["id"])

        response = await client.put(
            f"{CUSTOMERS}/{customer['id']}/addresses/{added['id']}",
            json={"city": None},
            headers=headers,
        )

        assert response.status_code == 400
        assert response.json()["details"][0]["field"] == "city"


@pytest.fixture
def committing_app(backend: Backend, request: pytest.FixtureRequest) -> FastAPI:
    """An app on its own PostgreSQL database, where every request really commits."""
    if backend.name != "postgresql":
        pytest.skip("needs real concurrent transactions")
    live: Database = request.getfixturevalue("live_postgres")
    application = create_app(backend.settings)
    use_services(application, live)
    return application


@pytest.mark.postgres_only
class TestConcurrentDefaults:
    async def test_racing_requests_leave_exactly_one_default(self, committing_app: FastAPI) -> None:
        database: Database = services_of(committing_app).database
        async with database.session() as session:
            clerk = await make_user(session, permissions=["customers:read", "customers:write"])
        headers = bearer(committing_app, clerk)
        transport = httpx.ASGITransport(app=committing_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            customer = await create_customer(client, headers)
            addresses = [
                await _add(client, headers, customer["id"], address1=str(i)) for i in range(6)
            ]

            answers = await asyncio.gather(
                *(
                    client.put(
                        f"{CUSTOMERS}/{customer['id']}/addresses/{a['id']}/default",
                        headers=headers,
                    )
                    for a in addresses[1:]
                )
            )

        assert {r.status_code for r in answers} == {200}
        async with database.session() as session:
            defaults = await _defaults(session, customer["id"])
        assert len(defaults) == 1
        assert defaults[0] in {a["id"] for a in addresses[1:]}
