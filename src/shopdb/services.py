"""The one wiring: every long-lived part of a shopdb process, built once from settings.

    services = build_services(settings)   # create_app: no I/O, no running event loop needed
    await services.start()                # the lifespan: the parts that need the running loop
    await services.aclose()               # the lifespan's end: everything, in reverse order

The Services are the only thing on `app.state`. Endpoints reach them through one dependency,
`ServicesDep`; the session dependency, the auth dependencies and the middleware through
`services_of(app)`. A test builds its own with `build_services(settings, database=...,
redis=None)` and puts them on the app with `install_services`.

Reactions of one domain to another's changes are wired here, and nowhere else: writers note
their changes in the change journal (shopdb.kit.journal), and its subscribers (the product
cache today; webhooks and search later) are registered below.

This module imports its parts only where it builds them, and their types only for the type
checker: the modules that read the Services (shopdb.db, shopdb.auth) sit below those parts,
so importing them here at the top would make a cycle.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

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

# A hung Redis must cost a request half a second, not redis-py's default of a 5 s timeout
# retried ten times: the limiter and the cache fall back without it.
REDIS_TIMEOUT_SECONDS = 0.5
# How long a server's worker, at shutdown, tries to land invalidations it could not send.
SERVER_SETTLE_SECONDS = 1.0


class _FromSettings:
    """`redis` not given: the client SHOPDB_REDIS_URL names (none without it)."""


FROM_SETTINGS = _FromSettings()


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
    # (A mailer joins here later.)

    # What aclose() undoes: the hooks added to the database, and whether the database and
    # the Redis client were built here (a test's are its own to close).
    _hooks: list[AfterCommit] = field(default_factory=list, repr=False)
    _owns_database: bool = field(default=False, repr=False)
    _owns_redis: bool = field(default=False, repr=False)

    async def start(self) -> None:
        """Build and start the parts that need the running event loop (the lifespan)."""
        from shopdb.inventory.batching import SelfCommittingAdjustments
        from shopdb.kit.journal import PRODUCT, Changes

        if self.product_cache is not None:
            # Hears the invalidations other workers could not send to Redis (catalog/read_model/cache.py);
            # the cache is bypassed until it listens. Waits at most 2 s for PostgreSQL.
            await self.product_cache.start_listening()
        if self.database.primary.dialect.name == "postgresql":  # SQLite runs one writer anyway

            async def stock_changed(product_ids: set[int]) -> None:
                # A batch commits by itself, outside any session: its changes are published
                # to the journal's subscribers directly. Stock moves no product list.
                await self.journal.publish(PRODUCT, Changes(product_ids, listing=False))

            self.adjustments = SelfCommittingAdjustments(self.database.primary, stock_changed)
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
        if self.product_cache is not None:  # one last try for pending invalidations
            await self.product_cache.aclose(settle_seconds=settle_seconds)
        for hook in self._hooks:
            if hook in self.database.after_commit:
                self.database.after_commit.remove(hook)
        self._hooks.clear()
        if self._owns_redis and self.redis is not None:
            await self.redis.aclose()  # type: ignore[attr-defined]  # types-redis lags redis 8
        if self._owns_database:
            await self.database.dispose()

    async def finish_unit_of_work(self, request: Request, *, success: bool) -> None:
        """Commit (or roll back) the request's sessions: UnitOfWorkRoute's step (kit/routing)."""
        await self.database.finish_unit_of_work(request, success=success)


def build_services(
    settings: Settings,
    *,
    database: Database | None = None,
    redis: Redis[bytes] | _FromSettings | None = FROM_SETTINGS,
    tokens: TokenService | None = None,
    access_cache: AccessCache | None = None,
    storage: Storage | None = None,
) -> Services:
    """Every part, from `settings`; no I/O, so it runs before any event loop.

    Given parts (a test's rolled-back Database, no Redis, the tokens of an app built
    earlier) are used as they are, and left for their owner to close.
    """
    from shopdb.auth.access import AccessCache
    from shopdb.auth.invalidation import AccessInvalidation
    from shopdb.auth.limits import build_limits
    from shopdb.auth.tokens import TokenService
    from shopdb.catalog.read_model.cache import product_cache
    from shopdb.db import Database
    from shopdb.jobs.runner import WorkerOptions
    from shopdb.keys import load_signing_keys
    from shopdb.storage import storage_from_settings

    owns_database = database is None
    database = database or Database.from_settings(settings)
    owns_redis = isinstance(redis, _FromSettings)
    client = _redis_from_settings(settings) if isinstance(redis, _FromSettings) else redis
    if tokens is None:
        # Here, in create_app: a production process without its signing keys must not start.
        tokens = TokenService(
            load_signing_keys(settings),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=settings.jwt_ttl_seconds,
        )
    cache = product_cache(database.primary, client, settings.product_cache_seconds)
    journal = _wire_journal(database, cache)
    # Buckets in Redis are shared by every worker; without it each keeps its own.
    rate_limiter, login_throttle = build_limits(settings, client)

    # Read at each use, not captured: a test may replace the Services' access cache.
    def current_access_cache() -> AccessCache:
        return services.access_cache

    access_invalidation = AccessInvalidation(current_access_cache, client)
    services = Services(
        settings=settings,
        database=database,
        redis=client,
        tokens=tokens,
        journal=journal,
        product_cache=cache,
        storage=storage or storage_from_settings(settings),
        jobs=WorkerOptions.from_settings(settings),
        access_cache=access_cache or AccessCache(settings.auth_cache_seconds),
        access_invalidation=access_invalidation,
        rate_limiter=rate_limiter,
        login_throttle=login_throttle,
        _owns_database=owns_database,
        _owns_redis=owns_redis,
    )
    # After the journal's subscribers, as the product cache ran before it until now.
    _add_hook(services, journal.deliver)
    _add_hook(services, access_invalidation.after_commit)
    return services


def _redis_from_settings(settings: Settings) -> Redis[bytes] | None:
    if not settings.redis_url:
        return None
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # Connects on its first command, in the event loop that sends it.
    client: Redis[bytes] = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),
    )
    return client


def _wire_journal(database: Database, cache: ProductDocumentCache | None) -> Journal:
    """The change journal of `database`'s sessions, with its writers and subscribers."""
    from shopdb.catalog.read_model.changes import note_flushed_products
    from shopdb.kit.journal import PRODUCT, Journal

    journal = Journal()
    # Writers: flushed catalog rows, mapped to their products (the Core statements that move
    # stock note theirs themselves).
    database.listen("after_flush", note_flushed_products)
    # Subscribers.
    if cache is not None:
        journal.subscribe(PRODUCT, cache.products_changed)
    return journal


