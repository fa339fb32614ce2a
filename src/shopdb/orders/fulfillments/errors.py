"""Fulfillments' typed errors: 422 with a code naming the broken rule, 404 for what is not there."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound, ShopdbError


class Unprocessable(ShopdbError):
    status_code = 422


class FulfillmentNotFound(NotFound):
    def __init__(self, fulfillment_id: int) -> None:
        super().__init__(f"Fulfillment {fulfillment_id} not found")


class FulfillmentOrderNotFound(NotFound):
    def __init__(self, fulfillment_order_id: int) -> None:
        super().__init__(f"Fulfillment order {fulfillment_order_id} not found")


class FulfillmentServiceNotFound(NotFound):
    def __init__(self, service_id: int) -> None:
        super().__init__(f"Fulfillment service {service_id} not found")


class LineItemNotInOrder(Unprocessable):
    code = "LINE_ITEM_NOT_FOUND"

    def __init__(self, line_item_id: int, field: str) -> None:
        super().__init__(
            f"Line item {line_item_id} is not a line of this order",
            [{"field": field, "message": f"line item {line_item_id} is not in the order"}],
        )


class FulfillmentExceedsFulfillable(Unprocessable):
    """Ordered minus already fulfilled minus removed (refunded or cancelled unshipped)."""

    code = "FULFILLMENT_EXCEEDS_FULFILLABLE"

    def __init__(self, line_item_id: int, fulfillable: int, field: str) -> None:
        super().__init__(
            f"Line item {line_item_id} has only {fulfillable} unit(s) left to fulfil",
            [{"field": field, "message": f"at most {fulfillable}"}],
        )


class NothingToFulfil(Unprocessable):
    code = "NOTHING_TO_FULFIL"

    def __init__(self) -> None:
        super().__init__(
            "The order has no units left to fulfil",
            [{"field": "lineItems", "message": "every unit is fulfilled or removed"}],
        )


class FulfillmentLocationMismatch(Unprocessable):
    """A line's units are committed at one location; they ship from there."""

    code = "FULFILLMENT_LOCATION_MISMATCH"

    def __init__(self, line_item_id: int, location_id: int, field: str) -> None:
        super().__init__(
            f"Line item {line_item_id} is stocked at location {location_id}",
            [{"field": field, "message": f"ships from location {location_id}"}],
        )


class OrderCancelled(Unprocessable):
    code = "ORDER_CANCELLED"

    def __init__(self) -> None:
        super().__init__(
            "A cancelled order cannot be fulfilled",
            [{"field": "orderId", "message": "the order is cancelled"}],
        )


class FulfillmentCancelled(Unprocessable):
    code = "FULFILLMENT_CANCELLED"

    def __init__(self, fulfillment_id: int) -> None:
        super().__init__(
            f"Fulfillment {fulfillment_id} is cancelled",
            [{"field": "status", "message": "already cancelled"}],
        )


class FulfillmentUnitsReturned(Unprocessable):
    """Cancelling a fulfillment un-ships its units; units of it already refunded or taken
    back by a return must stay shipped, or they could be refunded (or returned) again."""

    code = "FULFILLMENT_UNITS_RETURNED"

    def __init__(self, line_item_id: int, taken: int, left: int) -> None:
        super().__init__(
            f"Line item {line_item_id} has {taken} shipped unit(s) refunded or returned; "
            f"cancelling this fulfillment would leave {left} fulfilled",
            [
                {
                    "field": "lineItems",
                    "message": f"line item {line_item_id}: {taken} unit(s) refunded or returned",
                }
            ],
        )


class FulfillmentOrderTransition(Unprocessable):
    """A fulfillment order action its current state does not allow."""

    code = "FULFILLMENT_ORDER_INVALID_TRANSITION"

    def __init__(self, action: str, status: str, request_status: str) -> None:
        super().__init__(
            f"Cannot {action} a fulfillment order that is {status} ({request_status})",
            [{"field": "status", "message": f"{status}/{request_status}: cannot {action}"}],
        )


class FulfillmentOrderNeedsService(Unprocessable):
    code = "FULFILLMENT_ORDER_NO_SERVICE"

    def __init__(self) -> None:
        super().__init__(
            "Only a fulfillment service can be asked to fulfil; name one",
            [{"field": "fulfillmentServiceId", "message": "required for a location's order"}],
        )


class FulfillmentServiceHandleTaken(Conflict):
    code = "FULFILLMENT_SERVICE_HANDLE_TAKEN"

    def __init__(self, handle: str) -> None:
        super().__init__(
            f"A fulfillment service with handle {handle!r} exists",
            [{"field": "handle", "message": "is taken"}],
        )


class FulfillmentServiceInUse(Unprocessable):
    code = "FULFILLMENT_SERVICE_IN_USE"

    def __init__(self, service_id: int) -> None:
        super().__init__(
            f"Fulfillment service {service_id} still has fulfillment orders",
            [{"field": "id", "message": "has fulfillment orders"}],
        )


class FulfillmentServiceBuiltIn(Unprocessable):
    code = "FULFILLMENT_SERVICE_BUILT_IN"

    def __init__(self) -> None:
        super().__init__(
            "The manual fulfillment service is built in",
            [{"field": "id", "message": "cannot be changed or deleted"}],
        )
