"""Product documents and list pages cached in Redis and worker memory, never served stale.

Reading a product is one PostgreSQL statement that builds its JSON (documents.py); on a busy
store the same products are read far more often than they change, so the finished bytes are
kept in Redis (and the most recently used in each worker's memory), and a read that finds them
touches no database at all. Lists keep, per filter and sort, the ordered ids of every matching
product (a page is a slice of them), and cursor pages whole; reads.py puts the pieces together.

Staleness is ruled out with a generation per product rather than by deleting keys alone:

- every committed change to a product's document (the product, its variants, options, images,
  tags, or a variant's inventory quantity) increments `g:<id>` after the commit, before the
  response leaves;
- a cached entry (in Redis or in a worker's memory) carries the generation it was built under,
  and is served only while that is still the current one. A reader that misses reads the
  generation first, then the database, then stores what it read under the generation it saw:
  if a writer committed in between, the generation has moved on and the entry is never served.

Writers are found without their cooperation where possible: an ORM flush listener notes the
products of every flushed catalog row; the few Core statements that move a variant's quantity
call `mark_products_changed` themselves. After the commit, `Database` runs the hooks. Changes
that can alter a list (all but stock) also increment one listing generation, `lg`, under which
the id lists and cursor pages were stored.

Only with PostgreSQL and Redis: the keys are namespaced by the PostgreSQL database's identity
(so a re-created database never meets entries from its predecessor), and without Redis a
per-worker cache could not be invalidated across workers. If Redis fails, reads fall back to
PostgreSQL; a failed invalidation is logged, and entries expire after `product_cache_seconds`.
Redis must not evict keys without a TTL (`noeviction` or a `volatile-*` policy): the
generations have none, so that an evicted generation can never make an old entry current again.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request
from redis.exceptions import RedisError
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, UOWTransaction

from shopdb.catalog.repository import IdPage
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.models import (
    InventoryItem,
    OptionValue,
    Product,
    ProductImage,
    ProductOption,
    ProductTag,
    ProductVariant,
)

log = structlog.get_logger(__name__)

_CHANGED = "shopdb.changed_product_ids"
_LISTING_CHANGED = "shopdb.product_listing_changed"
# Rows whose changes show in a product's document, and how to find that product's id.
_PRODUCT_OF: dict[type, Any] = {
    Product: lambda row: row.__dict__.get("id"),
    ProductVariant: lambda row: row.__dict__.get("product_id"),
    ProductOption: lambda row: row.__dict__.get("product_id"),
    ProductImage: lambda row: row.__dict__.get("product_id"),
    ProductTag: lambda row: row.__dict__.get("product_id"),
    # A value's option (and an item's variant) are dirty too when it changes through them;
    # these cover a value or item flushed on its own while its parent happens to be loaded.
    OptionValue: lambda row: getattr(row.__dict__.get("option"), "product_id", None),
    InventoryItem: lambda row: getattr(row.__dict__.get("variant"), "product_id", None),
}


def mark_products_changed(
    session: AsyncSession | Session, product_ids: Iterable[int | None], *, listing: bool = True
) -> None:
    """Note products whose documents this transaction changes (Core writes the ORM cannot see).

    `listing=False` when the change cannot alter which products a list shows or their order
    (a variant's inventory quantity: no list filters or sorts on it), so cached pages survive.
    """
    changed: set[int] = session.info.setdefault(_CHANGED, set())
    changed.update(i for i in product_ids if i is not None)
    if listing:
        session.info[_LISTING_CHANGED] = True


def take_changed_products(session: AsyncSession) -> tuple[set[int], bool]:
    """(products noted so far, whether lists may have changed), forgetting them."""
    changed: set[int] = session.info.pop(_CHANGED, set())
    return changed, bool(session.info.pop(_LISTING_CHANGED, False))


@event.listens_for(Session, "after_flush")
def _note_flushed_products(session: Session, _flush: UOWTransaction) -> None:
    found: list[int | None] = []
    for row in (*session.new, *session.dirty, *session.deleted):
        product_of = _PRODUCT_OF.get(type(row))
        if product_of is not None:
            found.append(product_of(row))
    if found:
        mark_products_changed(session, found)


@dataclass(frozen=True)
class _Local:
    generation: bytes
    version: int
    document: bytes
    expires: float  # time.monotonic(); a bound even if an invalidation was lost


@dataclass
class Lookup:
    """Cached documents found, and the generation each missing one must be stored under."""

    hits: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    generations: dict[int, bytes] = field(default_factory=dict)


def _encode_page(page: IdPage, generation: bytes) -> bytes:
    cursor = (page.next_cursor or "-").encode()
    ids = ",".join(map(str, page.ids)).encode()
    return b"%s %d %s %s" % (generation, page.total, cursor, ids)


def _decode_page(entry: bytes) -> tuple[bytes, IdPage]:
    generation, total, cursor, ids = entry.split(b" ", 3)
    page = IdPage(
        [int(i) for i in ids.split(b",") if i],
        int(total),
        None if cursor == b"-" else cursor.decode(),
    )
    return generation, page


@dataclass
class IdsLookup:
    """A slice of a cached ordered id list, with the list's length; or the generation to store
    a freshly read list under (None: Redis failed, do not store)."""

    ids: list[int] | None
    total: int
    generation: int | None


_ID = struct.Struct(">q")  # as PostgreSQL's int8send writes them


def unpack_ids(packed: bytes) -> list[int]:
    return [value for (value,) in _ID.iter_unpack(packed)]


@dataclass
class PageLookup:
    page: IdPage | None
    generation: bytes | None  # None: Redis failed, do not store


class ProductDocumentCache:
    def __init__(
        self, redis: Any, engine: AsyncEngine, ttl_seconds: int, local_bytes: int = 32 << 20
    ) -> None:
        self.redis = redis
        self.engine = engine
        self.ttl_seconds = ttl_seconds
        # Documents this worker has read, in memory, served only while their generation in
        # Redis is still the one they were read under; the least recently used are dropped
        # beyond `local_bytes` of documents.
        self.local_bytes = local_bytes
        self._local: OrderedDict[int, _Local] = OrderedDict()
        self._local_size = 0
        self._prefix: str | None = None

    async def prefix(self) -> str:
        """`shopdb:products:<database identity>:`; computed once per process.

        The identity is the server's, not the URL's (a CLI and the server may spell the URL
        differently): its start time, port, the database's name and oid. A dropped and
        re-created database gets a new oid, and a restarted server a new start time.
        """
        if self._prefix is None:
            async with self.engine.connect() as connection:
                row = (
                    await connection.execute(
                        text(
                            "SELECT pg_postmaster_start_time(), inet_server_port(),"
                            " current_database(), oid FROM pg_database"
                            " WHERE datname = current_database()"
                        )
                    )
                ).one()
            identity = "|".join(str(value) for value in row)
            digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
            self._prefix = f"shopdb:products:{digest}:"
        return self._prefix

    async def lookup(self, product_ids: Sequence[int]) -> Lookup:
        """Current entries for `product_ids`; on a Redis error, all misses not to be stored.

        One MGET: the generations of all, and the Redis entries of those this worker does not
        hold in memory. A page of 50 products this worker has seen transfers 50 small numbers
        rather than 100 KB of documents.
        """
        found = Lookup()
        if not product_ids:
            return found
        now = time.monotonic()
        remote = [i for i in product_ids if i not in self._local]
        try:
            prefix = await self.prefix()
            keys = [f"{prefix}g:{i}" for i in product_ids] + [f"{prefix}d:{i}" for i in remote]
            values = await self.redis.mget(keys)
        except (RedisError, OSError) as exc:
            log.warning("product_cache.read_failed", error=str(exc))
            return found
        entries = dict(zip(remote, values[len(product_ids) :], strict=True))
        for product_id, generation in zip(product_ids, values, strict=False):
            generation = generation or b"0"
            local = self._local.get(product_id)
            if local is not None:
                if local.generation == generation and local.expires > now:
                    self._local.move_to_end(product_id)
                    found.hits[product_id] = (local.document, local.version)
                    continue
                self._forget(product_id)
            entry = entries.get(product_id)
            if entry is not None:
                entry_generation, version, document = entry.split(b" ", 2)
                if entry_generation == generation:
                    found.hits[product_id] = (document, int(version))
                    self._remember(product_id, generation, int(version), document, now)
                    continue
            found.generations[product_id] = generation
        return found

    def _remember(
        self, product_id: int, generation: bytes, version: int, document: bytes, now: float
    ) -> None:
        self._forget(product_id)
        self._local[product_id] = _Local(generation, version, document, now + self.ttl_seconds)
        self._local_size += len(document)
        while self._local_size > self.local_bytes:
            self._local_size -= len(self._local.popitem(last=False)[1].document)

    def _forget(self, product_id: int) -> None:
        dropped = self._local.pop(product_id, None)
        if dropped is not None:
            self._local_size -= len(dropped.document)

    async def store(
        self, session: AsyncSession, lookup: Lookup, documents: dict[int, tuple[bytes, int]]
    ) -> None:
        """Keep documents read after a miss, each under the generation seen before reading it.

        Not those `session` itself changed: they are uncommitted, and if the transaction rolled
        back, no invalidation would ever follow them.
        """
        uncommitted: set[int] = session.info.get(_CHANGED, set())
        entries = {
            product_id: b"%s %d %s" % (lookup.generations[product_id], version, document)
            for product_id, (document, version) in documents.items()
            if product_id in lookup.generations and product_id not in uncommitted
        }
        if not entries:
            return
        now = time.monotonic()
        for product_id in entries:
            document, version = documents[product_id]
            self._remember(product_id, lookup.generations[product_id], version, document, now)
        try:
            prefix = await self.prefix()
            async with self.redis.pipeline(transaction=False) as pipe:
                for product_id, entry in entries.items():
                    pipe.set(f"{prefix}d:{product_id}", entry, ex=self.ttl_seconds)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("product_cache.write_failed", error=str(exc))

    async def lookup_page(self, key: str) -> PageLookup:
        """The cached page for `key` (a list request) if no listing change happened since."""
        try:
            prefix = await self.prefix()
            generation, entry = await self.redis.mget([f"{prefix}lg", f"{prefix}p:{key}"])
        except (RedisError, OSError) as exc:
            log.warning("product_cache.read_failed", error=str(exc))
            return PageLookup(None, None)
        generation = generation or b"0"
        if entry is not None:
            entry_generation, page = _decode_page(entry)
            if entry_generation == generation:
                return PageLookup(page, generation)
        return PageLookup(None, generation)

    async def lookup_ids(self, key: str, start: int, stop: int) -> IdsLookup:
        """Ids [start, stop) of the cached ordered list `key`, if no listing change since.

        A list is one string: its listing generation, then every id, 8 bytes each; a page is a
        GETRANGE of it, whatever its depth. The reads run in one MULTI so that the generation
        and the slice come from the same version of the list.
        """
        try:
            prefix = await self.prefix()
            list_key = f"{prefix}l:{key}"
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.get(f"{prefix}lg")
                pipe.getrange(list_key, 0, _ID.size - 1)
                pipe.getrange(list_key, _ID.size * (1 + start), _ID.size * (1 + stop) - 1)
                pipe.strlen(list_key)
                current, head, body, length = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("product_cache.read_failed", error=str(exc))
            return IdsLookup(None, 0, None)
        generation = int(current or 0)
        if length and _ID.unpack(head)[0] == generation:
            return IdsLookup(unpack_ids(body), length // _ID.size - 1, generation)
        return IdsLookup(None, 0, generation)

    async def store_ids(
        self, session: AsyncSession, key: str, lookup: IdsLookup, packed_ids: bytes
    ) -> None:
        """Keep an ordered id list (8-byte big-endian ids) read after a miss, under the
        generation seen before reading it."""
        if lookup.generation is None or session.info.get(_LISTING_CHANGED):
            return
        packed = _ID.pack(lookup.generation) + packed_ids
        try:
            prefix = await self.prefix()
            await self.redis.set(f"{prefix}l:{key}", packed, ex=self.ttl_seconds)
        except (RedisError, OSError) as exc:
            log.warning("product_cache.write_failed", error=str(exc))

    async def store_page(
        self, session: AsyncSession, key: str, lookup: PageLookup, page: IdPage
    ) -> None:
        """Keep a page read after a miss, under the listing generation seen before reading."""
        if lookup.generation is None or session.info.get(_LISTING_CHANGED):
            return
        try:
            prefix = await self.prefix()
            entry = _encode_page(page, lookup.generation)
            await self.redis.set(f"{prefix}p:{key}", entry, ex=self.ttl_seconds)
        except (RedisError, OSError) as exc:
            log.warning("product_cache.write_failed", error=str(exc))

    async def invalidate(self, product_ids: Iterable[int], *, listing: bool = True) -> None:
        """After a commit: the products' documents, and with `listing` every cached page."""
        ids = sorted(set(product_ids))
        for product_id in ids:
            self._forget(product_id)
        if not ids and not listing:
            return
        try:
            prefix = await self.prefix()
            # Only the generations move: an entry stored under an older one is never served
            # again, and the next reader's store replaces it.
            keys = [f"{prefix}g:{product_id}" for product_id in ids]
            if listing:
                keys.append(f"{prefix}lg")
            if len(keys) == 1:  # the common case (one product, or one stock change): no pipeline
                await self.redis.execute_command("INCR", keys[0])
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.incr(key)
                    await pipe.execute()
        except (RedisError, OSError) as exc:
            # The change is committed and must still be answered as a success; entries left
            # behind expire after ttl_seconds.
            log.error("product_cache.invalidate_failed", error=str(exc), product_ids=ids)

    async def after_commit(self, session: AsyncSession) -> None:
        product_ids, listing = take_changed_products(session)
        if product_ids or listing:
            await self.invalidate(product_ids, listing=listing)


def install_product_cache(
    state: Any, database: Database, redis: Any, ttl_seconds: int
) -> ProductDocumentCache | None:
    """Cache documents for `state.product_cache` readers and invalidate after `database` commits.

    Off (None) without Redis, on SQLite, or with a TTL of 0.
    """
    state.product_cache = None
    if redis is None or ttl_seconds <= 0 or database.primary.dialect.name != "postgresql":
        return None
    cache = ProductDocumentCache(redis, database.primary, ttl_seconds)
    database.after_commit.append(cache.after_commit)
    state.product_cache = cache
    return cache


async def _product_cache(request: Request) -> ProductDocumentCache | None:
    cache: ProductDocumentCache | None = request.app.state.product_cache
    return cache


ProductCacheDep = Annotated[ProductDocumentCache | None, Depends(_product_cache)]


@asynccontextmanager
async def database_invalidating_cache(settings: Settings) -> AsyncIterator[Database]:
    """A Database for work outside the server (CLI imports, the demo seed) whose commits
    invalidate the product cache the servers read, when Redis is configured: otherwise the
    servers would serve what the command changed as it was, until the entries expired."""
    database = Database.from_settings(settings)
    redis: Any = None
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
    install_product_cache(SimpleNamespace(), database, redis, settings.product_cache_seconds)
    try:
        yield database
    finally:
        if redis is not None:
            await redis.aclose()
        await database.dispose()
