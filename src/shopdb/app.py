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
from shopdb.auth.access import AccessCache
from shopdb.auth.endpoints import jwks_router
from shopdb.auth.invalidation import install_access_invalidation
from shopdb.auth.limits import identify_caller, install_limits
from shopdb.auth.tokens import TokenService
from shopdb.catalog.cache import install_product_cache
from shopdb.config import Settings, get_settings
from shopdb.db import Database, SessionGuardMiddleware, finish_unit_of_work
from shopdb.errors import install_error_handlers
from shopdb.health.endpoints import router as health_router
from shopdb.inventory.batching import install_adjustment_batcher
from shopdb.keys import load_signing_keys
from shopdb.kit.routing import UnitOfWorkRoute
from shopdb.kit.schemas import ErrorResponse
from shopdb.metrics import MetricsMiddleware
from shopdb.metrics import router as metrics_router
from shopdb.observability import RequestContextMiddleware, configure_logging
from shopdb.ratelimit import RateLimitMiddleware

SWAGGER_STATIC = "/static/swagger-ui"
REDIS_TIMEOUT_SECONDS = 0.5


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = Database.from_settings(settings)
        app.state.database = database
        app.state.redis = None
        if settings.redis_url:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # A hung Redis must cost a request half a second, not redis-py's default of a
            # 5 s timeout retried ten times: the limiter and the cache fall back without it.
            app.state.redis = Redis.from_url(
                settings.redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 1),
            )
            # Buckets in Redis are shared by every worker; without it each keeps its own.
            install_limits(app, settings, app.state.redis)
        cache = install_product_cache(
            app.state, database, app.state.redis, settings.product_cache_seconds
        )
        if cache is not None:
            # Hears the invalidations other workers could not send to Redis (catalog/cache.py);
            # the cache is bypassed until it listens. Waits at most 2 s for PostgreSQL.
            await cache.start_listening()
        install_adjustment_batcher(app.state, database.primary, cache)
        # Cached user standings are forgotten after each commit that changed them, in this
        # worker and, through Redis pub/sub, in every other one (shopdb.auth.invalidation).
        access_invalidation = install_access_invalidation(app, database, app.state.redis)
        access_invalidation.start()
        # A full (generation 2) collection walks every object alive, ~200k after startup
        # (routes, models, SQLAlchemy's mappers), and took ~230 ms: it was the p99 of every
        # endpoint. Those objects live as long as the process, so the collector stops visiting
        # them; it still collects everything created from here on.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await access_invalidation.aclose()
            if cache is not None:  # one last try for pending invalidations; stops the retries
                await cache.aclose(settle_seconds=1.0)
            if app.state.redis is not None:
                await app.state.redis.aclose()
            await database.dispose()

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
    app.state.settings = settings
    # Loaded here, not in the lifespan: a production process without keys must not start.
    app.state.tokens = TokenService(
        load_signing_keys(settings),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_ttl_seconds,
    )
    app.state.finish_unit_of_work = finish_unit_of_work
    app.state.product_cache = None
    app.state.adjustments = None  # the lifespan's, on PostgreSQL (inventory/batching.py)
    app.state.access_cache = AccessCache(settings.auth_cache_seconds)
    install_limits(app, settings, redis=None)
    install_error_handlers(app)

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
    app.add_middleware(RateLimitMiddleware, identify=identify_caller)
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
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Retry-After",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "Idempotent-Replayed",
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
