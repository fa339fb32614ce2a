"""Cancel, close and reopen on the wire."""

from __future__ import annotations

from typing import Literal

from shopdb.kit.schemas import InputModel
from shopdb.orders.schemas import OrderDetail

CancelReason = Literal["customer", "fraud", "inventory", "declined", "other"]


class OrderCancel(InputModel):
    reason: CancelReason = "other"
    # Put the unfulfilled units back on sale (committed -> available); false: they leave
    # committed without going back to available.
    restock: bool = True
    # Refund what was captured (through a refund, as POST /refunds would).
    refund: bool = False
    # Shopify's `email` (notify the customer): accepted; no cancellation email exists yet.
    email: bool = False


class OrderActionRead(OrderDetail):
    """The order after cancel, close or open: OrderDetail with the cancellation's reason."""

    cancel_reason: str | None
