"""Compliance records (with their audit trail) and data retention policies (one per entity type).

A record's `auditTrail` is written here, never by clients: each create and each change of its
status or audit dates appends who changed what, from what, when. A policy names an entity type
the retention run supports (compliance/targets.py) and a deletion policy that type allows;
one policy per type, decided by the unique key under a race. Services never commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.dependencies import Subject
from shopdb.compliance.errors import (
    ComplianceRecordNotFound,
    DeletionPolicyNotSupported,
    RetentionPolicyExists,
    RetentionPolicyNotFound,
)
from shopdb.compliance.repository import (
    ComplianceRecordRepository,
    RecordFilter,
    RetentionPolicyRepository,
)
from shopdb.compliance.targets import TARGETS
from shopdb.errors import ValidationFailed
from shopdb.events.service import record_event
from shopdb.kit.pagination import PageRequest, RowsPage
from shopdb.kit.types import utcnow
from shopdb.models import ComplianceRecord, DataRetentionPolicy

RECORD_REQUIRED = ("entity_type", "entity_id", "compliance_type", "status")
# The changes the audit trail notes.
AUDITED = ("status", "last_audit_date", "next_audit_date")
POLICY_REQUIRED = (
    "entity_type",
    "retention_period_days",
    "deletion_policy",
    "auto_delete_enabled",
)
_CAMEL = {
    "status": "status",
    "last_audit_date": "lastAuditDate",
    "next_audit_date": "nextAuditDate",
    "entity_type": "entityType",
    "retention_period_days": "retentionPeriodDays",
    "deletion_policy": "deletionPolicy",
    "auto_delete_enabled": "autoDeleteEnabled",
    "entity_id": "entityId",
    "compliance_type": "complianceType",
}


def _wire(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _refuse_nulls(changes: dict[str, Any], required: tuple[str, ...]) -> None:
    for name in required:
        if name in changes and changes[name] is None:
            raise ValidationFailed.on(_CAMEL[name], "must not be null")


# --- compliance records ------------------------------------------------------------------------


def _record_event(
    session: AsyncSession, actor: Subject, record_id: int, verb: str, **body: Any
) -> None:
    record_event(
        session,
        topic=f"compliance_data/{verb}",
        subject_type="ComplianceRecord",
        subject_id=record_id,
        body={"id": record_id, **body},
        actor=actor.principal,
    )


def _check_dates(record: ComplianceRecord) -> None:
    last, following = record.last_audit_date, record.next_audit_date
    if last is not None and following is not None and following < last:
        raise ValidationFailed.on("nextAuditDate", "must not be before lastAuditDate")


async def get_record(session: AsyncSession, record_id: int) -> ComplianceRecord:
    record = await ComplianceRecordRepository(session).get(record_id)
    if record is None:
        raise ComplianceRecordNotFound(record_id)
    return record


async def list_records(
    session: AsyncSession, filters: RecordFilter, request: PageRequest
) -> RowsPage[ComplianceRecord]:
    return await ComplianceRecordRepository(session).page(filters, request)


async def list_audits_due(
    session: AsyncSession, *, as_of: datetime | None, status: str | None, request: PageRequest
) -> RowsPage[ComplianceRecord]:
    """Records whose nextAuditDate is at or before `as_of` (default now), most overdue first."""
    return await ComplianceRecordRepository(session).page_audits_due(
        as_of or utcnow(), status, request
    )


async def create_record(
    session: AsyncSession, actor: Subject, fields: dict[str, Any]
) -> ComplianceRecord:
    record = ComplianceRecord(**fields)
    _check_dates(record)
    record.audit_trail = [
        {
            "at": utcnow().isoformat(),
            "actor": actor.principal,
            "action": "create",
            "changes": {_CAMEL[name]: [None, _wire(fields.get(name))] for name in AUDITED},
        }
    ]
    await ComplianceRecordRepository(session).add(record)
    _record_event(
        session,
        actor,
        record.id,
        "create",
        entityType=record.entity_type,
        entityId=record.entity_id,
        complianceType=record.compliance_type,
        status=record.status,
    )
    return record


async def update_record(
    session: AsyncSession, actor: Subject, record_id: int, changes: dict[str, Any]
) -> ComplianceRecord:
    """Only the given fields change; a change of status or audit date is added to the trail."""
    _refuse_nulls(changes, RECORD_REQUIRED)
    record = await get_record(session, record_id)
    audited = {
        _CAMEL[name]: [_wire(getattr(record, name)), _wire(changes[name])]
        for name in AUDITED
        if name in changes and getattr(record, name) != changes[name]
    }
    for name, value in changes.items():
        setattr(record, name, value)
    _check_dates(record)
    if audited:
        entry = {
            "at": utcnow().isoformat(),
            "actor": actor.principal,
            "action": "update",
            "changes": audited,
        }
        # A new list: the JSON column notices a replaced value, not an appended one.
        record.audit_trail = [*(record.audit_trail or []), entry]
    await session.flush()
    _record_event(session, actor, record.id, "update", changed=sorted(changes))
    return record


async def delete_record(session: AsyncSession, actor: Subject, record_id: int) -> None:
    record = await get_record(session, record_id)
    await ComplianceRecordRepository(session).delete(record.id)
    _record_event(
        session,
        actor,
        record_id,
        "delete",
        entityType=record.entity_type,
        entityId=record.entity_id,
    )


# --- retention policies ------------------------------------------------------------------------


def _policy_event(
    session: AsyncSession, actor: Subject, policy_id: int, verb: str, **body: Any
) -> None:
    record_event(
        session,
        topic=f"data_retention_policies/{verb}",
        subject_type="DataRetentionPolicy",
        subject_id=policy_id,
        body={"id": policy_id, **body},
        actor=actor.principal,
    )


def _check_policy(policy: DataRetentionPolicy) -> None:
    target = TARGETS.get(policy.entity_type)
    if target is None:  # the schema only admits known types; a stored row may predate them
        raise ValidationFailed.on(
            "entityType", f"must be one of {', '.join(TARGETS)} (what a retention run handles)"
        )
    if policy.deletion_policy not in target.policies:
        raise DeletionPolicyNotSupported(
            policy.entity_type, policy.deletion_policy, target.policies
        )


async def _store(session: AsyncSession, policy: DataRetentionPolicy, *, new: bool) -> None:
    repository = RetentionPolicyRepository(session)
    with session.no_autoflush:
        existing = await repository.id_for_entity_type(policy.entity_type)
    if existing is not None and existing != policy.id:
        raise RetentionPolicyExists(policy.entity_type, existing)
    try:
        # A savepoint: the unique key decides a race between two writers.
        async with session.begin_nested():
            if new:
                await repository.add(policy)
            else:
                await session.flush()
    except IntegrityError as exc:
        raise RetentionPolicyExists(policy.entity_type) from exc


async def get_policy(session: AsyncSession, policy_id: int) -> DataRetentionPolicy:
    policy = await RetentionPolicyRepository(session).get(policy_id)
    if policy is None:
        raise RetentionPolicyNotFound(policy_id)
    return policy


async def list_policies(
    session: AsyncSession, request: PageRequest
) -> RowsPage[DataRetentionPolicy]:
    return await RetentionPolicyRepository(session).page(request)


async def create_policy(
    session: AsyncSession, actor: Subject, fields: dict[str, Any]
) -> DataRetentionPolicy:
    policy = DataRetentionPolicy(**fields)
    _check_policy(policy)
    await _store(session, policy, new=True)
    _policy_event(
        session,
        actor,
        policy.id,
        "create",
        entityType=policy.entity_type,
        retentionPeriodDays=policy.retention_period_days,
        deletionPolicy=policy.deletion_policy,
        autoDeleteEnabled=policy.auto_delete_enabled,
    )
    return policy


async def update_policy(
    session: AsyncSession, actor: Subject, policy_id: int, changes: dict[str, Any]
) -> DataRetentionPolicy:
    _refuse_nulls(changes, POLICY_REQUIRED)
    policy = await get_policy(session, policy_id)
    for name, value in changes.items():
        setattr(policy, name, value)
    _check_policy(policy)
    await _store(session, policy, new=False)
    _policy_event(session, actor, policy.id, "update", changed=sorted(changes))
    return policy


async def delete_policy(session: AsyncSession, actor: Subject, policy_id: int) -> None:
    policy = await get_policy(session, policy_id)
    await RetentionPolicyRepository(session).delete(policy.id)
    _policy_event(session, actor, policy_id, "delete", entityType=policy.entity_type)
