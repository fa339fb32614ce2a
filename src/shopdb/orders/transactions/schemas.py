"""Transactions on the wire: what POST /orders/{id}/transactions takes, and what one reads as."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field

from shopdb.kit.schemas import CamelModel, InputModel

TransactionKind = Literal["authorization", "capture", "sale", "void", "refund"]


class TransactionCreate(InputModel):
    kind: TransactionKind
    # Checked by the service (422 INVALID_AMOUNT: not positive, finer than cents). Optional:
    # a capture takes the authorization's uncaptured rest, a refund what its parent has left,
    # an authorization or sale the order's outstanding balance; a void takes none.
    amount: Decimal | None = None
    # The authorization to capture or void, the capture or sale to refund; default: the
    # newest one the kind can act on.
    parent_id: int | None = Field(default=None, ge=1)
    currency: str | None = Field(default=None, min_length=1, max_length=10)
    # The parent's gateway for capture, void and refund (given: it must match); for a new
    # authorization or sale, default the order's.
    gateway: str | None = Field(default=None, min_length=1, max_length=100)
    # A new authorization or sale's card token; never stored, never logged. Not needed by
    # the manual gateway.
    token: str | None = Field(default=None, max_length=255)


class TransactionRead(CamelModel):
    id: int
    order_id: int
    kind: str
    gateway: str
    status: str
    amount: Decimal
    currency: str
    parent_id: int | None
    authorization_code: str | None
    transaction_id: str | None
    error_code: str | None
    message: str | None = None
    card_brand: str | None
    card_last4: str | None
    processed_at: datetime | None
    created_at: datetime


class TransactionList(CamelModel):
    items: list[TransactionRead]