def _add_hook(services: Services, hook: AfterCommit) -> None:
    services.database.after_commit.append(hook)
    services._hooks.append(hook)


@asynccontextmanager
async def command_database(settings: Settings) -> AsyncIterator[Database]:
    """A Database for work outside the server (CLI imports, the demo seed, `shopdb worker`)
    whose commits reach the journal's subscribers as the server's do: with Redis, the product
    cache the servers read is invalidated, else they would serve what the command changed as
    it was until the entries expired. Needs no signing keys, which a command never uses."""
    from shopdb.catalog.read_model.cache import COMMAND_SETTLE_SECONDS, product_cache
    from shopdb.db import Database

    database = Database.from_settings(settings)
    redis = _redis_from_settings(settings)
    cache = product_cache(database.primary, redis, settings.product_cache_seconds)
    journal = _wire_journal(database, cache)
    database.after_commit.append(journal.deliver)
    try:
        yield database
    finally:
        if cache is not None:  # commands do not listen: only the pending invalidations
            await cache.aclose(settle_seconds=COMMAND_SETTLE_SECONDS)
        if redis is not None:
            await redis.aclose()  # type: ignore[attr-defined]  # types-redis lags redis 8
        await database.dispose()


# --- reaching the Services -----------------------------------------------------------------

_STATE = "services"


def install_services(app: Starlette, services: Services) -> None:
    """Put `services` on the app: create_app's, or a test's own."""
    setattr(app.state, _STATE, services)


def services_of(app: Starlette) -> Services:
    """The app's Services (the typed getter: nothing else is read from app.state)."""
    services: Services = getattr(app.state, _STATE)
    return services


# `async def` although it never awaits: FastAPI runs a plain `def` dependency on a worker
# thread, a cost paid on every request for nothing.
async def get_services(request: Request) -> Services:
    return services_of(request.app)


ServicesDep = Annotated[Services, Depends(get_services)]
