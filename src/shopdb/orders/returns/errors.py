"""The returns' typed errors: each carries its status, a stable code and the field."""

from __future__ import annotations

from shopdb.errors import NotFound, ShopdbError


class ReturnNotFound(NotFound):
    def __init__(self, order_id: int, return_id: int) -> None:
        super().__init__(f"Return {return_id} of order {order_id} not found")


class ReturnRefused(ShopdbError):
    """422: a well-formed request that the order's state refuses; the code names the rule."""

    status_code = 422
    code = "RETURN_REFUSED"

    def __init__(self, message: str, field: str, reason: str) -> None:
        super().__init__(message, [{"field": field, "message": reason}])


class LineItemNotInOrder(ReturnRefused):
    code = "LINE_ITEM_NOT_FOUND"

    def __init__(self, line_item_id: int, field: str) -> None:
        super().__init__(
            f"Line item {line_item_id} is not a line of this order",
            field,
            f"line item {line_item_id} is not in the order",
        )


class ReturnExceedsFulfilled(ReturnRefused):
    """More units than were fulfilled and are not already in another return."""

    code = "RETURN_EXCEEDS_FULFILLED"

    def __init__(self, line_item_id: int, returnable: int, field: str) -> None:
        super().__init__(
            f"Line item {line_item_id} has {returnable} fulfilled units left to return",
            field,
            f"at most {returnable} (fulfilled units not already returned)",
        )


class ReturnNotOpen(ReturnRefused):
    code = "RETURN_NOT_OPEN"

    def __init__(self, return_id: int, status: str) -> None:
        super().__init__(
            f"Return {return_id} is {status}; only an open return can be closed or cancelled",
            "status",
            f"is {status}",
        )


class ReturnLineItemNotInReturn(ReturnRefused):
    code = "RETURN_LINE_ITEM_NOT_FOUND"

    def __init__(self, return_line_item_id: int, field: str) -> None:
        super().__init__(
            f"Return line item {return_line_item_id} is not a line of this return",
            field,
            f"return line item {return_line_item_id} is not in the return",
        )


class ReceivedExceedsReturned(ReturnRefused):
    code = "RECEIVED_EXCEEDS_RETURNED"

    def __init__(self, return_line_item_id: int, quantity: int, field: str) -> None:
        super().__init__(
            f"Return line item {return_line_item_id} asked to return {quantity} units",
            field,
            f"at most {quantity} (the units the return line asked for)",
        )


class RestockLocationRequired(ReturnRefused):
    """The line's own location is gone (deleted) and the request names none."""

    code = "RESTOCK_LOCATION_REQUIRED"

    def __init__(self, line_item_id: int) -> None:
        super().__init__(
            f"Line item {line_item_id} has no location to restock at; give locationId",
            "locationId",
            "required: the line's own location no longer exists",
        )
