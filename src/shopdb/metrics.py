"""Prometheus metrics: the seed's http_requests_total and http_request_duration_seconds.

With several worker processes each one counts on its own; `shopdb serve` points
PROMETHEUS_MULTIPROC_DIR at a fresh folder (before this module is imported, as
prometheus_client requires) so that /metrics adds up every worker.
"""

from __future__ import annotations

import os
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopdb.auth.dependencies import Authenticator, Subject
from shopdb.kit.routing import UnitOfWorkRoute

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # also set by shopdb.cli.serve

REQUESTS = Counter(
    "http_requests_total", "Total number of HTTP requests", ["method", "endpoint", "status_code"]
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Duration of HTTP requests in seconds",
    ["method", "endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

# A unit-of-work route like every other: authenticating opens the request's session.
router = APIRouter(tags=["observability"], route_class=UnitOfWorkRoute)


def route_template(scope: Scope) -> str:
    """`/api/v1/products/42` -> `/api/v1/products/{id}`: one label per route, not per id."""
    if scope.get("route") is None:
        return "unmatched"
    by_value = {str(v): k for k, v in scope.get("path_params", {}).items()}
    return "/".join(
        f"{{{by_value[segment]}}}" if segment in by_value else segment
        for segment in scope["path"].split("/")
    )


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            endpoint = route_template(scope)
            REQUESTS.labels(scope["method"], endpoint, str(status["code"])).inc()
            DURATION.labels(scope["method"], endpoint).observe(time.perf_counter() - started)


MetricsReader = Annotated[Subject, Depends(Authenticator({"metrics:read"}))]


@router.get("/metrics", response_class=Response)
async def metrics(_subject: MetricsReader) -> Response:
    registry: Any = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
