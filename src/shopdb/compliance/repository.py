"""Every query on compliance records, retention policies, and the rows a retention run removes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.compliance.targets import Target
from shopdb.kit import journal
from shopdb.kit.pagination import PageRequest, RowsPage, read_requested_page
from shopdb.models import ComplianceRecord, DataRetentionPolicy


@dataclass(frozen=True)
class RecordFilter:
    entity_type: str | None = None
    entity_id: int | None = None
    compliance_type: str | None = None
    status: str | None = None


class ComplianceRecordRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, record_id: int) -> ComplianceRecord | None:
        return await self.session.get(ComplianceRecord, record_id)

    async def page(self, filters: RecordFilter, request: PageRequest) -> RowsPage[ComplianceRecord]:
        """By id, each filter an equality."""
        conditions: list[ColumnElement[bool]] = []
        if filters.entity_type is not None:
            conditions.append(ComplianceRecord.entity_type == filters.entity_type)
        if filters.entity_id is not None:
            conditions.append(ComplianceRecord.entity_id == filters.entity_id)
        if filters.compliance_type is not None:
            conditions.append(ComplianceRecord.compliance_type == filters.compliance_type)
        if filters.status is not None:
            conditions.append(ComplianceRecord.status == filters.status)
        return await read_requested_page(
            self.session,
            select(ComplianceRecord).where(*conditions),
            request,
            sort_column=ComplianceRecord.id,
            id_column=ComplianceRecord.id,
        )

    async def page_audits_due(
        self, as_of: datetime, status: str | None, request: PageRequest
    ) -> RowsPage[ComplianceRecord]:
        """Records whose next audit date has passed, the most overdue first (then by id): one
        range of ix_compliance_data_next_audit_date."""
        conditions: list[ColumnElement[bool]] = [ComplianceRecord.next_audit_date <= as_of]
        if status is not None:
            conditions.append(ComplianceRecord.status == status)
        return await read_requested_page(
            self.session,
            select(ComplianceRecord).where(*conditions),
            request,
            sort_column=ComplianceRecord.next_audit_date,
            id_column=ComplianceRecord.id,
            sort_name="nextAuditDate",
            key_type=datetime,
        )

    async def add(self, record: ComplianceRecord) -> ComplianceRecord:
        self.session.add(record)
        await self.session.flush()
        return record

    async def delete(self, record_id: int) -> None:
        await self.session.execute(delete(ComplianceRecord).where(ComplianceRecord.id == record_id))


class RetentionPolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, policy_id: int) -> DataRetentionPolicy | None:
        return await self.session.get(DataRetentionPolicy, policy_id)

    async def id_for_entity_type(self, entity_type: str) -> int | None:
        found = await self.session.scalar(
            select(DataRetentionPolicy.id).where(DataRetentionPolicy.entity_type == entity_type)
        )
        return None if found is None else int(found)

    async def page(self, request: PageRequest) -> RowsPage[DataRetentionPolicy]:
        return await read_requested_page(
            self.session,
            select(DataRetentionPolicy),
            request,
            sort_column=DataRetentionPolicy.id,
            id_column=DataRetentionPolicy.id,
        )

    async def enabled(self) -> list[DataRetentionPolicy]:
        result = await self.session.scalars(
            select(DataRetentionPolicy)
            .where(DataRetentionPolicy.auto_delete_enabled.is_(True))
            .order_by(DataRetentionPolicy.id)
        )
        return list(result)

    async def add(self, policy: DataRetentionPolicy) -> DataRetentionPolicy:
        self.session.add(policy)
        await self.session.flush()
        return policy

    async def delete(self, policy_id: int) -> None:
        await self.session.execute(
            delete(DataRetentionPolicy).where(DataRetentionPolicy.id == policy_id)
        )

    async def cleaned(self, policy_id: int, at: datetime) -> None:
        await self.session.execute(
            update(DataRetentionPolicy)
            .where(DataRetentionPolicy.id == policy_id)
            .values(last_cleanup_date=at)
            .execution_options(synchronize_session=False)
        )


class RetentionRepository:
    """The rows of one retention target: counted, locked a batch at a time, removed."""

    def __init__(self, session: AsyncSession, target: Target) -> None:
        self.session = session
        self.target = target
        self.table = target.table
        self.postgres = session.get_bind().dialect.name == "postgresql"

    async def count(self, due: ColumnElement[bool]) -> int:
        return int(
            await self.session.scalar(select(func.count()).select_from(self.table).where(due)) or 0
        )

    def _batch(self, due: ColumnElement[bool], limit: int) -> Any:
        statement = select(self.table).where(due).order_by(self.table.c.id).limit(limit)
        if self.postgres:
            # Rows another run (or a request) holds are left to the next batch or run: two runs
            # at once split the work instead of waiting on each other.
            statement = statement.with_for_update(skip_locked=True)
        return statement

    async def lock_ids(self, due: ColumnElement[bool], limit: int) -> list[int]:
        statement = self._batch(due, limit).with_only_columns(self.table.c.id)
        return [int(row_id) for row_id in await self.session.scalars(statement)]

    async def lock_rows(self, due: ColumnElement[bool], limit: int) -> list[dict[str, Any]]:
        """Up to `limit` due rows, oldest id first, every column (for the archive)."""
        result = await self.session.execute(self._batch(due, limit))
        return [dict(row) for row in result.mappings()]

    async def children(self, ids: Sequence[int]) -> dict[str, dict[int, list[dict[str, Any]]]]:
        """Each child table's rows of `ids`, by parent id, in id order."""
        found: dict[str, dict[int, list[dict[str, Any]]]] = {}
        for model, column in self.target.children:
            table = cast(Table, model.__table__)
            parent = table.c[column]
            result = await self.session.execute(
                select(table).where(parent.in_(ids)).order_by(table.c.id)
            )
            by_parent: dict[int, list[dict[str, Any]]] = {}
            for row in result.mappings():
                by_parent.setdefault(int(row[column]), []).append(dict(row))
            found[table.name] = by_parent
        return found

    def _note(self, ids: Sequence[int]) -> None:
        # Cached documents of these rows (orders) are forgotten once the batch commits.
        if self.target.journal_kind is not None:
            journal.note(self.session, self.target.journal_kind, ids)

    async def delete(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        self._note(ids)
        result = await self.session.execute(delete(self.table).where(self.table.c.id.in_(ids)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def soft_delete(self, ids: Sequence[int], at: datetime) -> int:
        if not ids:
            return 0
        self._note(ids)
        values: dict[str, Any] = {"deleted_at": at, "updated_at": at}
        if "version" in self.table.c:
            # As an ORM update would: a client holding the old ETag gets 412, not a lost write.
            values["version"] = self.table.c.version + 1
        result = await self.session.execute(
            update(self.table)
            .where(self.table.c.id.in_(ids), self.table.c.deleted_at.is_(None))
            .values(**values)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
