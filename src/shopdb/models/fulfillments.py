"""Fulfillment orders' line items (new in issue 13; the seed's fulfillment_orders has none).

A fulfillment order (models.orders.FulfillmentOrder) is the group of an order's lines that one
location or fulfillment service ships; its line items say which order lines and how many of
their units. Placement writes one fulfillment order per location with a line item per order
line (orders.fulfillments.service.open_fulfillment_orders); an order line belongs to at most
one open or in-progress fulfillment order at a time.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopdb.kit.models import Base, IdMixin
from shopdb.kit.types import BigIntId

# The built-in fulfillment service of merchant-managed locations (Shopify's legacy
# `fulfillment_service: "manual"`): the seed's fulfillment_orders.fulfillment_service_id is
# NOT NULL, so a location's own fulfillment orders name this row (written by migration
# 0022_fulfillments) and their location in assigned_location_id.
MANUAL_SERVICE_HANDLE = "manual"
FULFILLMENT_ORDER_STATUSES = ("open", "in_progress", "closed", "cancelled")
REQUEST_STATUSES = ("unsubmitted", "submitted", "accepted", "rejected", "closed")


class FulfillmentOrderLineItem(IdMixin, Base):
    __tablename__ = "fulfillment_order_line_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        UniqueConstraint("fulfillment_order_id", "line_item_id"),
        Index("ix_fulfillment_order_line_items_line_item_id", "line_item_id"),
    )

    fulfillment_order_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("fulfillment_orders.id", ondelete="CASCADE"), nullable=False
    )
    line_item_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("order_line_items.id", ondelete="CASCADE"), nullable=False
    )
    # The line's units assigned to this fulfillment order when it was opened; what is still
    # to ship is the order line's own fulfillable quantity (fulfillments and refunds move it).
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
