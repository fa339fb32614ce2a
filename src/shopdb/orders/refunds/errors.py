"""Refunds' errors: each a 422 whose code names the rule the refund would break."""

from __future__ import annotations

from decimal import Decimal

from shopdb.errors import ShopdbError


class RefundRuleBroken(ShopdbError):
    status_code = 422
    code = "REFUND_INVALID"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, [{"field": field, "message": message}])


class RefundLineItemInvalid(RefundRuleBroken):
    code = "REFUND_LINE_ITEM_INVALID"

    def __init__(self, line_item_id: int, field: str) -> None:
        super().__init__(f"Line item {line_item_id} is not a line of this order", field)


class RefundQuantityExceeded(RefundRuleBroken):
    """More units than the line has left to refund: never refund a unit twice."""

    code = "REFUND_QUANTITY_EXCEEDED"

    def __init__(self, line_item_id: int, asked: int, left: int, field: str) -> None:
        super().__init__(
            f"Line item {line_item_id} has {left} unit(s) left to refund, not {asked}", field
        )


class RestockCancelExceedsUnfulfilled(RefundRuleBroken):
    """restockType `cancel` puts committed units back: only unfulfilled units have any."""

    code = "RESTOCK_CANCEL_EXCEEDS_UNFULFILLED"

    def __init__(self, line_item_id: int, asked: int, unfulfilled: int, field: str) -> None:
        super().__init__(
            f"Line item {line_item_id} has {unfulfilled} unfulfilled unit(s) to cancel, not "
            f"{asked}; refund fulfilled units with restockType return or no_restock",
            field,
        )


class RestockReturnExceedsFulfilled(RefundRuleBroken):
    """restockType `return` takes back units that were shipped: only fulfilled ones were."""

    code = "RESTOCK_RETURN_EXCEEDS_FULFILLED"

    def __init__(self, line_item_id: int, asked: int, fulfilled: int, field: str) -> None:
        super().__init__(
            f"Line item {line_item_id} has {fulfilled} fulfilled unit(s) not yet refunded to "
            f"return, not {asked}; refund unfulfilled units with restockType cancel",
            field,
        )


class ShippingRefundExceeded(RefundRuleBroken):
    code = "REFUND_SHIPPING_EXCEEDED"

    def __init__(self, asked: Decimal, left: Decimal) -> None:
        super().__init__(
            f"Refunding {asked} of shipping exceeds what is left of it to refund ({left})",
            "shipping.amount",
        )


class RefundEmpty(RefundRuleBroken):
    code = "REFUND_EMPTY"

    def __init__(self) -> None:
        super().__init__("A refund needs line items, shipping or a transaction", "refundLineItems")


class RefundTransactionInvalid(RefundRuleBroken):
    code = "REFUND_TRANSACTION_INVALID"


class RefundFailed(ShopdbError):
    """The gateway refused the refund (or could not answer): nothing of it is kept, and
    a retry (with the same Idempotency-Key) may be tried."""

    status_code = 402
    code = "REFUND_FAILED"

    def __init__(self, error_code: str | None, message: str | None) -> None:
        reason = error_code or "refund_failed"
        super().__init__(
            message or "The payment gateway did not refund the payment",
            [{"field": "transactions", "message": reason}],
        )
        self.reason = reason
