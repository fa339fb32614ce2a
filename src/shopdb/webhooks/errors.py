"""Webhooks' typed errors: each carries its status, a stable code and the field it is about."""

from __future__ import annotations

from shopdb.errors import Conflict, NotFound, ShopdbError


class WebhookNotFound(NotFound):
    def __init__(self, webhook_id: int) -> None:
        super().__init__(f"Webhook {webhook_id} not found")


class WebhookDeliveryNotFound(NotFound):
    def __init__(self, webhook_id: int, delivery_id: int) -> None:
        super().__init__(f"Delivery {delivery_id} of webhook {webhook_id} not found")


class WebhookExists(Conflict):
    """One subscription per (topic, address), as Shopify: a second would deliver twice."""

    code = "WEBHOOK_EXISTS"

    def __init__(self, topic: str, address: str) -> None:
        super().__init__(
            f"{address} is already subscribed to {topic}",
            [{"field": "address", "message": f"is already subscribed to {topic}"}],
        )


class AddressRefused(ShopdbError):
    """The address is not one deliveries may go to (scheme, credentials, or a private,
    loopback or link-local host in production: server-side request forgery)."""

    status_code = 422
    code = "WEBHOOK_ADDRESS_REFUSED"

    def __init__(self, message: str) -> None:
        super().__init__(message, [{"field": "address", "message": message}])


class DeliveryInFlight(Conflict):
    code = "DELIVERY_IN_FLIGHT"

    def __init__(self, delivery_id: int) -> None:
        super().__init__(
            f"Delivery {delivery_id} is being sent right now; ask again once it is done"
        )


class WebhookInactive(Conflict):
    code = "WEBHOOK_INACTIVE"

    def __init__(self, webhook_id: int) -> None:
        super().__init__(
            f"Webhook {webhook_id} is inactive: nothing is sent to it; activate it first",
            [{"field": "active", "message": "is false"}],
        )
