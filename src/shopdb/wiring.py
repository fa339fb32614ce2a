"""Building the Services (shopdb.services) from settings: the one place that knows every part.

    services = build_services(settings)   # create_app: no I/O, no running event loop needed

Reactions of one domain to another's changes are wired here, and nowhere else: writers note
their changes in the change journal (shopdb.kit.journal), and its subscribers (the product
cache today; webhooks and search later) are registered below. Commands (CLI imports, the demo
seed, `shopdb worker`) get a Database wired the same way from `command_database`.

Nothing imports this module but the entry points (create_app, the CLI, the worker, tests), so
it can import every part at the top without making a cycle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy import event

from shopdb.auth.access import AccessCache
from shopdb.auth.invalidation import AccessInvalidation
from shopdb.auth.limits import build_limits
from shopdb.auth.tokens import TokenService
from shopdb.catalog.read_model.cache import (
    COLLECTIONS,
    COMMAND_SETTLE_SECONDS,
    LOCATIONS,
    ORDERS,
    SETTINGS,
    CacheKind,
    ProductDocumentCache,
    document_cache,
    product_cache,
)
from shopdb.catalog.read_model.changes import note_flushed_products
from shopdb.catalog.read_model.stored import bump_changed_documents
from shopdb.collections.changes import (
    collection_changes_of_products,
    note_collection_statements,
    note_flushed_collections,
)
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.gift_cards import codes as gift_card_codes
from shopdb.inventory.changes import note_flushed_locations
from shopdb.jobs.runner import WorkerOptions
from shopdb.keys import field_cipher, load_signing_keys
from shopdb.kit.journal import COLLECTION, LOCATION, ORDER, PRODUCT, Changes, Journal
from shopdb.kit.journal import SETTINGS as SETTINGS_KIND
from shopdb.kit.shared_reads import use_settings_cache
from shopdb.models import ProductVariant
from shopdb.notifications import outbox as notifications_outbox
from shopdb.orders.changes import note_flushed_orders, note_orders_of_deleted_variant
from shopdb.orders.stored import bump_changed_order_documents
from shopdb.services import Services
from shopdb.shop_settings import note_flushed_settings, note_settings_statements
from shopdb.storage import Storage, storage_from_settings

if TYPE_CHECKING:
    from shopdb.services import AfterCommit

# A hung Redis must cost a request half a second, not redis-py's default of a 5 s timeout
# retried ten times: the limiter and the cache fall back without it.
REDIS_TIMEOUT_SECONDS = 0.5


class _FromSettings:
    """`redis` not given: the client SHOPDB_REDIS_URL names (none without it)."""


FROM_SETTINGS = _FromSettings()


def order_kind(settings: Settings) -> CacheKind:
    """ORDERS, admitted from the read the settings say (SHOPDB_ORDER_CACHE_FROM_READ)."""
    return dataclasses.replace(ORDERS, admit_from_read=settings.order_cache_from_read)


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
    orders = document_cache(
        database.primary, client, settings.product_cache_seconds, order_kind(settings)
    )
    others = _other_caches(database, client, settings)
    journal = _wire_journal(database, cache, orders, others)
    # Checkout's gift card lookups hash codes with the process's key (gift_cards/codes.py).
    gift_card_codes.use_key(field_cipher(settings).blind_index_key)
    # Gift card codes in job payloads are sealed with the process's keys (notifications/outbox.py).
    notifications_outbox.use_cipher(field_cipher(settings))
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
        order_cache=orders,
        location_cache=others.get(LOCATION),
        collection_cache=others.get(COLLECTION),
        settings_cache=others.get(SETTINGS_KIND),
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
    # Connects on its first command, in the event loop that sends it.
    client: Redis[bytes] = Redis.from_url(
        settings.redis_url,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        retry=Retry(NoBackoff(), 1),
    )
    return client


def _other_caches(
    database: Database, redis: Redis[bytes] | None, settings: Settings
) -> dict[str, ProductDocumentCache]:
    """The caches of locations, collection pages and shop settings, by journal kind (none
    without Redis, on SQLite, or with a TTL of 0)."""
    built = {
        kind.journal_kind: document_cache(
            database.primary, redis, settings.product_cache_seconds, kind
        )
        for kind in (LOCATIONS, COLLECTIONS, SETTINGS)
    }
    return {kind: cache for kind, cache in built.items() if cache is not None}


def _wire_journal(
    database: Database,
    cache: ProductDocumentCache | None,
    orders: ProductDocumentCache | None = None,
    others: dict[str, ProductDocumentCache] | None = None,
) -> Journal:
    """The change journal of `database`'s sessions, with its writers and subscribers."""

    journal = Journal()
    # Writers: flushed catalog rows, mapped to their products (the Core statements that move
    # stock note theirs themselves).
    database.listen("after_flush", note_flushed_products)
    # ... whose stored documents' stamps each commit bumps (PostgreSQL; read_model/stored.py).
    database.listen("before_commit", bump_changed_documents)
    # ... and flushed rows of placed orders' documents, under OrderRepository.lock_placed's note.
    database.listen("after_flush", note_flushed_orders)
    # ... whose stored documents' stamps each commit bumps too (PostgreSQL; orders/stored.py).
    database.listen("before_commit", bump_changed_order_documents)
    # ... and the orders whose lines name a variant being deleted (a mapper event: one per
    # process, whatever the Database; it notes only sessions that keep a journal).
    if not event.contains(ProductVariant, "before_delete", note_orders_of_deleted_variant):
        event.listen(ProductVariant, "before_delete", note_orders_of_deleted_variant)
    # ... locations; what collections' pages show; the shop's settings.
    database.listen("after_flush", note_flushed_locations)
    database.listen("after_flush", note_flushed_collections)
    database.listen("do_orm_execute", note_collection_statements)
    database.listen("after_flush", note_flushed_settings)
    database.listen("do_orm_execute", note_settings_statements)
    # Subscribers.
    if cache is not None:
        journal.subscribe(PRODUCT, cache.products_changed)
    if orders is not None:  # noted by OrderRepository.lock_placed
        journal.subscribe(ORDER, orders.changed)
    for kind, other in (others or {}).items():
        journal.subscribe(kind, other.changed)
    # The settings are read deep inside checkouts: their cache hangs on the session class.
    use_settings_cache(database.session_class, (others or {}).get(SETTINGS_KIND))
    collections = (others or {}).get(COLLECTION)
    if collections is not None:
        # A written product may enter or leave any collection; a stock move, the pages of
        # collections that depend on stock or sales (collections/changes.py).
        async def products_changed(changes: Changes) -> None:
            await collections.changed(collection_changes_of_products(changes))

        journal.subscribe(PRODUCT, products_changed)
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
    database = Database.from_settings(settings)
    redis = _redis_from_settings(settings)
    cache = product_cache(database.primary, redis, settings.product_cache_seconds)
    orders = document_cache(
        database.primary, redis, settings.product_cache_seconds, order_kind(settings)
    )
    others = _other_caches(database, redis, settings)
    journal = _wire_journal(database, cache, orders, others)
    database.after_commit.append(journal.deliver)
    try:
        yield database
    finally:
        # Commands do not listen: only the pending invalidations.
        for built in (cache, orders, *others.values()):
            if built is not None:
                await built.aclose(settle_seconds=COMMAND_SETTLE_SECONDS)
        if redis is not None:
            await redis.aclose()  # type: ignore[attr-defined]  # types-redis lags redis 8
        await database.dispose()
