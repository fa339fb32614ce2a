"""Selling plan groups, their selling plans, and which products offer them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, CreatedAtMixin, IdMixin, TimestampMixin
from shopdb.kit.types import BigIntId, JSONType


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
