"""The Services: every long-lived part of a shopdb process, built once from settings.

    services = build_services(settings)   # shopdb.wiring; create_app, no I/O
    await services.start()                # the lifespan: the parts that need the running loop
    await services.aclose()               # the lifespan's end: everything, in reverse order

The Services are the only thing on `app.state`. Endpoints reach them through one dependency,
`ServicesDep` (shopdb.dependencies); the session dependency, the auth dependencies and the
middleware through `services_of(app)`. A test builds its own with `build_services(settings,
database=..., redis=None)` and puts them on the app with `install_services`.

This module names its parts' types for the type checker only and imports no part at run time
(except what `start()` builds): the modules that read the Services (shopdb.dependencies,
shopdb.auth.dependencies, endpoints) sit above every part, the wiring (shopdb.wiring) above
them all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from shopdb.config import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncSession
    from starlette.applications import Starlette

    from shopdb.auth.access import AccessCache
    from shopdb.auth.invalidation import AccessInvalidation
    from shopdb.auth.limits import LoginThrottle
    from shopdb.auth.tokens import TokenService
    from shopdb.catalog.read_model.cache import ProductDocumentCache
    from shopdb.db import Database
    from shopdb.inventory.batching import SelfCommittingAdjustments
    from shopdb.jobs.runner import WorkerOptions
    from shopdb.kit.journal import Journal
    from shopdb.ratelimit import RateLimiter
    from shopdb.storage import Storage

    AfterCommit = Callable[[AsyncSession], Awaitable[None]]

# How long a server's worker, at shutdown, tries to land invalidations it could not send.
SERVER_SETTLE_SECONDS = 1.0


@dataclass(eq=False)
class Services:
    settings: Settings
    database: Database  # the primary and its read replicas
    redis: Redis[bytes] | None  # optional: without it, limits and caches are per worker
    tokens: TokenService  # signs and verifies access tokens
    journal: Journal  # committed changes, to their subscribers
    product_cache: ProductDocumentCache | None  # PostgreSQL + Redis only
    storage: Storage  # uploaded files
    jobs: WorkerOptions  # the job runner's configuration
    access_cache: AccessCache  # users' standing, per worker
    access_invalidation: AccessInvalidation  # forgets changed standings in every worker
    rate_limiter: RateLimiter
    login_throttle: LoginThrottle
    # The self-committing stock adjustments (inventory/batching.py): built by start() on
    # PostgreSQL; None before, on SQLite, and for a test's Services unless it sets one.
    adjustments: SelfCommittingAdjustments | None = None
    # Placed orders' documents (orders/service.py), the product cache's machinery with its own
    # keys and journal kind: PostgreSQL + Redis only.
    order_cache: ProductDocumentCache | None = None
    # The same machinery for inventory locations, smart collections' product pages and the
    # shop's settings read per checkout (LOCATIONS, COLLECTIONS, SETTINGS in read_model/cache.py).
    location_cache: ProductDocumentCache | None = None
    collection_cache: ProductDocumentCache | None = None
    settings_cache: ProductDocumentCache | None = None
    # (A mailer joins here later.)

    # What aclose() undoes: the hooks added to the database, and whether the database and
    # the Redis client were built here (a test's are its own to close).
    _hooks: list[AfterCommit] = field(default_factory=list, repr=False)
    _owns_database: bool = field(default=False, repr=False)
    _owns_redis: bool = field(default=False, repr=False)

    async def start(self) -> None:
        """Build and start the parts that need the running event loop (the lifespan)."""
        from shopdb.catalog.read_model.stored import BUMP_ASYNCPG_SQL
        from shopdb.inventory.batching import SelfCommittingAdjustments
        from shopdb.kit.journal import PRODUCT, Changes

        if self.product_cache is not None:
            # Hears the invalidations other workers could not send to Redis (read_model/cache.py);
            # the cache is bypassed until it listens. Waits at most 2 s for PostgreSQL.
            await self.product_cache.start_listening()
        for cache in self.document_caches(products=False):
            await cache.start_listening()
        if self.database.primary.dialect.name == "postgresql":  # SQLite runs one writer anyway

            async def stock_changed(product_ids: set[int]) -> None:
                # A batch commits by itself, outside any session: its changes are published
                # to the journal's subscribers directly. Stock moves no product list.
                await self.journal.publish(PRODUCT, Changes(product_ids, listing=False))

            async def stock_changing(connection: Any, product_ids: list[int]) -> None:
                # Inside the batch's transaction: the stored documents' stamps move with it.
                await connection.execute(BUMP_ASYNCPG_SQL, product_ids)

            self.adjustments = SelfCommittingAdjustments(
                self.database.primary, stock_changed, stock_changing
            )
        # Cached user standings are forgotten after each commit that changed them, in this
        # worker and, through Redis pub/sub, in every other one (shopdb.auth.invalidation).
        self.access_invalidation.start()

    async def aclose(self, *, settle_seconds: float = SERVER_SETTLE_SECONDS) -> None:
        """Stop and close, in the reverse order of building, what was built here.

        `settle_seconds`: how long the product cache may try to land the invalidations it
        could not send (a command that exits with some leaves the servers stale until TTL).
        """
        # Nothing to close: a batch in flight ends with the requests waiting on it, which the
        # server finishes before the lifespan ends.
        self.adjustments = None
        await self.access_invalidation.aclose()
        from shopdb.payments.gateways.registry import close_gateways

        await close_gateways()  # the Stripe client's connection pool
        if self.product_cache is not None:  # one last try for pending invalidations
            await self.product_cache.aclose(settle_seconds=settle_seconds)
        for cache in self.document_caches(products=False):
            await cache.aclose(settle_seconds=settle_seconds)
        for hook in self._hooks:
            if hook in self.database.after_commit:
                self.database.after_commit.remove(hook)
        self._hooks.clear()
        if self._owns_redis and self.redis is not None:
            await self.redis.aclose()  # type: ignore[attr-defined]  # types-redis lags redis 8
        if self._owns_database:
            await self.database.dispose()

    def document_caches(self, *, products: bool = True) -> list[ProductDocumentCache]:
        """Every document cache built (`products`: the product cache too, first)."""
        built = (
            self.product_cache if products else None,
            self.order_cache,
            self.location_cache,
            self.collection_cache,
            self.settings_cache,
        )
        return [cache for cache in built if cache is not None]

    async def finish_unit_of_work(self, request: Request, *, success: bool) -> None:
        """Commit (or roll back) the request's sessions: UnitOfWorkRoute's step (kit/routing)."""
        await self.database.finish_unit_of_work(request, success=success)

    def read_failed_on_replica(self, request: Request, exc: BaseException) -> bool:
        """UnitOfWorkRoute's retry test (kit/routing): see Database.read_failed_on_replica."""
        return self.database.read_failed_on_replica(request, exc)


# --- reaching the Services -----------------------------------------------------------------

_STATE = "services"


def install_services(app: Starlette, services: Services) -> None:
    """Put `services` on the app: create_app's, or a test's own."""
    setattr(app.state, _STATE, services)


def services_of(app: Starlette) -> Services:
    """The app's Services (the typed getter: nothing else is read from app.state)."""
    services: Services = getattr(app.state, _STATE)
    return services
