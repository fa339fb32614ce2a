"""Checkouts: a cart with its buyer and addresses, priced like an order, until it is completed.

An abandoned checkout (not completed some hours after its last update) is also written to the
seed's `abandoned_checkouts_enhanced` (the source of truth of what was abandoned) and
`abandoned_checkouts` (its summary mirror); see shopdb.checkouts.abandonment.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin, TimestampMixin, VersionMixin
from shopdb.kit.types import BigIntId, JSONType, Money, UTCDateTime
from shopdb.models.customers import ENCRYPTED_EMAIL_LENGTH

# Cipher contexts (bound into each ciphertext as associated data).
CHECKOUT_EMAIL = "checkouts.email"
CHECKOUT_GIFT_CARD_CODES = "checkouts.gift_card_codes"

# Checkouts the abandonment job still has to look at: neither completed nor abandoned.
PENDING_ROWS = sa.text("completed_at IS NULL AND abandoned_at IS NULL")
NOT_COMPLETED = sa.text("completed_at IS NULL")


class Checkout(IdMixin, TimestampMixin, VersionMixin, Base):
    __tablename__ = "checkouts"
    __table_args__ = (
        Index("ux_checkouts_token", "token", unique=True),
        Index("ix_checkouts_email_hash", "email_hash"),
        Index("ix_checkouts_customer_id", "customer_id"),
        Index(
            "ix_checkouts_pending_updated_at",
            "updated_at",
            postgresql_where=PENDING_ROWS,
            sqlite_where=PENDING_ROWS,
        ),
        # A retention run's checkouts (never completed, oldest first; migration 0030).
        Index(
            "ix_checkouts_created_at_id",
            "created_at",
            "id",
            postgresql_where=NOT_COMPLETED,
            sqlite_where=NOT_COMPLETED,
        ),
    )

    # Random and URL-safe: whoever holds it may read and complete the checkout.
    token: Mapped[str] = mapped_column(String(64), nullable=False)
    # Sealed with CHECKOUT_EMAIL; `email_hash` is the customers' blind index of it.
    email: Mapped[str] = mapped_column(String(ENCRYPTED_EMAIL_LENGTH), nullable=False)
    email_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    customer_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("customers.id", ondelete="SET NULL"), nullable=True
    )
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    # What the buyer asked for: [{variantId, quantity}], repriced from the catalog each time.
    requested_lines: Mapped[list[Any]] = mapped_column(JSONType, nullable=False)
    # The lines as last priced: title, sku, price, quantity, discount share.
    line_items: Mapped[list[Any]] = mapped_column(JSONType, nullable=False)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    shipping_rate_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("shipping_rates.id", ondelete="SET NULL"), nullable=True
    )
    discount_code: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # A JSON list sealed with CHECKOUT_GIFT_CARD_CODES: a gift card's code spends its balance.
    gift_card_codes: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    subtotal_price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    total_discounts: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    total_shipping: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    total_tax: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    total_price: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    taxes_included: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=sa.false()
    )
    total_weight: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    tax_lines: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    shipping_line: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # Set while a completion places its order, so that a second one waits its turn (409).
    completing_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    order_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="SET NULL"), nullable=True
    )
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
