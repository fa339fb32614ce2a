"""Selling plan groups, their plans and subscription contracts on the wire.

Policies are validated here (a 400 naming the field): an interval is `day`, `week`, `month`
or `year` with a count of at least 1; a pricing adjustment is a `percentage` (0 to 100), a
`fixed_amount` off (>= 0) or a fixed `price` (>= 0). They are stored as they are sent.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from shopdb.kit.schemas import CamelModel, InputModel

Interval = Literal["day", "week", "month", "year"]
AdjustmentType = Literal["percentage", "fixed_amount", "price"]
PlanStatus = Literal["active", "archived"]
ContractStatus = Literal["active", "paused", "cancelled"]
Name = Annotated[str, Field(min_length=1, max_length=255)]
OptionValue = Annotated[str, Field(min_length=1, max_length=255)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False)]


class IntervalPolicy(InputModel):
    """Every `intervalCount` `interval`s; no interval: once (a one-time plan)."""

    interval: Interval | None = None
    interval_count: int = Field(default=1, ge=1, le=1000)


class BillingPolicy(IntervalPolicy):
    pass


class DeliveryPolicy(IntervalPolicy):
    pass


class PricingPolicy(InputModel):
    adjustment_type: AdjustmentType
    adjustment_value: Amount

    @field_validator("adjustment_value")
    @classmethod
    def _percentage_at_most_100(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        if info.data.get("adjustment_type") == "percentage" and value > 100:
            raise ValueError("a percentage is between 0 and 100")
        return value


def policy_json(policy: InputModel | None) -> dict[str, Any]:
    """A policy as stored: its wire form (decimals as strings); `{}` for none."""
    if policy is None:
        return {}
    dumped: dict[str, Any] = policy.model_dump(mode="json", by_alias=True)
    return dumped


PLAN_READ_ONLY = InputModel.read_only | {"selling_plan_group_id", "recurring"}


class PlanCreate(InputModel):
    read_only = PLAN_READ_ONLY

    name: Name
    description: str | None = Field(default=None, max_length=5000)
    billing_policy: BillingPolicy
    delivery_policy: DeliveryPolicy
    pricing_policy: PricingPolicy | None = None
    options: list[OptionValue] = Field(default_factory=list, max_length=3)
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    status: PlanStatus = "active"


class PlanUpdate(InputModel):
    """Only the fields sent change; `pricingPolicy: null` removes the adjustment."""

    read_only = PLAN_READ_ONLY

    name: Name | None = None
    description: str | None = Field(default=None, max_length=5000)
    billing_policy: BillingPolicy | None = None
    delivery_policy: DeliveryPolicy | None = None
    pricing_policy: PricingPolicy | None = None
    options: list[OptionValue] | None = Field(default=None, max_length=3)
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    status: PlanStatus | None = None


GROUP_READ_ONLY = InputModel.read_only | {"product_count"}


class GroupCreate(InputModel):
    read_only = GROUP_READ_ONLY

    name: Name
    description: str | None = Field(default=None, max_length=5000)
    merchant_code: str | None = Field(default=None, max_length=100)
    summary: str | None = Field(default=None, max_length=500)
    options: list[OptionValue] = Field(default_factory=list, max_length=3)
    position: int | None = Field(default=None, ge=0, le=1_000_000)
    plans: list[PlanCreate] = Field(default_factory=list, max_length=31)


class GroupUpdate(InputModel):
    """Only the fields sent change; plans change through /selling-plan-groups/{id}/plans."""

    read_only = GROUP_READ_ONLY | {"plans"}

    name: Name | None = None
    description: str | None = Field(default=None, max_length=5000)
    merchant_code: str | None = Field(default=None, max_length=100)
    summary: str | None = Field(default=None, max_length=500)
    options: list[OptionValue] | None = Field(default=None, max_length=3)
    position: int | None = Field(default=None, ge=0, le=1_000_000)


class GroupProducts(InputModel):
    product_ids: list[Annotated[int, Field(ge=1)]] = Field(min_length=1, max_length=250)


class PlanRead(CamelModel):
    id: int
    selling_plan_group_id: int
    name: str
    description: str | None
    billing_policy: dict[str, Any]
    delivery_policy: dict[str, Any]
    pricing_policy: dict[str, Any]
    recurring: bool
    options: list[Any]
    position: int | None
    status: str
    created_at: datetime
    updated_at: datetime


class GroupRead(CamelModel):
    id: int
    name: str
    description: str | None
    merchant_code: str | None
    summary: str | None
    options: list[Any]
    position: int | None
    plans: list[PlanRead]
    product_ids: list[int]
    created_at: datetime
    updated_at: datetime


class PaymentMethodRead(CamelModel):
    """What is saved, never the secret itself: the gateway and the kind of method (`none`:
    erased, as a customer's redaction leaves it)."""

    gateway: str
    kind: Literal["token", "stripe_customer", "none"]


class PaymentMethodUpdate(InputModel):
    """A new saved method: a gateway token (the test gateway's card), or for Stripe a
    customer and one of its payment methods."""

    gateway: Name
    token: str | None = Field(default=None, min_length=1, max_length=255)
    stripe_customer_id: str | None = Field(default=None, pattern=r"^cus_[A-Za-z0-9]{1,200}$")
    stripe_payment_method_id: str | None = Field(
        default=None, pattern=r"^(pm|card|src)_[A-Za-z0-9_]{1,200}$"
    )


class ContractRead(CamelModel):
    id: int
    status: str
    customer_id: int | None
    origin_order_id: int | None
    last_order_id: int | None
    selling_plan_id: int | None
    variant_id: int | None
    quantity: int
    currency: str
    billing_interval: str
    billing_interval_count: int
    billing_cycle: int
    next_billing_date: date
    next_attempt_at: datetime | None
    billing_attempt_count: int
    last_attempt_at: datetime | None
    last_failure_code: str | None
    last_failure_message: str | None
    payment_method: PaymentMethodRead
    paused_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime
