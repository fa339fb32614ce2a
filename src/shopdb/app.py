"""create_app(): settings in, a FastAPI application out."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from shopdb import __version__
from shopdb.api import api_router
from shopdb.auth.callers import identify_caller, request_limiter
from shopdb.auth.endpoints import jwks_router
from shopdb.config import Settings, get_settings
from shopdb.db import SessionGuardMiddleware
from shopdb.errors import install_error_handlers
from shopdb.health.endpoints import router as health_router
from shopdb.kit.routing import UnitOfWorkRoute
from shopdb.kit.schemas import ErrorResponse
from shopdb.metrics import MetricsMiddleware
from shopdb.observability import (
    MetricsServer,
    RequestContextMiddleware,
    configure_logging,
    setup_tracing,
)
from shopdb.observability import router as metrics_router
from shopdb.ratelimit import RateLimitMiddleware
from shopdb.replicas import READ_AFTER_HEADER, ReadYourWritesMiddleware, cookie_seconds
from shopdb.services import install_services, services_of
from shopdb.wiring import build_services

SWAGGER_STATIC = "/static/swagger-ui"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The app's Services as they are now: create_app's, or those a test installed.
        services = services_of(app)
        await services.start()
        metrics_port = MetricsServer(services.settings, services.database)
        await metrics_port.start()
        # A full (generation 2) collection walks every object alive, ~200k after startup
        # (routes, models, SQLAlchemy's mappers), and took ~230 ms: it was the p99 of every
        # endpoint. Those objects live as long as the process, so the collector stops visiting
        # them; it still collects everything created from here on.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await metrics_port.aclose()
            await services.aclose()

    app = FastAPI(
        title="shopdb",
        version=__version__,
        description="Self-hosted, Shopify-compatible commerce backend.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    # Routes added on the app itself (/docs) are units of work too.
    app.router.route_class = UnitOfWorkRoute
    # Built here, not in the lifespan: a production process without its signing keys must
    # not start. Nothing in it connects before the lifespan starts it.
    install_services(app, build_services(settings))
    install_error_handlers(app)
    setup_tracing(app, services_of(app).database)  # with OTEL_EXPORTER_OTLP_ENDPOINT only

    app.include_router(health_router)
    app.include_router(jwks_router)
    app.include_router(metrics_router)
    app.include_router(api_router)
    if settings.bench_routes:
        from shopdb.bench.endpoints import router as bench_router

        app.include_router(bench_router, prefix=api_router.prefix)
    _mount_offline_docs(app)
    _document_error_envelope(app)

    app.add_middleware(SessionGuardMiddleware)
    if settings.database_replica_urls:  # writes tell their writer what to read after
        app.add_middleware(
            ReadYourWritesMiddleware,
            cookie_seconds=cookie_seconds(
                settings.replica_max_lag_seconds, settings.replica_check_seconds
            ),
        )
    app.add_middleware(RateLimitMiddleware, identify=identify_caller, limiter=request_limiter)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "If-Match",
                "Idempotency-Key",
                READ_AFTER_HEADER,
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "Idempotent-Replayed",
                READ_AFTER_HEADER,
            ],
        )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


def _document_error_envelope(app: FastAPI) -> None:
    """The OpenAPI document says what errors look like: `{"code", "message", "details"}`.

    FastAPI documents validation failures as 422 with its own body; shopdb answers them 400
    with the error envelope (errors.py), as every other 4xx. Each operation documents 400 and
    the 4XX range with that envelope, so clients (and the fuzz test) read the real contract.
    """
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorResponse"] = ErrorResponse.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for name, schema in schemas["ErrorResponse"].pop("$defs", {}).items():
            schemas.setdefault(name, schema)
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        envelope = {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
            }
        }
        for item in document.get("paths", {}).values():
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                responses["400"] = {"description": "Validation failed", **envelope}
                responses["4XX"] = {"description": "Refused: see `code`", **envelope}
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _mount_offline_docs(app: FastAPI) -> None:
    """Swagger UI from a wheel, so /docs works on a machine with no internet."""
    app.mount(SWAGGER_STATIC, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="shopdb API",
            swagger_js_url=f"{SWAGGER_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_STATIC}/favicon-32x32.png",
        )
