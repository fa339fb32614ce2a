"""Compliance records and data retention policies on the wire (camelCase)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from shopdb.compliance.targets import ENTITY_TYPES
from shopdb.kit.bounds import MAX_BIGINT
from shopdb.kit.schemas import CamelModel, InputModel

# The seed's CHECK on compliance_data.status.
ComplianceStatus = Literal["compliant", "non_compliant", "pending", "expired"]
# The seed's CHECK on data_retention_policies.deletion_policy.
DeletionPolicy = Literal["hard_delete", "soft_delete", "archive"]
# The types shopdb's retention run knows how to clean up (compliance/targets.py).
RetentionEntityType = Literal[ENTITY_TYPES]  # type: ignore[valid-type]

# A century: a longer period keeps everything, which is what disabling a policy says.
MAX_RETENTION_DAYS = 36_500


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


Moment = Annotated[AwareDatetime | None, AfterValidator(_utc)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
EntityId = Annotated[int, Field(ge=1, le=MAX_BIGINT)]
# Where archives go in the storage (a key prefix): path segments of letters, digits, . _ -
ArchiveFolder = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$",
        description="the storage folder archives are written under (default `retention`)",
    ),
]
Days = Annotated[int, Field(ge=1, le=MAX_RETENTION_DAYS)]

RECORD_READ_ONLY = InputModel.read_only | {"audit_trail"}


class ComplianceRecordCreate(InputModel):
    read_only = RECORD_READ_ONLY

    entity_type: Name
    entity_id: EntityId
    compliance_type: Name
    status: ComplianceStatus
    last_audit_date: Moment = None
    next_audit_date: Moment = None
    compliance_data: dict[str, Any] | None = None


class ComplianceRecordUpdate(InputModel):
    """Only the fields sent change; `null` clears an optional one."""

    read_only = RECORD_READ_ONLY

    entity_type: Name | None = None
    entity_id: EntityId | None = None
    compliance_type: Name | None = None
    status: ComplianceStatus | None = None
    last_audit_date: Moment = None
    next_audit_date: Moment = None
    compliance_data: dict[str, Any] | None = None


class ComplianceRecordRead(CamelModel):
    id: int
    entity_type: str
    entity_id: int
    compliance_type: str
    status: str
    last_audit_date: datetime | None
    next_audit_date: datetime | None
    compliance_data: dict[str, Any] | None
    # Written by shopdb: one entry per change of status or audit dates (who, when, what).
    audit_trail: list[Any] | None
    created_at: datetime
    updated_at: datetime


POLICY_READ_ONLY = InputModel.read_only | {"last_cleanup_date"}


class RetentionPolicyCreate(InputModel):
    read_only = POLICY_READ_ONLY

    entity_type: RetentionEntityType
    retention_period_days: Days
    deletion_policy: DeletionPolicy
    archive_policy: ArchiveFolder | None = None
    auto_delete_enabled: bool = False


class RetentionPolicyUpdate(InputModel):
    """Only the fields sent change; `archivePolicy: null` goes back to the default folder."""

    read_only = POLICY_READ_ONLY

    entity_type: RetentionEntityType | None = None
    retention_period_days: Days | None = None
    deletion_policy: DeletionPolicy | None = None
    archive_policy: ArchiveFolder | None = None
    auto_delete_enabled: bool | None = None


class RetentionPolicyRead(CamelModel):
    id: int
    entity_type: str
    retention_period_days: int
    deletion_policy: str
    archive_policy: str | None
    auto_delete_enabled: bool
    last_cleanup_date: datetime | None
    created_at: datetime
    updated_at: datetime


class RetentionEntityTypeRead(CamelModel):
    entity_type: str
    deletion_policies: list[str]
    rule: str
