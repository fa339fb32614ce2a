"""Gift cards on the wire (camelCase). The full code appears in the creation's response only."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from shopdb.discounts.schemas import Currency
from shopdb.gift_cards import codes
from shopdb.kit.schemas import CamelModel, InputModel

GiftCardStatus = Literal["active", "disabled", "expired"]
TransactionKind = Literal["issue", "adjustment", "debit", "credit"]

PositiveAmount = Annotated[
    Decimal, Field(gt=0, max_digits=10, decimal_places=2, allow_inf_nan=False)
]
SignedAmount = Annotated[Decimal, Field(max_digits=10, decimal_places=2, allow_inf_nan=False)]


def _code(value: str) -> str:
    try:
        return codes.checked(value)
    except codes.InvalidCode as exc:
        raise ValueError(str(exc)) from None


def _not_zero(value: Decimal) -> Decimal:
    if value == 0:
        raise ValueError("must not be zero")
    return value


Code = Annotated[str, Field(max_length=100), AfterValidator(_code)]
Note = Annotated[str, Field(max_length=5000)]
READ_ONLY = frozenset(
    {
        "id",
        "balance",
        "status",
        "last_characters",
        "masked_code",
        "disabled_at",
        "version",
        "created_at",
        "updated_at",
    }
)


class GiftCardCreate(InputModel):
    """`code` optional (16 characters are generated); `expiresOn`: from that day (UTC) on,
    the card can no longer be used."""

    read_only = READ_ONLY

    code: Code | None = None
    initial_value: PositiveAmount
    currency: Currency
    customer_id: int | None = Field(default=None, ge=1)
    expires_on: date | None = None
    note: Note | None = None


class GiftCardUpdate(InputModel):
    """As Shopify: only the expiry, the note and (while it has none) the customer change."""

    read_only = READ_ONLY | {"initial_value", "currency", "code"}

    expires_on: date | None = None
    note: Note | None = None
    customer_id: int | None = Field(default=None, ge=1)


class GiftCardLookup(InputModel):
    """The full code travels in a body, not a URL: URLs end up in access logs."""

    code: Annotated[str, Field(min_length=1, max_length=100)]


class AdjustmentCreate(InputModel):
    amount: Annotated[SignedAmount, AfterValidator(_not_zero)]
    reason: Annotated[str, Field(min_length=1, max_length=255)]
    note: Note | None = None


class GiftCardRead(CamelModel):
    id: int
    last_characters: str
    masked_code: str
    initial_value: Decimal
    balance: Decimal
    currency: str
    status: GiftCardStatus
    customer_id: int | None
    expires_on: date | None
    note: str | None
    disabled_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class GiftCardCreated(GiftCardRead):
    code: str = Field(description="The full code: shown in this response only, never again")


class TransactionRead(CamelModel):
    """`amount` is signed: the amounts of a card's transactions add up to its balance."""

    id: int
    gift_card_id: int
    amount: Decimal
    kind: TransactionKind
    reason: str | None
    note: str | None
    order_id: int | None
    created_at: datetime


class AdjustmentRead(CamelModel):
    gift_card: GiftCardRead
    transaction: TransactionRead
