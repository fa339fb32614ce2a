"""/api/v1/data-retention-policies: CRUD, one policy per entity type (409), the entity types
and deletion policies a retention run supports (400 naming the field)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.compliance.targets import TARGETS
from shopdb.models import DataRetentionPolicy, Event
from tests.compliance.conftest import POLICIES, create_policy


async def policies(db_session: AsyncSession) -> list[tuple[str, int, str]]:
    rows = await db_session.execute(
        select(
            DataRetentionPolicy.entity_type,
            DataRetentionPolicy.retention_period_days,
            DataRetentionPolicy.deletion_policy,
        ).order_by(DataRetentionPolicy.id)
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]


def fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["details"]]


class TestCreate:
    async def test_creates_and_reads_a_policy(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_policy(
            client,
            headers,
            entityType="orders",
            retentionPeriodDays=2555,
            deletionPolicy="archive",
            archivePolicy="vault/orders",
            autoDeleteEnabled=True,
        )

        assert created["entityType"] == "orders"
        assert created["retentionPeriodDays"] == 2555
        assert created["archivePolicy"] == "vault/orders"
        assert created["autoDeleteEnabled"] is True
        assert created["lastCleanupDate"] is None
        one = await client.get(f"{POLICIES}/{created['id']}", headers=headers)
        assert one.json() == created
        events = await db_session.scalar(
            select(func.count(Event.id)).where(
                Event.topic == "data_retention_policies/create", Event.subject_id == created["id"]
            )
        )
        assert events == 1

    async def test_disabled_by_default(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_policy(client, headers)
        assert created["autoDeleteEnabled"] is False

    async def test_a_second_policy_for_a_type_is_409_and_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        first = await create_policy(client, headers, entityType="checkouts")

        response = await client.post(
            POLICIES,
            json={
                "entityType": "checkouts",
                "retentionPeriodDays": 1,
                "deletionPolicy": "archive",
            },
            headers=headers,
        )

        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "RETENTION_POLICY_EXISTS"
        assert f"policy {first['id']}" in body["message"]
        assert fields(response) == ["entityType"]
        assert await policies(db_session) == [("checkouts", 30, "hard_delete")]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"entityType": "products"}, "entityType"),
            ({"deletionPolicy": "shred"}, "deletionPolicy"),
            ({"retentionPeriodDays": 0}, "retentionPeriodDays"),
            ({"retentionPeriodDays": -5}, "retentionPeriodDays"),
            ({"retentionPeriodDays": 36_501}, "retentionPeriodDays"),
            ({"archivePolicy": "../etc"}, "archivePolicy"),
            ({"lastCleanupDateX": "x"}, "lastCleanupDateX"),
        ],
    )
    async def test_invalid_fields_are_400_naming_them(
        self,
        client: httpx.AsyncClient,
        headers: dict[str, str],
        db_session: AsyncSession,
        change: dict[str, Any],
        field: str,
    ) -> None:
        body = {"entityType": "events", "retentionPeriodDays": 30, "deletionPolicy": "hard_delete"}
        response = await client.post(POLICIES, json={**body, **change}, headers=headers)

        assert response.status_code == 400, response.text
        assert fields(response) == [field]
        assert await policies(db_session) == []

    async def test_soft_delete_of_a_type_without_deleted_at_is_400(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        response = await client.post(
            POLICIES,
            json={
                "entityType": "events",
                "retentionPeriodDays": 30,
                "deletionPolicy": "soft_delete",
            },
            headers=headers,
        )

        assert response.status_code == 400
        assert response.json()["code"] == "DELETION_POLICY_NOT_SUPPORTED"
        assert fields(response) == ["deletionPolicy"]
        assert "hard_delete, archive" in response.json()["details"][0]["message"]
        assert await policies(db_session) == []


class TestUpdateAndDelete:
    async def test_updates_only_what_is_sent(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_policy(client, headers, entityType="orders")

        response = await client.put(
            f"{POLICIES}/{created['id']}",
            json={"deletionPolicy": "soft_delete", "autoDeleteEnabled": True},
            headers=headers,
        )

        assert response.status_code == 200, response.text
        updated = response.json()
        assert (updated["deletionPolicy"], updated["autoDeleteEnabled"]) == ("soft_delete", True)
        assert updated["retentionPeriodDays"] == created["retentionPeriodDays"]

    async def test_moving_onto_a_taken_type_is_409(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        await create_policy(client, headers, entityType="events")
        other = await create_policy(client, headers, entityType="checkouts")

        response = await client.put(
            f"{POLICIES}/{other['id']}", json={"entityType": "events"}, headers=headers
        )

        assert response.status_code == 409
        assert response.json()["code"] == "RETENTION_POLICY_EXISTS"
        assert [p[0] for p in await policies(db_session)] == ["events", "checkouts"]

    async def test_a_policy_no_longer_allowed_after_a_type_change_is_400(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_policy(
            client, headers, entityType="customers", deletionPolicy="soft_delete"
        )

        response = await client.put(
            f"{POLICIES}/{created['id']}", json={"entityType": "events"}, headers=headers
        )
        nulled = await client.put(
            f"{POLICIES}/{created['id']}", json={"retentionPeriodDays": None}, headers=headers
        )

        assert response.status_code == 400
        assert fields(response) == ["deletionPolicy"]
        assert nulled.status_code == 400
        assert fields(nulled) == ["retentionPeriodDays"]
        assert await policies(db_session) == [("customers", 30, "soft_delete")]

    async def test_delete_then_the_type_is_free_again(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_policy(client, headers)

        deleted = await client.delete(f"{POLICIES}/{created['id']}", headers=headers)
        missing = await client.get(f"{POLICIES}/{created['id']}", headers=headers)
        again = await create_policy(client, headers)

        assert (deleted.status_code, missing.status_code) == (204, 404)
        assert again["entityType"] == "events"


class TestLists:
    async def test_lists_policies_and_the_supported_types(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        first = await create_policy(client, headers, entityType="events")
        second = await create_policy(client, headers, entityType="orders")

        listed = await client.get(POLICIES, params={"withTotal": "true"}, headers=headers)
        types = await client.get(f"{POLICIES}/entity-types", headers=headers)

        assert [p["id"] for p in listed.json()["items"]] == [first["id"], second["id"]]
        assert listed.json()["totalCount"] == 2
        assert [t["entityType"] for t in types.json()] == list(TARGETS)
        by_type = {t["entityType"]: t["deletionPolicies"] for t in types.json()}
        assert by_type["events"] == ["hard_delete", "archive"]
        assert by_type["orders"] == ["soft_delete", "hard_delete", "archive"]


class TestIdempotency:
    async def test_a_retried_create_with_its_key_replays_the_first_answer(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        keyed = {**headers, "Idempotency-Key": "policy-once"}
        body = {"entityType": "orders", "retentionPeriodDays": 400, "deletionPolicy": "archive"}

        first = await client.post(POLICIES, json=body, headers=keyed)
        retried = await client.post(POLICIES, json=body, headers=keyed)

        assert (first.status_code, retried.status_code) == (201, 201)
        assert retried.json() == first.json()
        assert await policies(db_session) == [("orders", 400, "archive")]
