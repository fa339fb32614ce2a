"""Gift cards (with their balance ledger) and discount codes."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import (
    Base,
    CreatedAtMixin,
    IdMixin,
    SoftDeleteMixin,
    TimestampMixin,
    VersionMixin,
)
from shopdb.kit.types import BigIntId, Money, UTCDateTime

GIFT_CARD_STATUSES = ("active", "disabled")
GIFT_CARD_TRANSACTION_KINDS = ("issue", "adjustment", "debit", "credit")
DISCOUNT_TYPES = ("percentage", "fixed_amount", "free_shipping")

# Discount codes are case-insensitive (as Shopify's): one code in any letter case, and the
# lookup compares lower-cased through this index (migration 0013).
DISCOUNT_CODE_KEY_SQL = "lower(code)"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class GiftCard(IdMixin, TimestampMixin, VersionMixin, Base):
    """`code` holds the keyed hash (HMAC) of the normalised code, never the code itself:
    a lookup by the full code works, the database does not reveal it. `last_characters` is
    what is shown afterwards. The balance may be adjusted above the initial value (as
    Shopify's credits may), never below zero; `gift_card_transactions` is its ledger."""

    __tablename__ = "gift_cards"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint("balance >= 0", name="balance"),
        CheckConstraint("initial_value > 0", name="initial_value"),
        CheckConstraint(_in("status", GIFT_CARD_STATUSES), name="status"),
        Index("ix_gift_cards_code", "code"),
        Index("ix_gift_cards_customer_id", "customer_id"),
        Index("ix_gift_cards_status", "status"),
        Index("ix_gift_cards_last_characters", "last_characters"),
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
    last_characters: Mapped[str] = mapped_column(String(4), nullable=False)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class GiftCardTransaction(IdMixin, CreatedAtMixin, Base):
    """One change of a gift card's balance; the sum of a card's amounts is its balance."""

    __tablename__ = "gift_card_transactions"
    __table_args__ = (
        CheckConstraint(_in("kind", GIFT_CARD_TRANSACTION_KINDS), name="kind"),
        CheckConstraint("amount <> 0", name="amount"),
        Index("ix_gift_card_transactions_gift_card_id_id", "gift_card_id", "id"),
        Index("ix_gift_card_transactions_order_id", "order_id"),
    )

    gift_card_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("gift_cards.id", ondelete="CASCADE"), nullable=False
    )
    amount: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Plain BIGINT: orders belong to another package, and a ledger row outlives its order.
    order_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class DiscountCode(IdMixin, TimestampMixin, SoftDeleteMixin, VersionMixin, Base):
    """`currency` is required for a fixed amount; on any other type it restricts the code to
    checkouts in that currency. `used_count` only moves through single guarded UPDATEs."""

    __tablename__ = "discount_codes"
    __table_args__ = (
        UniqueConstraint("code"),
        CheckConstraint("used_count >= 0", name="used_count"),
        CheckConstraint(_in("type", DISCOUNT_TYPES), name="type"),
        CheckConstraint(
            "(type = 'percentage' AND value > 0 AND value <= 100)"
            " OR (type = 'fixed_amount' AND value > 0 AND currency IS NOT NULL)"
            " OR (type = 'free_shipping' AND value = 0)",
            name="value",
        ),
        CheckConstraint("minimum_amount IS NULL OR minimum_amount >= 0", name="minimum_amount"),
        CheckConstraint(
            "usage_limit IS NULL OR (usage_limit >= 1 AND used_count <= usage_limit)",
            name="usage_limit",
        ),
        CheckConstraint(
            "starts_at IS NULL OR ends_at IS NULL OR ends_at > starts_at", name="window"
        ),
        Index("ix_discount_codes_code", "code"),
        Index("ix_discount_codes_type", "type"),
        Index("ix_discount_codes_starts_at", "starts_at"),
        Index("ix_discount_codes_ends_at", "ends_at"),
        Index(
            "ux_discount_codes_lower_code", sa.literal_column(DISCOUNT_CODE_KEY_SQL), unique=True
        ),
    )

    code: Mapped[str] = mapped_column(String(255), nullable=False)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    value: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    minimum_amount: Mapped[Decimal | None] = mapped_column(Money(10, 2), nullable=True)
    usage_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    used_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
