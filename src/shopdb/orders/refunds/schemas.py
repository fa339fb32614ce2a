"""Refunds on the wire: what calculate and create take, and what a refund reads as."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from shopdb.kit.schemas import CamelModel, InputModel
from shopdb.orders.transactions.schemas import TransactionRead

RestockType = Literal["no_restock", "cancel", "return"]
# At most 99,999,999.99: the Money(10, 2) columns' range.
Amount = Decimal


class RefundLineItemInput(InputModel):
    line_item_id: int = Field(ge=1)
    quantity: int = Field(ge=1, le=100_000)
    # None: no_restock, unless the refund's legacy `restock` is true (see RefundCreate).
    restock_type: RestockType | None = None
    # Where `return` restocks (default: where the line's units were committed).
    location_id: int | None = Field(default=None, ge=1)


class ShippingInput(InputModel):
    full_refund: bool = False
    amount: Decimal | None = Field(default=None, ge=0, le=Decimal("99999999.99"), decimal_places=2)

    @model_validator(mode="after")
    def _one_way(self) -> ShippingInput:
        if self.full_refund and self.amount is not None:
            raise ValueError("give fullRefund or amount, not both")
        return self


class RefundCalculate(InputModel):
    refund_line_items: list[RefundLineItemInput] = Field(default_factory=list, max_length=250)
    shipping: ShippingInput | None = None
    # Legacy (Shopify's `restock`): true restocks a line that names no restockType, its
    # unfulfilled units as `cancel` and its fulfilled ones as `return`.
    restock: bool = False


class RefundTransactionInput(InputModel):
    # The capture or sale to refund; omitted: the order's, newest first.
    parent_id: int | None = Field(default=None, ge=1)
    amount: Decimal = Field(gt=0, le=Decimal("99999999.99"), decimal_places=2)
    kind: Literal["refund"] = "refund"
    gateway: str | None = Field(default=None, max_length=100)
    # Read from a calculation and sent back as Shopify clients do; ignored.
    maximum_refundable: Decimal | None = None


class RefundCreate(RefundCalculate):
    note: str | None = Field(default=None, max_length=5000)
    # Omitted: the calculated suggestion is refunded; []: no money moves (a restock only).
    transactions: list[RefundTransactionInput] | None = Field(default=None, max_length=50)
    notify: bool = False
    # Why (cancel writes its reason here); Shopify's refunds have none on the wire.
    reason: str | None = Field(default=None, max_length=255)


# --- reading --------------------------------------------------------------------------------


class RefundLineItemCalculated(CamelModel):
    line_item_id: int
    quantity: int
    restock_type: RestockType
    location_id: int | None
    price: Decimal
    subtotal: Decimal
    total_tax: Decimal


class ShippingCalculated(CamelModel):
    amount: Decimal
    tax: Decimal
    maximum_refundable: Decimal


class SuggestedTransaction(CamelModel):
    parent_id: int
    kind: Literal["refund"] = "refund"
    gateway: str
    amount: Decimal
    maximum_refundable: Decimal


class RefundCalculation(CamelModel):
    refund_line_items: list[RefundLineItemCalculated]
    shipping: ShippingCalculated
    subtotal: Decimal
    total_tax: Decimal
    total_amount: Decimal
    transactions: list[SuggestedTransaction]
    currency: str


class RefundLineItemRead(RefundLineItemCalculated):
    id: int
    # Of `quantity`, the units that had not been fulfilled (they will never be).
    removed_quantity: int


class RefundShippingRead(CamelModel):
    amount: Decimal


class RefundRead(CamelModel):
    id: int
    order_id: int
    note: str | None
    reason: str | None
    created_at: datetime
    processed_at: datetime | None
    refund_line_items: list[RefundLineItemRead]
    # As POST /orders/{id}/transactions answers each (one schema for both).
    transactions: list[TransactionRead]
    shipping: RefundShippingRead
    subtotal: Decimal
    total_tax: Decimal
    # The money given back: the successful refund transactions' sum.
    total_amount: Decimal
    currency: str


class RefundList(CamelModel):
    items: list[RefundRead]
