"""Orders on the wire: what POST /api/v1/orders takes, and what the order reads as."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shopdb.kit.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from shopdb.kit.parameters import MAX_CURSOR_LENGTH, MAX_PAGE_NUMBER
from shopdb.kit.schemas import CamelModel, InputModel
from shopdb.kit.types import UTCTimestamp
from shopdb.orders.fulfillments.schemas import FulfillmentRead
from shopdb.orders.refunds.schemas import RefundRead
from shopdb.users.schemas import check_email

Email = Annotated[str, Field(max_length=255), AfterValidator(check_email)]
Text255 = Annotated[str, Field(min_length=1, max_length=255)]

OrderStatus = Literal["open", "closed", "cancelled", "any"]
FinancialStatus = Literal[
    "pending",
    "authorized",
    "partially_paid",
    "paid",
    "partially_refunded",
    "refunded",
    "voided",
]
FulfillmentStatus = Literal["unfulfilled", "partial", "fulfilled", "restocked"]
OrderSort = Literal["createdAt", "updatedAt", "number", "totalPrice"]
SortDirection = Literal["asc", "desc"]


class LineItemInput(InputModel):
    variant_id: int = Field(ge=1)
    quantity: int = Field(ge=1, le=100_000)
    # A selling plan the variant's product offers: its pricing policy sets the line's price,
    # and a recurring plan opens a subscription contract (shopdb.selling_plans).
    selling_plan_id: int | None = Field(default=None, ge=1)


class AddressInput(InputModel):
    first_name: str | None = Field(default=None, max_length=255)
    last_name: str | None = Field(default=None, max_length=255)
    company: str | None = Field(default=None, max_length=255)
    address1: str | None = Field(default=None, max_length=255)
    address2: str | None = Field(default=None, max_length=255)
    city: str | None = Field(default=None, max_length=255)
    province: str | None = Field(default=None, max_length=255)
    country: str | None = Field(default=None, max_length=255)
    # ISO 3166-1 alpha-2 and the province's code: what shipping zones and tax rates match
    # (`country` and `province` are used when the codes are not given).
    country_code: str | None = Field(default=None, max_length=2)
    province_code: str | None = Field(default=None, max_length=10)

    @property
    def country_for_rates(self) -> str | None:
        return self.country_code or self.country

    @property
    def province_for_rates(self) -> str | None:
        return self.province_code or self.province

    zip: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, max_length=50)


class PaymentInput(InputModel):
    gateway: Text255
    # A card token for the gateway; never stored, never logged (only brand and last four).
    token: str | None = Field(default=None, max_length=255)
    # false: only authorize (capture later); true: authorize and capture at once (a sale).
    capture: bool = True


class OrderCreate(InputModel):
    customer_id: int | None = Field(default=None, ge=1)
    email: Email | None = None
    line_items: list[LineItemInput] = Field(min_length=1, max_length=250)
    shipping_address: AddressInput | None = None
    billing_address: AddressInput | None = None
    shipping_rate_id: int | None = Field(default=None, ge=1)
    discount_code: Text255 | None = None
    gift_card_codes: list[Text255] = Field(default_factory=list, max_length=10)
    payment: PaymentInput | None = None
    note: str | None = Field(default=None, max_length=5000)
    tags: list[Text255] = Field(default_factory=list, max_length=250)
    location_id: int | None = Field(default=None, ge=1)
    # B2B: placed on the company's payment terms (no payment now; shopdb.companies.terms).
    company_id: int | None = Field(default=None, ge=1)
    payment_terms_id: int | None = Field(default=None, ge=1)

    @field_validator("company_id")
    @classmethod
    def _terms_are_paid_later(cls, value: int | None, info: ValidationInfo) -> int | None:
        # Here, not in placement: a remote gateway's payment would place it in steps.
        if value is not None and info.data.get("payment") is not None:
            raise ValueError(
                "places the order on payment terms: send no payment (pay it later through "
                "POST /api/v1/orders/{id}/transactions)"
            )
        return value

    @model_validator(mode="after")
    def _someone_to_tell(self) -> OrderCreate:
        if self.customer_id is None and self.email is None:
            raise ValueError("customerId or email is required")
        return self


# --- reading --------------------------------------------------------------------------------


class OrderListQuery(CamelModel):
    """GET /orders' query string as one model: FastAPI resolves one parameter instead of 13
    (resolving each, and the shared page parameters on a worker thread, cost more CPU than
    reading the page; catalog's ProductListQuery does the same)."""

    model_config = ConfigDict(extra="ignore")

    status: OrderStatus = "any"
    financial_status: FinancialStatus | None = None
    fulfillment_status: FulfillmentStatus | None = None
    customer_id: Annotated[int | None, Field(ge=1)] = None
    email: Email | None = None
    created_at_min: UTCTimestamp | None = None
    created_at_max: UTCTimestamp | None = None
    sort_by: OrderSort = "createdAt"
    sort_direction: SortDirection = "desc"
    page: Annotated[int, Field(ge=1, le=MAX_PAGE_NUMBER)] = 1
    page_size: Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE
    cursor: Annotated[str | None, Field(max_length=MAX_CURSOR_LENGTH)] = None
    # Counting reads every matching order: only on request (kit.parameters.WithTotal).
    with_total: bool = False


class TaxLineRead(CamelModel):
    title: str
    rate: Decimal
    amount: Decimal
    # In the order's presentment currency (markets); null when it has none.
    presentment_amount: Decimal | None = None


class ShippingLineRead(CamelModel):
    rate_id: int
    title: str
    price: Decimal


class LineItemRead(CamelModel):
    id: int
    variant_id: int | None
    title: str
    variant_title: str | None
    sku: str | None
    quantity: int
    price: Decimal
    total_discount: Decimal
    taxable: bool
    requires_shipping: bool
    grams: int
    fulfilled_quantity: int
    location_id: int | None
    # The unit price and discount share in the order's presentment currency (null: none).
    presentment_price: Decimal | None = None
    presentment_total_discount: Decimal | None = None
    selling_plan_id: int | None = None


class TransactionRead(CamelModel):
    id: int
    kind: str
    gateway: str
    status: str
    amount: Decimal
    currency: str
    authorization: str | None
    error_code: str | None
    card_brand: str | None
    card_last4: str | None
    processed_at: datetime | None
    created_at: datetime


class OrderSummary(CamelModel):
    id: int
    number: str
    order_number: int | None
    email: str
    customer_id: int | None
    currency: str
    subtotal_price: Decimal
    total_discounts: Decimal
    total_shipping: Decimal
    total_tax: Decimal
    total_price: Decimal
    taxes_included: bool
    # Priced in a market's currency (shopdb.markets.pricing): the amounts the buyer saw, in
    # `presentmentCurrency` at `presentmentExchangeRate`; all null for an order priced in
    # the shop's currency only. The amounts above stay in `currency`.
    presentment_currency: str | None = None
    presentment_exchange_rate: Decimal | None = None
    presentment_subtotal_price: Decimal | None = None
    presentment_total_discounts: Decimal | None = None
    presentment_total_shipping: Decimal | None = None
    presentment_total_tax: Decimal | None = None
    presentment_total_price: Decimal | None = None
    financial_status: str
    fulfillment_status: str
    status: str
    discount_code: str | None
    gateway: str | None
    # B2B: the company and payment term an order on terms was placed on, and its due date.
    company_id: int | None
    payment_terms_id: int | None
    payment_due_at: datetime | None
    note: str | None
    tags: list[str]
    processed_at: datetime | None
    cancelled_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class OrderDetail(OrderSummary):
    tax_lines: list[TaxLineRead]
    shipping_line: ShippingLineRead | None
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    line_items: list[LineItemRead]
    transactions: list[TransactionRead]
    fulfillments: list[FulfillmentRead]  # oldest first
    refunds: list[RefundRead]  # oldest first
