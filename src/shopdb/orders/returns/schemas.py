"""Returns on the wire: opening one, closing it with what was received, and reading it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, model_validator

from shopdb.kit.schemas import CamelModel, InputModel

# Shopify's ReturnReason values, lower-cased (models.returns.RETURN_REASONS).
ReturnReason = Literal[
    "color",
    "defective",
    "not_as_described",
    "other",
    "size_too_large",
    "size_too_small",
    "style",
    "unknown",
    "unwanted",
    "wrong_item",
]
ReturnStatus = Literal["open", "closed", "cancelled"]
Quantity = Annotated[int, Field(ge=1, le=100_000)]
Note = Annotated[str | None, Field(max_length=5000)]


class ReturnLineItemInput(InputModel):
    line_item_id: int = Field(ge=1)
    quantity: Quantity
    reason: ReturnReason = "unknown"
    note: Note = None


class ReturnCreate(InputModel):
    return_line_items: list[ReturnLineItemInput] = Field(min_length=1, max_length=250)
    note: Note = None

    @model_validator(mode="after")
    def _each_line_once(self) -> ReturnCreate:
        ids = [line.line_item_id for line in self.return_line_items]
        if len(ids) != len(set(ids)):
            raise ValueError("each lineItemId may appear once; give its whole quantity there")
        return self


class ReceivedLineInput(InputModel):
    return_line_item_id: int = Field(ge=1)
    received_quantity: int = Field(ge=0, le=100_000)


class ReturnClose(InputModel):
    """`lineItems` omitted: every unit of the return was received. A return line not named
    was received 0 times. `locationId` omitted: each line's units go back where they were
    committed from at placement. `refund`: refund the received units in the same step."""

    line_items: list[ReceivedLineInput] | None = Field(default=None, max_length=250)
    location_id: int | None = Field(default=None, ge=1)
    refund: bool = False

    @model_validator(mode="after")
    def _each_line_once(self) -> ReturnClose:
        ids = [line.return_line_item_id for line in self.line_items or []]
        if len(ids) != len(set(ids)):
            raise ValueError("each returnLineItemId may appear once")
        return self


class ReturnLineItemRead(CamelModel):
    id: int
    line_item_id: int
    quantity: int
    received_quantity: int
    reason: str
    note: str | None


class ReturnRead(CamelModel):
    id: int
    order_id: int
    status: ReturnStatus
    note: str | None
    location_id: int | None
    refund_id: int | None
    return_line_items: list[ReturnLineItemRead]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    cancelled_at: datetime | None


class ReturnList(CamelModel):
    items: list[ReturnRead]
