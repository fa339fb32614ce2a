"""/api/v1/compliance-data: CRUD, the status CHECK as a 400 naming the field, the audit trail,
and the audits due (nextAuditDate passed), paged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.kit.types import utcnow
from shopdb.models import ComplianceRecord, Event
from tests.auth.helpers import bearer, make_user
from tests.compliance.conftest import RECORDS
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.kit.api_pages import walk_pages


def record_body(**fields: Any) -> dict[str, Any]:
    return {
        "entityType": "customer",
        "entityId": 42,
        "complianceType": "gdpr",
        "status": "pending",
        **fields,
    }


async def create_record(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await client.post(RECORDS, json=record_body(**fields), headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def record_count(db_session: AsyncSession) -> int:
    return int(await db_session.scalar(select(func.count(ComplianceRecord.id))) or 0)


def iso(days: float) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


class TestCreateAndRead:
    async def test_creates_reads_and_records_an_event(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        response = await client.post(
            RECORDS,
            json=record_body(
                lastAuditDate="2026-01-10T09:00:00+01:00",
                nextAuditDate="2027-01-10T08:00:00Z",
                complianceData={"dpa": "signed", "version": 3},
            ),
            headers=headers,
        )

        assert response.status_code == 201, response.text
        created = response.json()
        assert response.headers["Location"] == f"{RECORDS}/{created['id']}"
        assert created["status"] == "pending"
        assert created["lastAuditDate"].startswith("2026-01-10T08:00:00")
        assert created["complianceData"] == {"dpa": "signed", "version": 3}
        (entry,) = created["auditTrail"]
        assert entry["action"] == "create"
        assert entry["changes"]["status"] == [None, "pending"]
        one = await client.get(f"{RECORDS}/{created['id']}", headers=headers)
        assert one.json() == created
        events = await db_session.scalar(
            select(func.count(Event.id)).where(
                Event.topic == "compliance_data/create", Event.subject_id == created["id"]
            )
        )
        assert events == 1

    async def test_unknown_status_is_400_naming_the_field_and_stores_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        response = await client.post(RECORDS, json=record_body(status="bogus"), headers=headers)

        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "VALIDATION_ERROR"
        assert [d["field"] for d in body["details"]] == ["status"]
        assert "compliant" in body["details"][0]["message"]
        assert await record_count(db_session) == 0

    async def test_next_audit_before_the_last_is_400(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        response = await client.post(
            RECORDS,
            json=record_body(lastAuditDate=iso(0), nextAuditDate=iso(-1)),
            headers=headers,
        )
        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["nextAuditDate"]
        assert await record_count(db_session) == 0

    async def test_missing_fields_and_unknown_record(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.post(RECORDS, json={"status": "pending"}, headers=headers)
        missing = await client.get(f"{RECORDS}/999999", headers=headers)

        assert response.status_code == 400
        assert {d["field"] for d in response.json()["details"]} == {
            "entityType",
            "entityId",
            "complianceType",
        }
        assert (missing.status_code, missing.json()["code"]) == (404, "NOT_FOUND")


class TestUpdateAndDelete:
    async def test_a_status_change_joins_the_audit_trail(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_record(client, headers)

        changed = await client.put(
            f"{RECORDS}/{created['id']}", json={"status": "compliant"}, headers=headers
        )
        noted_only = await client.put(
            f"{RECORDS}/{created['id']}",
            json={"complianceData": {"note": "ok"}, "status": "compliant"},
            headers=headers,
        )

        assert changed.status_code == 200, changed.text
        trail = changed.json()["auditTrail"]
        assert [e["action"] for e in trail] == ["create", "update"]
        assert trail[1]["changes"] == {"status": ["pending", "compliant"]}
        assert trail[1]["actor"].startswith("user:")
        # No audited field moved: nothing added to the trail.
        assert noted_only.json()["auditTrail"] == trail
        assert noted_only.json()["complianceData"] == {"note": "ok"}

    async def test_bad_status_on_update_changes_nothing(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        created = await create_record(client, headers)

        response = await client.put(
            f"{RECORDS}/{created['id']}", json={"status": "shredded"}, headers=headers
        )
        nulled = await client.put(
            f"{RECORDS}/{created['id']}", json={"status": None}, headers=headers
        )

        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["status"]
        assert nulled.status_code == 400
        assert [d["field"] for d in nulled.json()["details"]] == ["status"]
        after = await client.get(f"{RECORDS}/{created['id']}", headers=headers)
        assert after.json() == created

    async def test_delete_then_404(
        self, client: httpx.AsyncClient, headers: dict[str, str], db_session: AsyncSession
    ) -> None:
        created = await create_record(client, headers)

        deleted = await client.delete(f"{RECORDS}/{created['id']}", headers=headers)
        again = await client.delete(f"{RECORDS}/{created['id']}", headers=headers)

        assert (deleted.status_code, again.status_code) == (204, 404)
        assert await record_count(db_session) == 0


class TestLists:
    async def test_filters_and_pages(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        first = await create_record(client, headers, status="compliant")
        second = await create_record(client, headers, entityId=7, complianceType="pci")
        third = await create_record(client, headers, status="compliant", entityType="order")

        compliant = await walk_pages(client, RECORDS, headers, {"status": "compliant"})
        pci = await client.get(RECORDS, params={"complianceType": "pci"}, headers=headers)
        entity = await client.get(
            RECORDS, params={"entityType": "customer", "entityId": 7}, headers=headers
        )
        total = await client.get(RECORDS, params={"withTotal": "true"}, headers=headers)

        assert [r["id"] for r in compliant] == [first["id"], third["id"]]
        assert [r["id"] for r in pci.json()["items"]] == [second["id"]]
        assert [r["id"] for r in entity.json()["items"]] == [second["id"]]
        assert total.json()["totalCount"] == 3

    async def test_audits_due_most_overdue_first_by_cursor(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        late = await create_record(client, headers, nextAuditDate=iso(-30))
        later = await create_record(client, headers, nextAuditDate=iso(-60))
        just = await create_record(client, headers, nextAuditDate=iso(-1), status="expired")
        await create_record(client, headers, nextAuditDate=iso(10))
        await create_record(client, headers)  # no audit planned

        due = await walk_pages(client, f"{RECORDS}/audits-due", headers, page_size=2)
        expired = await client.get(
            f"{RECORDS}/audits-due", params={"status": "expired"}, headers=headers
        )
        as_of = await client.get(
            f"{RECORDS}/audits-due", params={"asOf": iso(-45)}, headers=headers
        )

        assert [r["id"] for r in due] == [later["id"], late["id"], just["id"]]
        assert [r["id"] for r in expired.json()["items"]] == [just["id"]]
        assert [r["id"] for r in as_of.json()["items"]] == [later["id"]]

    async def test_as_of_without_offset_is_400(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> None:
        response = await client.get(
            f"{RECORDS}/audits-due", params={"asOf": "2026-01-01T00:00:00"}, headers=headers
        )
        assert response.status_code == 400
        assert [d["field"] for d in response.json()["details"]] == ["asOf"]

    async def test_a_page_costs_the_same_statements_whatever_its_size(
        self, client: httpx.AsyncClient, headers: dict[str, str], backend: Backend
    ) -> None:
        for n in range(12):
            await create_record(client, headers, nextAuditDate=iso(-n - 1))

        with statements_sent(backend.engine) as small:
            response = await client.get(
                f"{RECORDS}/audits-due", params={"pageSize": 2}, headers=headers
            )
            assert len(response.json()["items"]) == 2
        with statements_sent(backend.engine) as large:
            response = await client.get(
                f"{RECORDS}/audits-due", params={"pageSize": 12}, headers=headers
            )
            assert len(response.json()["items"]) == 12

        assert len(large) == len(small)
        assert len([s for s in large if "compliance_data" in s]) == 1


class TestPermissions:
    async def test_reading_needs_compliance_read_and_writing_compliance_write(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        reader = bearer(app, await make_user(db_session, permissions=["compliance:read"]))

        listed = await client.get(RECORDS, headers=reader)
        refused = await client.post(RECORDS, json=record_body(), headers=reader)

        assert listed.status_code == 200
        assert refused.status_code == 403
        assert await record_count(db_session) == 0
