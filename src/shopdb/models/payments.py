"""Payments against orders and the transactions and refunds recorded on each payment."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, CreatedAtMixin, IdMixin
from shopdb.kit.types import BigIntId, Money, UTCDateTime


class Payment(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (
        Index("ix_payments_order_id", "order_id"),
        Index("ix_payments_gateway", "gateway"),
        Index("ix_payments_status", "status"),
        Index("ix_payments_transaction_id", "transaction_id"),
    )

    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    gateway: Mapped[str] = mapped_column(String(100), nullable=False)
    status: Mapped[str] = mapped_column(String(50), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    payment_method: Mapped[str | None] = mapped_column(String(100), nullable=True)
    transaction_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    transactions: Mapped[list[Transaction]] = relationship(
        back_populates="payment",
        order_by="Transaction.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="payment",
        order_by="Refund.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class Transaction(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_payment_id", "payment_id"),
        Index("ix_transactions_type", "type"),
        Index("ix_transactions_status", "status"),
        UniqueConstraint("order_transaction_id"),
    )

    payment_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("payments.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    status: Mapped[str] = mapped_column(String(50), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reference: Mapped[str | None] = mapped_column(String(255), nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The order_transactions row this one mirrors (order_transactions is the source of truth;
    # the two are written in one transaction).
    order_transaction_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("order_transactions.id", ondelete="CASCADE"), nullable=True
    )

    payment: Mapped[Payment] = relationship(back_populates="transactions", lazy="raise")


class Refund(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "refunds"
    __table_args__ = (
        Index("ix_refunds_payment_id", "payment_id"),
        Index("ix_refunds_status", "status"),
    )

    payment_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("payments.id", ondelete="CASCADE"), nullable=False
    )
    amount: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(50), nullable=False)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    payment: Mapped[Payment] = relationship(back_populates="refunds", lazy="raise")
