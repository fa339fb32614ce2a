"""Gift cards and discount codes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin, SoftDeleteMixin, TimestampMixin, VersionMixin
from shopdb.kit.types import BigIntId, Money, UTCDateTime


class GiftCard(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "gift_cards"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint("balance >= 0", name="balance"),
        CheckConstraint("balance <= initial_value", name="balance_within_initial_value"),
        Index("ix_gift_cards_code", "code"),
        Index("ix_gift_cards_customer_id", "customer_id"),
        Index("ix_gift_cards_status", "status"),
    )

    code: Mapped[str] = mapped_column(String(255), nullable=False)
    initial_value: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    balance: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(
        String(50), nullable=False, default="active", server_default="active"
    )
    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DiscountCode(IdMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    __tablename__ = "discount_codes"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint("used_count >= 0", name="used_count"),
        Index("ix_discount_codes_code", "code"),
        Index("ix_discount_codes_type", "type"),
        Index("ix_discount_codes_starts_at", "starts_at"),
        Index("ix_discount_codes_ends_at", "ends_at"),
    )

    code: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    value: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    minimum_amount: Mapped[Decimal | None] = mapped_column(Money(10, 2), nullable=True)
    usage_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    used_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
