"""Compliance records per entity and data retention policies per entity type."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin, TimestampMixin
from shopdb.kit.types import JSONType, UTCDateTime


class ComplianceRecord(IdMixin, TimestampMixin, Base):
    __tablename__ = "compliance_data"
    __table_args__ = (
        CheckConstraint(
            "status IN ('compliant', 'non_compliant', 'pending', 'expired')", name="status"
        ),
        Index("ix_compliance_data_entity_type_entity_id", "entity_type", "entity_id"),
        Index("ix_compliance_data_compliance_type", "compliance_type"),
        Index("ix_compliance_data_status", "status"),
        Index("ix_compliance_data_last_audit_date", "last_audit_date"),
        Index("ix_compliance_data_next_audit_date", "next_audit_date"),
    )

    entity_type: Mapped[str] = mapped_column(String(100), nullable=False)
    entity_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    compliance_type: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(50), nullable=False)
    last_audit_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_audit_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    compliance_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    audit_trail: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)


class DataRetentionPolicy(IdMixin, TimestampMixin, Base):
    __tablename__ = "data_retention_policies"
    __table_args__ = (
        UniqueConstraint("entity_type"),
        CheckConstraint("retention_period_days > 0", name="retention_period"),
        CheckConstraint(
            "deletion_policy IN ('hard_delete', 'soft_delete', 'archive')",
            name="deletion_policy",
        ),
        Index("ix_data_retention_policies_entity_type", "entity_type"),
        Index("ix_data_retention_policies_retention_period_days", "retention_period_days"),
        Index("ix_data_retention_policies_last_cleanup_date", "last_cleanup_date"),
    )

    entity_type: Mapped[str] = mapped_column(String(100), nullable=False)
    retention_period_days: Mapped[int] = mapped_column(Integer, nullable=False)
    deletion_policy: Mapped[str] = mapped_column(String(100), nullable=False)
    archive_policy: Mapped[str | None] = mapped_column(String(100), nullable=True)
    auto_delete_enabled: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    last_cleanup_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
