"""Returns of fulfilled units and their line items (new in issue 13; the seed has no table).

A return is opened for units a customer sends back (`open`), then either closed with what
was actually received (`closed`: those units are restocked, and may be refunded in the same
step) or cancelled (`cancelled`: nothing came back). A line's returned units never exceed
what was fulfilled of it (orders.returns.service, under the order's row lock).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopdb.kit.models import Base, IdMixin, TimestampMixin
from shopdb.kit.types import BigIntId, UTCDateTime

RETURN_STATUSES = ("open", "closed", "cancelled")
# Shopify's ReturnReason values, lower-cased.
RETURN_REASONS = (
    "color",
    "defective",
    "not_as_described",
    "other",
    "size_too_large",
    "size_too_small",
    "style",
    "unknown",
    "unwanted",
    "wrong_item",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Return(IdMixin, TimestampMixin, Base):
    __tablename__ = "returns"
    __table_args__ = (
        CheckConstraint(_one_of("status", RETURN_STATUSES), name="status"),
        Index("ix_returns_order_id", "order_id"),
        Index("ix_returns_status", "status"),
        Index("ix_returns_refund_id", "refund_id"),
    )

    # Deleting an order takes its returns with it; a return means nothing without its order.
    order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(
        String(20), nullable=False, default="open", server_default="open"
    )
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Where the received units were restocked (null until closed, or when nothing was
    # restocked there); a deleted location leaves the return's history, not the return.
    location_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("locations.id", ondelete="SET NULL"), nullable=True
    )
    # The refund made when the return was closed with refund=true; a refund is never deleted
    # on its own, but if its row goes the return stays, closed.
    refund_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("order_refunds.id", ondelete="SET NULL"), nullable=True
    )
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    line_items: Mapped[list[ReturnLineItem]] = relationship(
        back_populates="return_",
        order_by="ReturnLineItem.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
    )


class ReturnLineItem(IdMixin, Base):
    __tablename__ = "return_line_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "received_quantity >= 0 AND received_quantity <= quantity", name="received_quantity"
        ),
        CheckConstraint(_one_of("reason", RETURN_REASONS), name="reason"),
        Index("ix_return_line_items_return_id", "return_id"),
        Index("ix_return_line_items_line_item_id", "line_item_id"),
    )

    return_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("returns.id", ondelete="CASCADE"), nullable=False
    )
    # The order line returned from; it only goes with its order, which takes the return too.
    line_item_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("order_line_items.id", ondelete="CASCADE"), nullable=False
    )
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    received_quantity: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )
    reason: Mapped[str] = mapped_column(
        String(30), nullable=False, default="unknown", server_default="unknown"
    )
    note: Mapped[str | None] = mapped_column(Text, nullable=True)

    return_: Mapped[Return] = relationship(back_populates="line_items", lazy="raise")
