"""/api/v1/orders/{id}/fulfillments, /api/v1/fulfillment-orders, /api/v1/fulfillment-services."""

from __future__ import annotations

from shopdb.kit.routing import domain_router

router = domain_router("/orders", tags=["fulfillments"])
fulfillment_orders_router = domain_router("/fulfillment-orders", tags=["fulfillments"])
fulfillment_services_router = domain_router("/fulfillment-services", tags=["fulfillments"])
