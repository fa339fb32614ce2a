"""Selling plan groups, their selling plans, which products offer them, and the subscription
contracts that orders of a recurring plan open (new in issue 16; the seed has no contracts)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, CreatedAtMixin, IdMixin, TimestampMixin
from shopdb.kit.types import BigIntId, JSONType, UTCDateTime

BILLING_INTERVALS = ("day", "week", "month", "year")
CONTRACT_STATUSES = ("active", "paused", "cancelled")
# The cipher context of subscription_contracts.payment_method (kit/crypto.py).
CONTRACT_PAYMENT_METHOD = "subscription_contracts.payment_method"


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SellingPlanGroup(IdMixin, TimestampMixin, Base):
    __tablename__ = "selling_plan_groups"
    __table_args__ = (
        Index("ix_selling_plan_groups_name", "name"),
        Index("ix_selling_plan_groups_merchant_code", "merchant_code"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    merchant_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    summary: Mapped[str | None] = mapped_column(String(500), nullable=True)
    options: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)

    selling_plans: Mapped[list[SellingPlan]] = relationship(
        back_populates="selling_plan_group",
        order_by="SellingPlan.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class SellingPlan(IdMixin, TimestampMixin, Base):
    __tablename__ = "selling_plans"
    __table_args__ = (
        Index("ix_selling_plans_selling_plan_group_id", "selling_plan_group_id"),
        Index("ix_selling_plans_name", "name"),
        Index("ix_selling_plans_status", "status"),
        Index("ix_selling_plans_created_at", "created_at"),
    )

    selling_plan_group_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("selling_plan_groups.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    billing_policy: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    delivery_policy: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    pricing_policy: Mapped[Any] = mapped_column(JSONType, nullable=False)
    options: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="active", server_default="active"
    )

    selling_plan_group: Mapped[SellingPlanGroup] = relationship(
        back_populates="selling_plans", lazy="raise"
    )


class ProductSellingPlan(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "product_selling_plans"
    __table_args__ = (
        UniqueConstraint("product_id", "selling_plan_id"),
        Index("ix_product_selling_plans_product_id", "product_id"),
        Index("ix_product_selling_plans_selling_plan_id", "selling_plan_id"),
    )

    product_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("products.id", ondelete="CASCADE"), nullable=False
    )
    selling_plan_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("selling_plans.id", ondelete="CASCADE"), nullable=False
    )


class SubscriptionContract(IdMixin, TimestampMixin, Base):
    """One recurring line of an order: the variant and quantity billed every interval, by
    placing an order through the same placement as POST /orders, paid with the saved method.

    `billing_cycle` is the index of the next cycle to bill (the origin order was cycle 0);
    `next_billing_date` is `anchor_date` plus that many intervals. `next_attempt_at` is when
    the worker tries it next: the cycle's date, or a retry's time after a failed billing
    (`billing_attempt_count` failures so far in this cycle). `billing_lease_until` is the
    claim of the worker billing it now.
    """

    __tablename__ = "subscription_contracts"
    __table_args__ = (
        CheckConstraint(_one_of("status", CONTRACT_STATUSES), name="status"),
        CheckConstraint(_one_of("billing_interval", BILLING_INTERVALS), name="billing_interval"),
        CheckConstraint("billing_interval_count >= 1", name="billing_interval_count"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("billing_cycle >= 0", name="billing_cycle"),
        CheckConstraint("billing_attempt_count >= 0", name="billing_attempt_count"),
        Index("ix_subscription_contracts_customer_id", "customer_id"),
        Index("ix_subscription_contracts_origin_order_id", "origin_order_id"),
        Index("ix_subscription_contracts_selling_plan_id", "selling_plan_id"),
        Index("ix_subscription_contracts_status_next_attempt_at", "status", "next_attempt_at"),
    )

    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    origin_order_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="SET NULL"), nullable=True
    )
    last_order_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="SET NULL"), nullable=True
    )
    selling_plan_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("selling_plans.id", ondelete="SET NULL"), nullable=True
    )
    product_variant_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("product_variants.id", ondelete="SET NULL"), nullable=True
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="active", server_default="active"
    )
    billing_interval: Mapped[str] = mapped_column(String(10), nullable=False)
    billing_interval_count: Mapped[int] = mapped_column(Integer, nullable=False)
    anchor_date: Mapped[date] = mapped_column(Date, nullable=False)
    billing_cycle: Mapped[int] = mapped_column(
        Integer, nullable=False, default=1, server_default="1"
    )
    next_billing_date: Mapped[date] = mapped_column(Date, nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True), nullable=False)
    billing_attempt_count: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    last_attempt_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(timezone=True), nullable=True
    )
    last_failure_code: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_failure_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    billing_lease_until: Mapped[datetime | None] = mapped_column(
        UTCDateTime(timezone=True), nullable=True
    )
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(timezone=True), nullable=True)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    shipping_rate_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("shipping_rates.id", ondelete="SET NULL"), nullable=True
    )
    # The saved payment method: the gateway in clear, the method sealed (a JSON object: the
    # test gateway's card token, or Stripe's customer and payment method ids).
    payment_gateway: Mapped[str] = mapped_column(String(50), nullable=False)
    payment_method: Mapped[str] = mapped_column(Text, nullable=False)
