"""Discount codes on the wire (camelCase)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from shopdb.kit.bounds import MAX_INT
from shopdb.kit.schemas import CamelModel, InputModel

DiscountType = Literal["percentage", "fixed_amount", "free_shipping"]
DiscountStatus = Literal["active", "scheduled", "expired"]

# Money as the seed's columns hold it: NUMERIC(10, 2).
Amount = Annotated[Decimal, Field(ge=0, max_digits=10, decimal_places=2, allow_inf_nan=False)]
Currency = Annotated[
    str, Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217"), AfterValidator(str.upper)
]


def _code(value: str) -> str:
    if any(ch.isspace() and ch != " " for ch in value) or not value.isprintable():
        raise ValueError("must be printable text on one line")
    return value


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


Code = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_code)]
Moment = Annotated[AwareDatetime | None, AfterValidator(_utc)]
READ_ONLY = frozenset({"id", "used_count", "status", "version", "created_at", "updated_at"})


class DiscountCodeCreate(InputModel):
    """`value`: a percentage in (0, 100], or an amount of `currency`; none for free shipping."""

    read_only = READ_ONLY

    code: Code
    type: DiscountType
    value: Amount | None = None
    currency: Currency | None = None
    minimum_amount: Amount | None = None
    starts_at: Moment = None
    ends_at: Moment = None
    usage_limit: int | None = Field(default=None, ge=1, le=MAX_INT)


class DiscountCodeUpdate(InputModel):
    """Only the fields sent change; `null` clears an optional field."""

    read_only = READ_ONLY

    code: Code | None = None
    type: DiscountType | None = None
    value: Amount | None = None
    currency: Currency | None = None
    minimum_amount: Amount | None = None
    starts_at: Moment = None
    ends_at: Moment = None
    usage_limit: int | None = Field(default=None, ge=1, le=MAX_INT)


class DiscountCodeRead(CamelModel):
    id: int
    code: str
    type: DiscountType
    value: Decimal
    currency: str | None
    minimum_amount: Decimal | None
    starts_at: datetime | None
    ends_at: datetime | None
    usage_limit: int | None
    used_count: int
    status: DiscountStatus
    version: int
    created_at: datetime
    updated_at: datetime
