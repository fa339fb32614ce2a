"""B2B companies and their negotiated payment terms.

`companies.outstanding_balance` (not in the seed) is what the company's unpaid orders on
payment terms still owe: the sum of their `orders.credit_held`. It moves only by guarded
UPDATEs (shopdb.companies.terms), never above `credit_limit` when an order is placed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, IdMixin, TimestampMixin, VersionMixin
from shopdb.kit.types import BigIntId, JSONType, Money


class Company(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "companies"
    __table_args__ = (
        CheckConstraint("credit_limit >= 0", name="credit_limit"),
        CheckConstraint("outstanding_balance >= 0", name="outstanding_balance"),
        Index("ix_companies_company_name", "company_name"),
        Index("ix_companies_tax_id", "tax_id"),
        Index("ix_companies_status", "status"),
        Index("ix_companies_created_at", "created_at"),
    )

    company_name: Mapped[str] = mapped_column(String(255), nullable=False)
    tax_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    credit_limit: Mapped[Decimal] = mapped_column(
        Money(15, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    payment_terms: Mapped[str | None] = mapped_column(String(100), nullable=True)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    contact_email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    contact_phone: Mapped[str | None] = mapped_column(String(50), nullable=True)
    status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="active", server_default="active"
    )
    # What its unpaid orders on payment terms owe (see the module docstring).
    outstanding_balance: Mapped[Decimal] = mapped_column(
        Money(15, 2), nullable=False, default=Decimal("0"), server_default="0"
    )

    b2b_payment_terms: Mapped[list[B2BPaymentTerm]] = relationship(
        back_populates="company",
        order_by="B2BPaymentTerm.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class B2BPaymentTerm(IdMixin, TimestampMixin, Base):
    __tablename__ = "b2b_payment_terms"
    __table_args__ = (
        CheckConstraint("net_days > 0", name="net_days"),
        CheckConstraint("discount_percentage >= 0 AND discount_percentage <= 100", name="discount"),
        Index("ix_b2b_payment_terms_company_id", "company_id"),
        Index("ix_b2b_payment_terms_net_days", "net_days"),
    )

    company_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("companies.id", ondelete="CASCADE"), nullable=False
    )
    net_days: Mapped[int] = mapped_column(Integer, nullable=False, default=30, server_default="30")
    discount_percentage: Mapped[Decimal] = mapped_column(
        Money(5, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    credit_limit: Mapped[Decimal] = mapped_column(
        Money(15, 2), nullable=False, default=Decimal("0"), server_default="0"
    )
    payment_method_preferences: Mapped[Any] = mapped_column(JSONType, nullable=True)
    early_payment_discount_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    late_payment_fee_percentage: Mapped[Decimal | None] = mapped_column(Money(5, 2), nullable=True)

    company: Mapped[Company] = relationship(back_populates="b2b_payment_terms", lazy="raise")
