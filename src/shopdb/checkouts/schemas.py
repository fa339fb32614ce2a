"""Checkouts on the wire: what POST/PUT /api/v1/checkouts take and what a checkout reads as."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from shopdb.kit.schemas import CamelModel, InputModel
from shopdb.orders.schemas import (
    AddressInput,
    Email,
    LineItemInput,
    PaymentInput,
    ShippingLineRead,
    TaxLineRead,
    Text255,
)

AbandonedStatus = Literal["open", "recovered", "any"]

# What a client may send back from a read: accepted and ignored.
READ_ONLY = frozenset(
    {
        "id",
        "token",
        "created_at",
        "updated_at",
        "currency",
        "subtotal_price",
        "total_discounts",
        "total_shipping",
        "total_tax",
        "total_price",
        "taxes_included",
        "total_weight",
        "tax_lines",
        "shipping_line",
        "gift_cards",
        "completed_at",
        "order_id",
        "abandoned_at",
        "recovered_at",
        "recovery_url",
    }
)


class CheckoutCreate(InputModel):
    read_only: ClassVar[frozenset[str]] = READ_ONLY

    customer_id: int | None = Field(default=None, ge=1)
    email: Email | None = None
    line_items: list[LineItemInput] = Field(min_length=1, max_length=250)
    shipping_address: AddressInput | None = None
    billing_address: AddressInput | None = None
    shipping_rate_id: int | None = Field(default=None, ge=1)
    discount_code: Text255 | None = None
    gift_card_codes: list[Text255] = Field(default_factory=list, max_length=10)
    note: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _someone_to_tell(self) -> CheckoutCreate:
        if self.customer_id is None and self.email is None:
            raise ValueError("customerId or email is required")
        return self


class CheckoutUpdate(InputModel):
    """The fields sent replace the checkout's (null clears an optional one); the others stay.
    `giftCardCodes`, once set, reads back only as each card's last characters: send the list
    again to change it, omit it to keep it."""

    read_only: ClassVar[frozenset[str]] = READ_ONLY

    customer_id: int | None = Field(default=None, ge=1)
    email: Email | None = None
    line_items: list[LineItemInput] | None = Field(default=None, min_length=1, max_length=250)
    shipping_address: AddressInput | None = None
    billing_address: AddressInput | None = None
    shipping_rate_id: int | None = Field(default=None, ge=1)
    discount_code: Text255 | None = None
    gift_card_codes: list[Text255] | None = Field(default=None, max_length=10)
    note: str | None = Field(default=None, max_length=5000)


class CheckoutComplete(InputModel):
    payment: PaymentInput | None = None


class CheckoutLineRead(CamelModel):
    variant_id: int
    title: str
    variant_title: str | None
    sku: str | None
    quantity: int
    price: Decimal
    line_price: Decimal
    total_discount: Decimal
    taxable: bool
    requires_shipping: bool
    grams: int


class GiftCardRead(CamelModel):
    last_characters: str


class CheckoutRead(CamelModel):
    token: str
    email: str
    customer_id: int | None
    currency: str
    line_items: list[CheckoutLineRead]
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    shipping_rate_id: int | None
    shipping_line: ShippingLineRead | None
    discount_code: str | None
    gift_cards: list[GiftCardRead]
    note: str | None
    subtotal_price: Decimal
    total_discounts: Decimal
    total_shipping: Decimal
    total_tax: Decimal
    total_price: Decimal
    taxes_included: bool
    tax_lines: list[TaxLineRead]
    total_weight: int
    completed_at: datetime | None
    order_id: int | None
    abandoned_at: datetime | None
    recovered_at: datetime | None
    recovery_url: str
    created_at: datetime
    updated_at: datetime


class AbandonedCheckoutRead(CamelModel):
    id: int
    token: str
    status: Literal["open", "recovered"]
    email: str | None
    customer_id: int | None
    currency: str
    line_items: list[dict[str, Any]]
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    discount_codes: list[dict[str, Any]]
    shipping_line: dict[str, Any] | None
    tax_lines: list[dict[str, Any]]
    subtotal_price: Decimal
    total_line_items_price: Decimal
    total_discounts: Decimal
    total_tax: Decimal
    total_price: Decimal
    taxes_included: bool
    recovery_url: str | None
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime
