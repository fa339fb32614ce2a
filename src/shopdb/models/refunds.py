"""What a refund of an order moved: its line items and its transactions (new in issue 13).

`order_refunds` (models/orders.py) is the source of truth for a refund: its amount, subtotal,
tax and shipping. Each refunded line is an `order_refund_line_items` row (how many units,
Shopify's restock type, where they were restocked, what they were worth). Each refund
transaction it made is an `order_refund_transactions` row naming the `order_transactions` row
(the money's source of truth) and the payment side's `refunds` row that mirrors it, written in
the same transaction (orders.refunds.repository).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin
from shopdb.kit.types import BigIntId, Money

# Shopify's refund_line_items[].restock_type.
RESTOCK_TYPES = ("no_restock", "cancel", "return")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class OrderRefundLineItem(IdMixin, Base):
    __tablename__ = "order_refund_line_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "removed_quantity >= 0 AND removed_quantity <= quantity", name="removed_quantity"
        ),
        CheckConstraint(_one_of("restock_type", RESTOCK_TYPES), name="restock_type"),
        Index("ix_order_refund_line_items_order_refund_id", "order_refund_id"),
        Index("ix_order_refund_line_items_line_item_id", "line_item_id"),
    )

    order_refund_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("order_refunds.id", ondelete="CASCADE"), nullable=False
    )
    # The order line refunded; it only goes with its order, which takes the refund too.
    line_item_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("order_line_items.id", ondelete="CASCADE"), nullable=False
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    # How many of `quantity` were still unfulfilled when refunded: they were added to the
    # line's removed_quantity (the rest had been fulfilled).
    removed_quantity: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    restock_type: Mapped[str] = mapped_column(
        String(20), nullable=False, default="no_restock", server_default="no_restock"
    )
    # Where the units were restocked (null for no_restock, an untracked item, or a deleted
    # location: the refund's history stays).
    location_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("locations.id", ondelete="SET NULL"), nullable=True
    )
    # price x quantity less the line's discount share for these units; their tax share.
    subtotal: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)
    total_tax: Mapped[Decimal] = mapped_column(Money(10, 2), nullable=False)


class OrderRefundTransaction(IdMixin, Base):
    __tablename__ = "order_refund_transactions"
    __table_args__ = (
        Index("ix_order_refund_transactions_order_refund_id", "order_refund_id"),
        Index(
            "ux_order_refund_transactions_order_transaction_id",
            "order_transaction_id",
            unique=True,
        ),
        Index("ux_order_refund_transactions_refund_id", "refund_id", unique=True),
    )

    order_refund_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("order_refunds.id", ondelete="CASCADE"), nullable=False
    )
    # The refund transaction (kind `refund`) this refund made.
    order_transaction_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("order_transactions.id", ondelete="CASCADE"), nullable=False
    )
    # Its mirror on the payment side: a `refunds` row of the refunded payment.
    refund_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("refunds.id", ondelete="SET NULL"), nullable=True
    )
