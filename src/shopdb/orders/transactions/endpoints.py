"""/api/v1/orders/{id}/...: transactions."""

from __future__ import annotations

from shopdb.kit.routing import domain_router

router = domain_router("/orders", tags=["orders"])
