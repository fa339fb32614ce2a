"""/api/v1/compliance-data (with its audits due) and /api/v1/data-retention-policies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from pydantic import AwareDatetime

from shopdb.compliance import service
from shopdb.compliance.auth import ComplianceRead, ComplianceWrite
from shopdb.compliance.repository import RecordFilter
from shopdb.compliance.schemas import (
    ComplianceRecordCreate,
    ComplianceRecordRead,
    ComplianceRecordUpdate,
    ComplianceStatus,
    RetentionEntityTypeRead,
    RetentionPolicyCreate,
    RetentionPolicyRead,
    RetentionPolicyUpdate,
)
from shopdb.compliance.targets import TARGETS
from shopdb.dependencies import SessionDep
from shopdb.idempotency import idempotent
from shopdb.kit.bounds import MAX_BIGINT
from shopdb.kit.pagination import RowsPage
from shopdb.kit.parameters import PageQuery
from shopdb.kit.responses import model_response
from shopdb.kit.routing import domain_router
from shopdb.kit.schemas import Page
from shopdb.models import ComplianceRecord, DataRetentionPolicy

compliance_router = domain_router("/compliance-data", tags=["compliance"])
retention_router = domain_router("/data-retention-policies", tags=["compliance"])


def _records(found: RowsPage[ComplianceRecord], page: int, size: int) -> Page[ComplianceRecordRead]:
    return Page[ComplianceRecordRead](
        items=[ComplianceRecordRead.model_validate(r) for r in found.rows],
        total_count=found.total,
        page=page,
        page_size=size,
        next_cursor=found.next_cursor,
    )


def _record(record: ComplianceRecord, *, status_code: int = 200) -> Response:
    headers = {"Location": f"/api/v1/compliance-data/{record.id}"} if status_code == 201 else None
    return model_response(
        ComplianceRecordRead.model_validate(record), status_code=status_code, headers=headers
    )


def _policy(policy: DataRetentionPolicy, *, status_code: int = 200) -> Response:
    headers = (
        {"Location": f"/api/v1/data-retention-policies/{policy.id}"} if status_code == 201 else None
    )
    return model_response(
        RetentionPolicyRead.model_validate(policy), status_code=status_code, headers=headers
    )


# --- compliance records ------------------------------------------------------------------------


@compliance_router.get("", response_model=Page[ComplianceRecordRead])
async def list_compliance_records(
    _subject: ComplianceRead,
    session: SessionDep,
    page: PageQuery,
    entity_type: Annotated[
        str | None, Query(alias="entityType", min_length=1, max_length=100)
    ] = None,
    entity_id: Annotated[int | None, Query(alias="entityId", ge=1, le=MAX_BIGINT)] = None,
    compliance_type: Annotated[
        str | None, Query(alias="complianceType", min_length=1, max_length=100)
    ] = None,
    status: ComplianceStatus | None = None,
) -> Page[ComplianceRecordRead]:
    """By id; each filter an exact match. `page`/`pageSize`, or `cursor` (each page's
    nextCursor) for any depth; `withTotal=true` adds totalCount."""
    found = await service.list_records(
        session,
        RecordFilter(
            entity_type=entity_type,
            entity_id=entity_id,
            compliance_type=compliance_type,
            status=status,
        ),
        page,
    )
    return _records(found, page.page, page.page_size)


@compliance_router.get("/audits-due", response_model=Page[ComplianceRecordRead])
async def list_audits_due(
    _subject: ComplianceRead,
    session: SessionDep,
    page: PageQuery,
    as_of: Annotated[AwareDatetime | None, Query(alias="asOf")] = None,
    status: ComplianceStatus | None = None,
) -> Page[ComplianceRecordRead]:
    """Records whose nextAuditDate has passed (at or before `asOf`, default now), the most
    overdue first, then by id; paged like every list (cursor for any depth)."""
    found = await service.list_audits_due(session, as_of=as_of, status=status, request=page)
    return _records(found, page.page, page.page_size)


@compliance_router.post("", status_code=201, response_model=ComplianceRecordRead)
@idempotent
async def create_compliance_record(
    session: SessionDep, subject: ComplianceWrite, body: ComplianceRecordCreate
) -> Response:
    record = await service.create_record(session, subject, body.model_dump(by_alias=False))
    return _record(record, status_code=201)


@compliance_router.get("/{record_id}", response_model=ComplianceRecordRead)
async def get_compliance_record(
    record_id: int, _subject: ComplianceRead, session: SessionDep
) -> Response:
    return _record(await service.get_record(session, record_id))


@compliance_router.put("/{record_id}", response_model=ComplianceRecordRead)
async def update_compliance_record(
    record_id: int, body: ComplianceRecordUpdate, subject: ComplianceWrite, session: SessionDep
) -> Response:
    """Only the fields sent change; a change of status or an audit date joins auditTrail."""
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    return _record(await service.update_record(session, subject, record_id, changes))


@compliance_router.delete("/{record_id}", status_code=204, response_class=Response)
async def delete_compliance_record(
    record_id: int, subject: ComplianceWrite, session: SessionDep
) -> Response:
    await service.delete_record(session, subject, record_id)
    return Response(status_code=204)


# --- data retention policies -------------------------------------------------------------------


@retention_router.get("", response_model=Page[RetentionPolicyRead])
async def list_retention_policies(
    _subject: ComplianceRead, session: SessionDep, page: PageQuery
) -> Page[RetentionPolicyRead]:
    """By id; `page`/`pageSize`, or `cursor` for any depth; `withTotal=true` adds totalCount."""
    found = await service.list_policies(session, page)
    return Page[RetentionPolicyRead](
        items=[RetentionPolicyRead.model_validate(p) for p in found.rows],
        total_count=found.total,
        page=page.page,
        page_size=page.page_size,
        next_cursor=found.next_cursor,
    )


@retention_router.get("/entity-types", response_model=list[RetentionEntityTypeRead])
async def list_retention_entity_types(_subject: ComplianceRead) -> list[RetentionEntityTypeRead]:
    """The entity types a policy may name, the deletion policies each allows, and which of
    its rows a run removes."""
    return [
        RetentionEntityTypeRead(
            entity_type=t.entity_type, deletion_policies=list(t.policies), rule=t.rule
        )
        for t in TARGETS.values()
    ]


@retention_router.post("", status_code=201, response_model=RetentionPolicyRead)
@idempotent
async def create_retention_policy(
    session: SessionDep, subject: ComplianceWrite, body: RetentionPolicyCreate
) -> Response:
    """One policy per entity type (409 RETENTION_POLICY_EXISTS for a second)."""
    policy = await service.create_policy(session, subject, body.model_dump(by_alias=False))
    return _policy(policy, status_code=201)


@retention_router.get("/{policy_id}", response_model=RetentionPolicyRead)
async def get_retention_policy(
    policy_id: int, _subject: ComplianceRead, session: SessionDep
) -> Response:
    return _policy(await service.get_policy(session, policy_id))


@retention_router.put("/{policy_id}", response_model=RetentionPolicyRead)
async def update_retention_policy(
    policy_id: int, body: RetentionPolicyUpdate, subject: ComplianceWrite, session: SessionDep
) -> Response:
    changes = body.model_dump(exclude_unset=True, by_alias=False)
    return _policy(await service.update_policy(session, subject, policy_id, changes))


@retention_router.delete("/{policy_id}", status_code=204, response_class=Response)
async def delete_retention_policy(
    policy_id: int, subject: ComplianceWrite, session: SessionDep
) -> Response:
    await service.delete_policy(session, subject, policy_id)
    return Response(status_code=204)
