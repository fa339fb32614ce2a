"""Portable column types: one definition that behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any

from pydantic import AfterValidator
from sqlalchemy import JSON, BigInteger, DateTime, Integer, Numeric
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# SQLite only auto-assigns ids to a column declared exactly "INTEGER PRIMARY KEY";
# PostgreSQL gets the seed's BIGINT.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")

# The seed's NVARCHAR(MAX) JSON columns: JSONB on PostgreSQL (indexable), JSON text elsewhere.
# Python None is SQL NULL (not the JSON text 'null'), so "IS NULL" means what it says.
JSONType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")

MONEY_QUANTUM = Decimal("0.01")


def Money(precision: int = 10, scale: int = 2) -> Numeric[Decimal]:
    return Numeric(precision, scale, asdecimal=True)


def round_money(amount: Decimal) -> Decimal:
    """The one rounding rule for money in shopdb: banker's rounding to cents."""
    return amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_EVEN)


def utcnow() -> datetime:
    return datetime.now(UTC)


def in_utc(value: datetime) -> datetime:
    """A timestamp a client sent, in UTC (without an offset it is taken as UTC). One at the
    calendar's edge whose offset puts it beyond year 9999 in UTC (9999-12-31T23:59-23:00)
    has no UTC equivalent: a ValueError, which validation answers 400."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is out of range once converted to UTC") from exc


# A timestamp in a request (a list's createdAtMin...): always UTC once validated.
UTCTimestamp = Annotated[datetime, AfterValidator(in_utc)]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    PostgreSQL stores TIMESTAMPTZ. SQLite has no time zones and hands back naive values,
    so values are normalised to UTC on the way in and re-labelled UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a timezone-aware value")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # a server default such as CURRENT_TIMESTAMP on SQLite
            value = datetime.fromisoformat(value)
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
