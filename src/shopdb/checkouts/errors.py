"""The checkouts domain's typed errors: each carries its status, a stable code and the field."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound


class CheckoutNotFound(NotFound):
    def __init__(self) -> None:
        # The token is a secret: it is not echoed back.
        super().__init__("Checkout not found", [{"field": "token", "message": "not found"}])


class CheckoutCompleted(Conflict):
    """409: the checkout already became an order; it can be neither changed nor completed."""

    code = "CHECKOUT_COMPLETED"

    def __init__(self, order_id: int | None) -> None:
        super().__init__(
            "The checkout is already completed"
            + (f" (order {order_id})" if order_id is not None else ""),
            [{"field": "token", "message": "is completed"}],
        )
        self.order_id = order_id


class CheckoutCompletionInProgress(Conflict):
    """409: another request is completing the checkout right now."""

    code = "CHECKOUT_COMPLETION_IN_PROGRESS"

    def __init__(self) -> None:
        super().__init__(
            "The checkout is being completed by another request; fetch it to see the result",
            [{"field": "token", "message": "is being completed"}],
        )
