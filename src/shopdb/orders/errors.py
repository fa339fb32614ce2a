"""The orders domain's typed errors: each carries its status, a stable code and the field."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound, ShopdbError


class OrderNotFound(NotFound):
    def __init__(self, order_id: int) -> None:
        super().__init__(f"Order {order_id} not found")


class VariantOutOfStock(Conflict):
    """409 INSUFFICIENT_INVENTORY, as inventory's own, but naming the variant and the line."""

    code = "INSUFFICIENT_INVENTORY"

    def __init__(self, variant_id: int, field: str) -> None:
        super().__init__(
            f"Variant {variant_id} does not have enough stock for this order",
            [{"field": f"{field}.quantity", "message": f"variant {variant_id}: not enough stock"}],
        )


class PaymentDeclined(ShopdbError):
    """402: the gateway said no; nothing of the order is left behind."""

    status_code = 402
    code = "PAYMENT_DECLINED"

    def __init__(self, reason: str | None, message: str | None) -> None:
        reason = reason or "card_declined"
        super().__init__(
            message or "The payment was declined",
            [{"field": "payment", "message": reason}],
        )
        self.reason = reason


class PaymentGatewayError(ShopdbError):
    """502: the gateway could not answer; nothing of the order is left behind."""

    status_code = 502
    code = "PAYMENT_GATEWAY_ERROR"

    def __init__(self, reason: str | None) -> None:
        super().__init__(
            "The payment gateway could not process the payment; try again",
            [{"field": "payment", "message": reason or "processing_error"}],
        )


class ReservationExpired(Conflict):
    """The payment took longer than the reservation lasts, and the worker released it."""

    code = "ORDER_RESERVATION_EXPIRED"

    def __init__(self) -> None:
        super().__init__(
            "The order's reservation expired before its payment was recorded; the payment "
            "was voided; place the order again",
            [{"field": "payment", "message": "took longer than the reservation lasts"}],
        )
