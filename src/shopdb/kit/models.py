"""Declarative base, naming convention and the column mixins every table shares."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Identity, Integer, MetaData, func, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    make_transient_to_detached,
    mapped_column,
)

from shopdb.kit.types import BigIntId, UTCDateTime, utcnow

# Constraint and index names follow one convention so migrations are reproducible and
# stay under PostgreSQL's 63-character identifier limit.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IdMixin:
    id: Mapped[int] = mapped_column(BigIntId, Identity(), primary_key=True, sort_order=-100)


class CreatedAtMixin:
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        server_default=func.current_timestamp(),
        sort_order=100,
    )


class TimestampMixin(CreatedAtMixin):
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(),
        nullable=False,
        default=utcnow,
        onupdate=utcnow,
        server_default=func.current_timestamp(),
        sort_order=101,
    )


class SoftDeleteMixin:
    """Rows are hidden, not removed, so orders and audit trails keep their references."""

    deleted_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True, index=True, sort_order=102
    )


class VersionMixin:
    """Optimistic concurrency: every ORM UPDATE carries `WHERE version = :seen` and bumps it.

    A concurrent writer makes the UPDATE match no row and SQLAlchemy raises StaleDataError,
    which the error handler turns into 409. Endpoints compare If-Match with `version` first (412).
    """

    version: Mapped[int] = mapped_column(
        Integer, nullable=False, default=1, server_default="1", sort_order=103
    )

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, object]:
        return {"version_id_col": cls.version}


def attach_inserted(session: Session | AsyncSession, row: Base) -> None:
    """Make `row`, written by a Core INSERT (its primary key set from RETURNING), a persistent
    object of `session`, as if it had been flushed: later changes to it are UPDATEs, and
    nothing inserts it again. Its columns never set stay None rather than expired (an expired
    attribute would be loaded on access, which an async session cannot do implicitly)."""
    for column in inspect(type(row)).column_attrs:
        if column.key not in row.__dict__:
            setattr(row, column.key, None)
    make_transient_to_detached(row)
    session.add(row)
