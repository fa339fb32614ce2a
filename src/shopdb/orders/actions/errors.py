"""Cancel's errors: each a 422 whose code names the rule the request would break."""

from __future__ import annotations

from shopdb.errors import ShopdbError


class OrderActionRefused(ShopdbError):
    status_code = 422
    code = "ORDER_ACTION_INVALID"

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, [{"field": field, "message": message}])


class OrderFulfilled(OrderActionRefused):
    code = "ORDER_FULFILLED"

    def __init__(self) -> None:
        super().__init__(
            "The order has fulfilled units that were not refunded: it cannot be cancelled; "
            "refund them (restockType return) first",
            "orderId",
        )


class OrderAlreadyCancelled(OrderActionRefused):
    code = "ORDER_CANCELLED"

    def __init__(self) -> None:
        super().__init__("The order is cancelled already", "orderId")
