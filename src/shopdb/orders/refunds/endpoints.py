"""/api/v1/orders/{id}/...: refunds."""

from __future__ import annotations

from shopdb.kit.routing import domain_router

router = domain_router("/orders", tags=["orders"])
