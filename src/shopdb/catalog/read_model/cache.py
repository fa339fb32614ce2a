"""Product documents and list pages cached in Redis and worker memory; documents never stale.

The machinery is not the products' alone: a CacheKind names what a DocumentCache holds (its
keys, journal kind, notification channel), and the wiring builds one per kind: ORDERS (order
documents), LOCATIONS (location documents and list pages), COLLECTIONS (smart collections'
product pages as ids, and each collection's description), SETTINGS (the shop's settings read per
checkout, as whole values under the kind's `lg`: `value`). Everything below says "product" for
the first kind; the other kinds' pages have no staleness bound (CacheKind.list_stale_seconds).

Documents are read with `read_through`: a miss is built once however many requests of a worker
miss it together (the followers await the first build of the same epoch and generation, which
stores the entry before the flight ends), and a document the session itself changed is neither
shared nor stored. Pages (`page`, `fill_page`) and values (`value`) do the same.

Reading a product is one PostgreSQL statement that builds its JSON (documents.py); on a busy
store the same products are read far more often than they change, so the finished bytes are
kept in Redis (and the most recently used in each worker's memory), and a read that finds them
touches no database at all. List pages are kept as their ids (with the next cursor), one entry
per request shape (filters, sort, page or cursor, page size): each is one index range scan to
rebuild, whatever the catalog's size, so no list is too long to cache. service.py puts the
pieces together.

Staleness is ruled out with a generation per product rather than by deleting keys alone:

- every committed change to a product's document (the product, its variants, options, images,
  tags, or a variant's inventory quantity) increments `g:<id>` after the commit, before the
  response leaves;
- a cached entry (in Redis or in a worker's memory) carries the generation it was built under,
  and is served only while that is still the current one. A reader that misses reads the
  generation first, then the database, then stores what it read under the generation it saw:
  if a writer committed in between, the generation has moved on and the entry is never served.

Writers note the products they change in the change journal (shopdb.kit.journal): an ORM flush
listener (changes.py) notes the products of every flushed catalog row; the few Core statements
that move a variant's quantity note theirs themselves. The cache subscribes to those notes in
the wiring (shopdb.services), and hears of them after the commit. Pages are stored under two
listing generations, and a write increments only those whose lists it can change:

- `lu`, by every change but stock: lists sorted or filtered by update time (the default sort)
  move with any write. Only pages that depend on the update time are stored under it.
- `lg`, by changes of what lists filter, sort or search on other than the update time (a
  title, vendor, type, status, tags, a SKU, a creation or deletion; changes.py tells them
  apart by the flushed rows' attribute history): every page depends on it.

An edit of a description therefore leaves every page sorted by title cached.

Pages by update time have a staleness bound, LIST_STALE_SECONDS (1 s): while only `lu` has
moved since a page was read (no change of what lists filter or sort on otherwise), the page is
served until it is that old, counted from the moment its generations were read before reading
it; then the next request reads it again. So a page by update time may miss writes committed
less than a second before it is served: a just-edited product may show at its previous place
in the order, with its current document (documents have no such bound, and neither has any
other page, nor a page after a creation, deletion, rename or status change). Under a steady
stream of writes each such page is read about once per second instead of once per write.

A miss is rebuilt once (single flight): within a worker, concurrent misses of a page await the
first one's read; across workers, the first to take a short Redis lock for the page and its
generations reads it, and the others poll Redis for its entry for up to FLIGHT_WAIT_SECONDS
before reading it themselves. The waiting is for a page at least as new as the generations the
waiter saw, never an older one.

Only with PostgreSQL and Redis: the keys are namespaced by the PostgreSQL database's identity
(so a re-created database never meets entries from its predecessor), and without Redis a
per-worker cache could not be invalidated across workers.

Generations alone fail in two ways, both closed by a cache **epoch**, a random token kept in
Redis (`epoch`) that every entry (in Redis and in worker memory) carries and must match:

- Redis restarted without its data, or flushed: the generations start again from 0, and a
  worker's in-memory entry built under generation N would become current again once the counter
  climbs back to N (at once for N = 0). The epoch is read in the same MGET (or MULTI) as the
  generations, so it costs no round trip; when it is missing, the reader creates one (SET NX)
  and reads the generations again with it (those read without it may predate the flush), and
  everything cached before, under the old epoch, is a miss.
- An invalidation that fails (Redis down, or unreachable from this worker) would leave the old
  entry current for every other worker until its TTL. A worker that sees any Redis error (read,
  store or invalidation; a call is bounded by REDIS_TIMEOUT_SECONDS, and a timed-out INCR may or
  may not have landed) bypasses the cache: its reads go to PostgreSQL, no request of it waits on
  Redis, and the invalidations it could not send are kept. A background task (woken by any cache
  access) retries every RETRY_SECONDS with one MULTI that sets a new epoch and increments the
  kept generations; only after it has landed does the worker use the cache again. The new epoch
  kills every entry cached before it, in Redis and in every worker's memory (each sees it in its
  next MGET), so nothing the failed invalidation left behind is served after the rotation.

Until that rotation lands the other workers hear of the lost invalidation from PostgreSQL, which
has just committed the change and so is up. Before its after-commit hook returns (so before the
response leaves), a worker whose invalidation failed, or that bypasses the cache when it writes,
sends `pg_notify('shopdb_product_cache', <namespace prefix>)`: one autocommit statement on the
primary, bounded by NOTIFY_TIMEOUT_SECONDS, logged and not raised if it fails. Every server
worker LISTENs on one dedicated asyncpg connection (`start_listening`, from the lifespan;
commands only notify). A notification of its namespace makes a worker drop its memory at once,
bypass the cache as after its own Redis error, and rotate the epoch as soon as it reaches Redis:
when only the writer is cut off from Redis, every stale entry anywhere is dead one round trip
after the first worker hears it, and a worker that hears it while Redis is down for it too
serves nothing from the cache until its own rotation. A read whose answer from Redis arrived
before the notification serves nothing of it.

A worker that is not listening could miss a notification, so it bypasses the cache meanwhile:
before its first LISTEN, and from the moment its connection is lost (at once on a close; within
LISTEN_CHECK_SECONDS + LISTEN_TIMEOUT_SECONDS, 3 s, on a cut that nothing reports) until it is
back (retried every LISTEN_RETRY_SECONDS). After a reconnection it reads the namespace again (a
restarted PostgreSQL is a new identity) and rotates the epoch before trusting the cache, since
what it missed is unknown; the first LISTEN of a worker that has cached nothing does not rotate.

A version read from PostgreSQL on every hit would close the same holes, but at the price of a
database round trip per read, which is what the cache exists to save; deleting keys cannot reach
other workers' memory. The notifications cost nothing until an invalidation fails.

What is left, stated plainly:
- Other workers stop serving the old document when the notification reaches them, not when the
  writer's response leaves: one PostgreSQL-to-worker hop after the NOTIFY commits (well under a
  millisecond on a LAN), which a client reading from another worker the instant it has the
  response could in principle beat.
- If the NOTIFY itself fails (`product_cache.notify_failed`: PostgreSQL lost just after the
  commit, or no pooled connection within 2 s), that write has the old windows: until the
  writer's rotation lands (at most RETRY_SECONDS, 100 ms, after Redis answers it again, 0.6 s
  if that happens during a hung attempt), or for a partition of the writer alone, as long as it
  lasts, bounded by the entries' TTL (`product_cache_seconds`).
- A listener cut off without a close serves, for at most 3 s, what a failed invalidation of
  another worker left behind in that time (two failures at once).
- A notification that no server worker hears (none running, e.g. a command writing while every
  server is down) is covered by the writer's own rotation alone: a command waits up to
  COMMAND_SETTLE_SECONDS (5 s) for it, then logs `product_cache.invalidation_lost`.
- While a worker cannot reach Redis, each of its writes costs a NOTIFY and every worker a
  rotation: the shared cache is cold again after each such write, and reads go to PostgreSQL.
- LISTEN needs a session on the primary itself: not a replica, nor a transaction-mode pooler.
- A Redis that restarts from an older snapshot (RDB, or AOF without `appendfsync always`)
  restores the epoch with older generations; run the cache's Redis without persistence, or
  with every write fsynced. A worker that sees the restart as an error rotates anyway.

Redis must not evict keys without a TTL (`noeviction` or a `volatile-*` policy): the epoch and
the generations have none, so that an evicted generation can never make an old entry current.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import structlog
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shopdb import metrics
from shopdb.catalog.read_model.repository import IdPage
from shopdb.db import read_from_replica, use_primary
from shopdb.kit import journal

log = structlog.get_logger(__name__)

# Every Redis call of the cache is bounded, the client's own retries included: the shared
# client (app.py) keeps redis-py's defaults, a 5 s socket timeout and 10 retries, so a hung Redis
# would hold a request for tens of seconds. A healthy round trip takes well under a millisecond.
REDIS_TIMEOUT_SECONDS = 0.5
# How often a worker that bypasses the cache tries to rotate the epoch (module docstring).
RETRY_SECONDS = 0.1

# PostgreSQL carries the news of an invalidation that could not reach Redis (module docstring).
NOTIFY_CHANNEL = "shopdb_product_cache"
# The change is committed and the response waits on the NOTIFY: bounded like a Redis call, but
# with room for a pool checkout on a busy primary.
NOTIFY_TIMEOUT_SECONDS = 2.0
# The listening connection: connecting and LISTEN, and each check that it is alive, are bounded
# by LISTEN_TIMEOUT_SECONDS; checked every LISTEN_CHECK_SECONDS (a connection cut without a
# FIN or RST is noticed only by using it); reconnected LISTEN_RETRY_SECONDS after a loss.
LISTEN_TIMEOUT_SECONDS = 2.0
LISTEN_CHECK_SECONDS = 1.0
LISTEN_RETRY_SECONDS = 1.0
LISTENER_NAME = "shopdb product cache listener"  # as pg_stat_activity shows it

# Single flight across workers (module docstring): the lock outlives any healthy page read (a
# few ms) and frees the page if its holder dies; the others poll for the entry this long, then
# read it themselves.
FLIGHT_LOCK_MS = 2_000
FLIGHT_WAIT_SECONDS = 0.25
FLIGHT_POLL_SECONDS = 0.002
T = TypeVar("T")

# How many ids a worker remembers having read, for the kinds admitted from a later read
# (CacheKind.admit_from_read): about a megabyte.
SEEN_LIMIT = 20_000
# How many settings values (value()) a worker holds in memory at most.
VALUES_HELD = 4_096
# Pages by update time (the default sort) may be served this long after they were read while
# writes move their generation (module docstring): under a steady stream of writes each such
# page is read at most about once per bound, not once per write.
LIST_STALE_SECONDS = 1.0


@dataclass(frozen=True)
class CacheKind:
    """What one cache of documents holds, and the names that keep it apart from the others:
    the same machinery (generations, epoch, notifications) serves product documents and,
    with ORDERS below, order documents (orders/service.py)."""

    namespace: str  # Redis keys: shopdb:<namespace>:<database identity>:...
    journal_kind: str  # the journal's kind whose committed changes invalidate it
    channel: str  # the PostgreSQL notification channel of its lost invalidations
    listener_name: str  # its listening connection, as pg_stat_activity shows it
    log_name: str  # its log events: <log_name>.read_failed, ...
    # Each worker's memory for the most recently used documents of this kind; the rest are
    # read from Redis. Orders get less: read once or twice each, where a catalog's products
    # are read over and over, and a worker must stay within its memory budget.
    local_bytes: int = 32 << 20
    # How long a page by update time may be served after a write moved its generation (the
    # module docstring); 0: never, for the kinds whose pages must never be stale.
    list_stale_seconds: float = LIST_STALE_SECONDS
    # The read of a document from which the worker goes through the cache for it (`admits`):
    # 1, from the first. Orders start at the fourth: their documents are stored in PostgreSQL,
    # whose stored row costs a worker what a cache hit costs (0.71 vs 0.72 ms of CPU a request,
    # measured in process), so the cache pays only by taking an order that is read again and
    # again (a status page polled) off the database (~0.1 ms of its CPU a read); most orders
    # are read once or twice, and for them filling the cache (a Redis lookup that misses, then
    # a Redis write: about two reads' worth) is all cost.
    admit_from_read: int = 1


PRODUCTS = CacheKind("products", journal.PRODUCT, NOTIFY_CHANNEL, LISTENER_NAME, "product_cache")
ORDERS = CacheKind(
    "orders",
    journal.ORDER,
    "shopdb_order_cache",
    "shopdb order cache listener",
    "order_cache",
    local_bytes=8 << 20,
    admit_from_read=4,  # SHOPDB_ORDER_CACHE_FROM_READ (wiring.order_kind)
)
# Inventory locations' documents and list pages (inventory/locations.py).
LOCATIONS = CacheKind(
    "locations",
    journal.LOCATION,
    "shopdb_location_cache",
    "shopdb location cache listener",
    "location_cache",
    local_bytes=1 << 20,
    list_stale_seconds=0.0,
)
# Smart collections' product pages, as ids (collections/service.py; the documents are the
# product cache's). `lg` moves with every change of a collection or of what rules match on,
# `lu` with stock and units sold, which only some collections' pages depend on.
COLLECTIONS = CacheKind(
    "collections",
    journal.COLLECTION,
    "shopdb_collection_cache",
    "shopdb collection cache listener",
    "collection_cache",
    local_bytes=1 << 20,
    list_stale_seconds=0.0,
)
# The shop's settings read on every checkout and order placement: tax rates, market pricing,
# shipping zones and rates (one document per settings family, shopdb.kit.journal SETTINGS).
SETTINGS = CacheKind(
    "settings",
    journal.SETTINGS,
    "shopdb_settings_cache",
    "shopdb settings cache listener",
    "settings_cache",
    local_bytes=4 << 20,
    list_stale_seconds=0.0,
)


def _new_epoch() -> bytes:
    return secrets.token_hex(8).encode()  # 16 bytes, never a digit string as generations are


@dataclass(frozen=True)
class _Local:
    epoch: bytes
    generation: bytes
    version: int
    document: bytes
    expires: float  # time.monotonic(); a bound even if an invalidation was lost


# Documents by id, each with its version.
Built = dict[int, tuple[bytes, int]]


@dataclass
class Lookup:
    """Cached documents found, and the generation each missing one must be stored under
    (with the epoch it was read in; None: nothing may be stored)."""

    hits: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    generations: dict[int, bytes] = field(default_factory=dict)
    epoch: bytes | None = None


def _encode_page(page: IdPage, stamp: bytes, read_at: float) -> bytes:
    cursor = (page.next_cursor or "-").encode()
    total = b"-" if page.total is None else str(page.total).encode()
    ids = ",".join(map(str, page.ids)).encode()
    return b"%s %d %s %s %s" % (stamp, round(read_at * 1000), total, cursor, ids)


def _decode_page(entry: bytes) -> tuple[bytes, float, IdPage]:
    """(its stamp, when its generations were read (epoch seconds), the page)."""
    stamp, read_at_ms, total, cursor, ids = entry.split(b" ", 4)
    page = IdPage(
        [int(i) for i in ids.split(b",") if i],
        None if total == b"-" else int(total),
        None if cursor == b"-" else cursor.decode(),
    )
    return stamp, int(read_at_ms) / 1000, page


@dataclass
class PageLookup:
    page: IdPage | None
    # The epoch and listing generations it must be stored under; None: do not store.
    generation: bytes | None
    # When those generations were read (time.time()): the page's age is counted from there.
    read_at: float = 0.0
    # `page` is the previous one of a page by update time, within the staleness bound.
    stale: bool = False


def _within_staleness_bound(entry_stamp: bytes, current: bytes) -> bool:
    """Whether a page stored under `entry_stamp` differs from `current` only by the
    update-time generation (same epoch, same membership generation, an older `lu`)."""
    have, want = entry_stamp.split(b":"), current.split(b":")
    return len(have) == len(want) == 3 and have[:2] == want[:2]


def _page_stamp(epoch: bytes, membership: bytes | None, updates: bytes | None) -> bytes:
    """`<epoch>:<lg>` or, for a page that depends on update times, `<epoch>:<lg>:<lu>`."""
    stamp = b"%s:%s" % (epoch, membership or b"0")
    return stamp if updates is None else b"%s:%s" % (stamp, updates)


def _fresh_enough(entry_stamp: bytes, wanted: bytes) -> bool:
    """Whether a page stored under `entry_stamp` reflects at least the generations `wanted`
    (same epoch, and no generation older): what a waiting reader may be served."""
    have, want = entry_stamp.split(b":"), wanted.split(b":")
    if len(have) != len(want) or have[0] != want[0]:
        return False
    return all(int(h) >= int(w) for h, w in zip(have[1:], want[1:], strict=True))


class DocumentCache:
    def __init__(
        self,
        redis: Any,
        engine: AsyncEngine,
        ttl_seconds: int,
        local_bytes: int = 32 << 20,
        list_stale_seconds: float = LIST_STALE_SECONDS,
        kind: CacheKind = PRODUCTS,
    ) -> None:
        self.kind = kind
        self.redis = redis
        self.engine = engine
        self.ttl_seconds = ttl_seconds
        # How old a page by update time may be served after a write moved its generation
        # (module docstring); 0: never.
        self.list_stale_seconds = list_stale_seconds
        # Documents this worker has read, in memory, served only while their epoch and
        # generation in Redis are still the ones they were read under; the least recently used
        # are dropped beyond `local_bytes` of documents.
        self.local_bytes = local_bytes
        self._local: OrderedDict[int, _Local] = OrderedDict()
        self._local_size = 0
        self._prefix: str | None = None
        self._epoch: bytes | None = None  # the last one seen; memory holds entries of no other
        # Set by any Redis error, cleared once a rotation of the epoch has landed (docstring).
        self._bypassed = False
        self._failures = 0
        self._pending_ids: set[int] = set()
        self._pending_listing = False
        # Pages being read after a miss in this worker, by (key, stamp): the followers' wait.
        self._flights: dict[tuple[str, bytes], asyncio.Future[IdPage | None]] = {}
        # Values being read after a miss, by (key, stamp): value().
        self._value_flights: dict[tuple[str, bytes], asyncio.Future[bytes | None]] = {}
        # value()'s entries this worker has read, by key, with the (prefix, stamp) they were
        # current under: served again without Redis within a transaction that has seen that
        # stamp in Redis already (value()'s docstring).
        self._values: dict[str, tuple[tuple[str, bytes], bytes]] = {}
        # Documents being built after a miss, by (id, epoch, generation): read_through.
        self._document_flights: dict[tuple[int, bytes, bytes], asyncio.Future[Built | None]] = {}
        # Kinds admitted from a later read (CacheKind.admit_from_read): how many times this
        # worker has read each id, the least recent dropped beyond SEEN_LIMIT; and the reads
        # of those not admitted yet that are in flight.
        self._seen: OrderedDict[int, int] = OrderedDict()
        self._first_reads: dict[int, asyncio.Future[None]] = {}
        self._recovery: asyncio.Task[None] | None = None
        # One attempt at a time: another one's rotation may still be in flight when this one
        # lands, and the cache is usable only once every kept invalidation has landed.
        self._recovering = asyncio.Lock()
        # The LISTEN of the servers' workers (start_listening). None: this process does not
        # listen (a command); False: it should, and may be missing notifications right now.
        self._listening: bool | None = None
        self._listener: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()
        self._listen_since = 0  # `_failures` when listening was asked for
        self._connected_once = False
        self._heard = 0  # notifications received, of any namespace

    async def prefix(self) -> str:
        """`shopdb:<namespace>:<database identity>:`; computed once per process, and again by a
        server's worker whenever its listener reconnects (a PostgreSQL restart ends it).

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
            self._prefix = f"shopdb:{self.kind.namespace}:{digest}:"
        return self._prefix

    def usable(self) -> bool:
        """False while this worker bypasses the cache (a Redis error or a notification, and no
        rotation since; or its listener is not listening); then the retry is (re)started,
        without waiting for it."""
        if self._bypassed:
            self._start_recovery()
            return False
        return True

    async def lookup(self, product_ids: Sequence[int]) -> Lookup:
        """Current entries for `product_ids`; all misses not to be stored when the cache is
        bypassed, on a Redis error, or when Redis has lost its epoch.

        One MGET: the epoch, the generations of all, and the Redis entries of those this worker
        does not hold in memory. A page of 50 products this worker has seen transfers 50 small
        numbers rather than 100 KB of documents.
        """
        found = Lookup()
        if not product_ids or not self.usable():
            return found
        now = time.monotonic()
        remote = [i for i in product_ids if i not in self._local]
        distrusts = self._failures
        try:
            prefix = await self.prefix()
            keys = [f"{prefix}epoch"]
            keys += [f"{prefix}g:{i}" for i in product_ids]
            keys += [f"{prefix}d:{i}" for i in remote]
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                values = await self.redis.mget(keys)
        except (RedisError, OSError) as exc:
            self._failed(f"{self.kind.log_name}.read_failed", exc)
            return found
        if self._failures != distrusts:  # a notification came while the MGET was in flight
            return found
        epoch = values[0]
        if epoch is None:
            started = await self._start_epoch(prefix, keys[1 : 1 + len(product_ids)])
            if started is not None:  # nothing was cached under an epoch just created
                found.epoch = started[0]
                generations = (g or b"0" for g in started[1])
                found.generations = dict(zip(product_ids, generations, strict=True))
            metrics.count_cache_lookup(self.kind.namespace, product_ids, remote, found.hits)
            return found
        if epoch != self._epoch:
            self._enter_epoch(epoch)
        found.epoch = epoch
        entries = dict(zip(remote, values[1 + len(product_ids) :], strict=True))
        for product_id, generation in zip(product_ids, values[1:], strict=False):
            generation = generation or b"0"
            local = self._local.get(product_id)
            if local is not None:
                if local.generation == generation and local.epoch == epoch and local.expires > now:
                    self._local.move_to_end(product_id)
                    found.hits[product_id] = (local.document, local.version)
                    continue
                self._forget(product_id)
            entry = entries.get(product_id)
            # `<epoch> <generation> <version> <document>`; an entry of another epoch (or
            # another format) never starts with this one.
            if entry is not None and entry.startswith(epoch):
                _, entry_generation, version, document = entry.split(b" ", 3)
                if entry_generation == generation:
                    found.hits[product_id] = (document, int(version))
                    self._remember(product_id, epoch, generation, int(version), document, now)
                    continue
            found.generations[product_id] = generation
        metrics.count_cache_lookup(self.kind.namespace, product_ids, remote, found.hits)
        return found

    def _remember(
        self,
        product_id: int,
        epoch: bytes,
        generation: bytes,
        version: int,
        document: bytes,
        now: float,
    ) -> None:
        self._forget(product_id)
        expires = now + self.ttl_seconds
        self._local[product_id] = _Local(epoch, generation, version, document, expires)
        self._local_size += len(document)
        while self._local_size > self.local_bytes:
            self._local_size -= len(self._local.popitem(last=False)[1].document)

    def _forget(self, product_id: int) -> None:
        dropped = self._local.pop(product_id, None)
        if dropped is not None:
            self._local_size -= len(dropped.document)

    def _enter_epoch(self, epoch: bytes) -> None:
        # Everything held was read under another epoch and can never be served again.
        self._local.clear()
        self._local_size = 0
        self._epoch = epoch

    async def store(
        self, session: AsyncSession, lookup: Lookup, documents: dict[int, tuple[bytes, int]]
    ) -> None:
        """Keep documents read after a miss, each under the generation seen before reading it.

        Not those `session` itself changed: they are uncommitted, and if the transaction rolled
        back, no invalidation would ever follow them.
        """
        epoch = lookup.epoch
        if epoch is None or self._bypassed or read_from_replica(session):  # may be older
            return
        uncommitted = journal.uncommitted(session, self.kind.journal_kind).ids
        entries = {
            product_id: b"%s %s %d %s" % (epoch, lookup.generations[product_id], version, document)
            for product_id, (document, version) in documents.items()
            if product_id in lookup.generations and product_id not in uncommitted
        }
        if not entries:
            return
        if epoch == self._epoch:  # not if a newer one was seen meanwhile: dead on arrival
            now = time.monotonic()
            for product_id in entries:
                document, version = documents[product_id]
                generation = lookup.generations[product_id]
                self._remember(product_id, epoch, generation, version, document, now)
        try:
            prefix = await self.prefix()
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for product_id, entry in entries.items():
                        pipe.set(f"{prefix}d:{product_id}", entry, ex=self.ttl_seconds)
                    await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(f"{self.kind.log_name}.write_failed", exc)

    def admits(self, key: int) -> bool:
        """Whether this read of `key` goes through the cache (CacheKind.admit_from_read): for
        a kind admitted from a later read, not the reads of this worker before it."""
        if self.kind.admit_from_read <= 1 or key in self._local:
            return True
        reads = self._seen.pop(key, 0) + 1
        self._seen[key] = reads  # the most recent last
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        return reads >= self.kind.admit_from_read

    async def first_read(self, key: int, read: Callable[[], Awaitable[T]]) -> T:
        """`read()` of a document the cache did not admit (`admits`). A read of the same key
        that arrives meanwhile, admitted or not, waits for this one to end first (here, or in
        read_through): it leaves the document stored in PostgreSQL, to read rather than build
        again. Nothing of this read is shared: each reads what is current when it reads."""
        running = self._first_reads.get(key)
        if running is not None:  # another read not admitted yet: after it, the row is stored
            await asyncio.shield(running)
        settled = asyncio.get_running_loop().create_future()
        self._first_reads[key] = settled
        try:
            return await read()
        finally:
            if self._first_reads.get(key) is settled:
                del self._first_reads[key]
            settled.set_result(None)

    async def read_through(
        self,
        session: AsyncSession,
        ids: Sequence[int],
        build: Callable[[list[int]], Awaitable[Built]],
    ) -> Built:
        """The documents of `ids` that exist: current cached ones, and the others built by
        `build` (the database) and stored. A miss is built once however many requests of this
        worker miss it together (single flight): the followers of a document being built under
        the same epoch and generation await that build instead of sending their own.

        A document the session itself changed (uncommitted) is neither shared nor stored; a
        build that fails leaves its followers to build for themselves, never shares its error.
        """
        use_primary(session)  # what is stored is read from the primary, never an older replica
        if self._first_reads:  # first_read's, then their documents are stored to read
            for first in [self._first_reads[i] for i in ids if i in self._first_reads]:
                await asyncio.shield(first)
        lookup = await self.lookup(ids)
        found: Built = dict(lookup.hits)
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        if not missing:
            return found
        epoch = lookup.epoch
        uncommitted = journal.uncommitted(session, self.kind.journal_kind).ids
        waits: dict[int, asyncio.Future[Built | None]] = {}
        mine: list[int] = []
        led: dict[tuple[int, bytes, bytes], asyncio.Future[Built | None]] = {}
        loop = asyncio.get_running_loop()
        for i in missing:
            generation = lookup.generations.get(i)
            if epoch is None or generation is None or i in uncommitted:
                mine.append(i)  # not to be stored, so not to be shared either
                continue
            flight = (i, epoch, generation)
            running = self._document_flights.get(flight)
            if running is not None:
                waits[i] = running
                continue
            mine.append(i)
            led[flight] = self._document_flights[flight] = loop.create_future()
        built: Built | None = None
        try:
            built = await build(mine) if mine else {}
            if built:
                # Before the flight ends: a request that misses meanwhile finds the entry,
                # not an empty flight table.
                await self.store(session, lookup, built)
        finally:
            # Changed by the build's own autoflush: then not the committed document.
            changed = journal.uncommitted(session, self.kind.journal_kind).ids
            for flight, future in led.items():
                shareable = built is not None and flight[0] not in changed
                future.set_result(built if shareable else None)
                if self._document_flights.get(flight) is future:
                    del self._document_flights[flight]
        assert built is not None  # the build raised otherwise
        found.update(built)
        for i, running in waits.items():
            shared = await asyncio.shield(running)
            if shared is None:  # the leader failed: build it here
                shared = await build([i])
            if i in shared:
                found[i] = shared[i]
        return found

    async def page(
        self,
        session: AsyncSession,
        key: str,
        read: Callable[[], Awaitable[tuple[Sequence[int], int | None, str | None]]],
        *,
        by_update: bool = False,
    ) -> IdPage:
        """A list page as its ids (with its total and next cursor), for the domains whose lists
        this cache holds: cached under the listing generations, else `read` once however many
        requests miss it together (lookup_page, fill_page). `key`: everything that decides it."""
        cached = await self.lookup_page(key, by_update=by_update)
        if cached.generation is not None:
            metrics.count_cache_redis(f"{self.kind.namespace}_pages", hit=cached.page is not None)
        if cached.page is not None:
            return cached.page

        async def read_ids() -> IdPage:
            ids, total, next_cursor = await read()
            return IdPage(list(ids), total, next_cursor)

        return await self.fill_page(session, key, cached, read_ids)

    async def value(
        self, session: AsyncSession, key: str, read: Callable[[], Awaitable[bytes]]
    ) -> bytes:
        """A small value (a settings family's JSON) cached whole under this kind's `lg`, which
        every change of what it is read from moves: for reads keyed by something other than
        one id (a country, a currency), where any write may change any of them.

        The database is read when the cache is bypassed, or when `session` itself has
        uncommitted changes of this kind (it must see them, and its reads are not shared); a
        miss is read once however many requests of this worker miss it together.

        A transaction (an order's placement reads four families) asks Redis once: entries
        this worker read under the stamp (epoch and `lg`) that the transaction has seen in
        Redis already are served from memory, current as of that first read. The next
        transaction asks Redis again, so it sees a change committed meanwhile.
        """
        if not self.usable() or self._listing_uncommitted(session):
            return await read()
        transaction = session.sync_session.get_transaction()
        seen = session.info.get(self._seen_stamp)
        if seen is not None and transaction is not None and seen[0] is transaction:
            held = self._values.get(key)
            if held is not None and held[0] == seen[1]:
                metrics.count_cache_redis(self.kind.namespace, hit=True)
                return held[1]
        distrusts = self._failures
        try:
            prefix = await self.prefix()
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                epoch, membership, entry = await self.redis.mget(
                    [f"{prefix}epoch", f"{prefix}lg", f"{prefix}v:{key}"]
                )
        except (RedisError, OSError) as exc:
            self._failed(f"{self.kind.log_name}.read_failed", exc)
            return await read()
        if self._failures != distrusts:
            return await read()
        if epoch is None:
            started = await self._start_epoch(prefix, [f"{prefix}lg"])
            if started is None:
                return await read()
            (epoch, (membership,)), entry = started, None
        stamp = _page_stamp(epoch, membership, None)
        if transaction is not None:
            session.info[self._seen_stamp] = (transaction, (prefix, stamp))
        if entry is not None:
            entry_stamp, _, stored = bytes(entry).partition(b" ")
            if entry_stamp == stamp:
                metrics.count_cache_redis(self.kind.namespace, hit=True)
                self._hold_value(key, (prefix, stamp), stored)
                return stored
        metrics.count_cache_redis(self.kind.namespace, hit=False)
        flight = (f"v:{key}", stamp)
        running = self._value_flights.get(flight)
        if running is not None:
            shared = await asyncio.shield(running)
            return shared if shared is not None else await read()
        done: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._value_flights[flight] = done
        found: bytes | None = None
        shareable = False
        try:
            found = await read()
            shareable = not self._listing_uncommitted(session)
            if shareable and not self._bypassed:
                # Before the flight ends: a request that misses meanwhile finds the entry.
                await self._store_value(prefix, key, stamp, found)
                self._hold_value(key, (prefix, stamp), found)
        finally:
            done.set_result(found if shareable else None)
            del self._value_flights[flight]
        assert found is not None  # read() raised otherwise
        return found

    @property
    def _seen_stamp(self) -> str:
        # session.info's key for the (transaction, (prefix, stamp)) value() last read.
        return f"shopdb.cache_stamp.{self.kind.namespace}"

    def _hold_value(self, key: str, stamp: tuple[str, bytes], value: bytes) -> None:
        if len(self._values) >= VALUES_HELD and key not in self._values:
            self._values.clear()  # a family per country and currency: rarely reached
        self._values[key] = (stamp, value)

    async def _store_value(self, prefix: str, key: str, stamp: bytes, value: bytes) -> None:
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                await self.redis.set(
                    f"{prefix}v:{key}", b"%s %s" % (stamp, value), ex=self.ttl_seconds
                )
        except (RedisError, OSError) as exc:
            self._failed(f"{self.kind.log_name}.write_failed", exc)

    async def lookup_page(self, key: str, *, by_update: bool) -> PageLookup:
        """The cached page for `key` (a list request) if no change of its lists happened since;
        `by_update`: the page depends on update times (sorted or filtered by them)."""
        if not self.usable():
            return PageLookup(None, None)
        distrusts = self._failures
        read_at = time.time()
        try:
            prefix = await self.prefix()
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                epoch, membership, updates, entry = await self.redis.mget(
                    [f"{prefix}epoch", f"{prefix}lg", f"{prefix}lu", f"{prefix}p:{key}"]
                )
        except (RedisError, OSError) as exc:
            self._failed(f"{self.kind.log_name}.read_failed", exc)
            return PageLookup(None, None)
        if self._failures != distrusts:
            return PageLookup(None, None)
        if epoch is None:
            started = await self._start_epoch(prefix, [f"{prefix}lg", f"{prefix}lu"])
            if started is None:
                return PageLookup(None, None)
            (epoch, (membership, updates)), entry = started, None
        stamp = _page_stamp(epoch, membership, (updates or b"0") if by_update else None)
        if entry is not None:
            entry_stamp, entry_read_at, page = _decode_page(entry)
            if entry_stamp == stamp:
                return PageLookup(page, stamp, read_at)
            if (
                self.list_stale_seconds > 0
                and _within_staleness_bound(entry_stamp, stamp)
                and read_at - entry_read_at <= self.list_stale_seconds
            ):
                return PageLookup(page, stamp, read_at, stale=True)
        return PageLookup(None, stamp, read_at)

    async def fill_page(
        self,
        session: AsyncSession,
        key: str,
        lookup: PageLookup,
        read: Callable[[], Awaitable[IdPage]],
    ) -> IdPage:
        """The page `lookup` missed, read once however many requests miss it together (module
        docstring), and stored."""
        use_primary(session)  # what is stored is read from the primary, never an older replica
        stamp = lookup.generation
        if stamp is None or self._bypassed or self._listing_uncommitted(session):
            return await read()
        flight = (key, stamp)
        running = self._flights.get(flight)
        if running is not None:
            shared = await asyncio.shield(running)
            return shared if shared is not None else await read()
        done: asyncio.Future[IdPage | None] = asyncio.get_running_loop().create_future()
        self._flights[flight] = done
        page: IdPage | None = None
        try:
            page = await self._fill_once(session, key, lookup, read)
            return page
        finally:
            # Followers read for themselves if this read failed (None), never share its error.
            done.set_result(page)
            del self._flights[flight]

    async def _fill_once(
        self,
        session: AsyncSession,
        key: str,
        lookup: PageLookup,
        read: Callable[[], Awaitable[IdPage]],
    ) -> IdPage:
        stamp = lookup.generation
        assert stamp is not None
        try:
            prefix = await self.prefix()
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                first = await self.redis.set(
                    f"{prefix}f:{key}:{stamp.decode()}", b"1", nx=True, px=FLIGHT_LOCK_MS
                )
        except (RedisError, OSError) as exc:
            self._failed(f"{self.kind.log_name}.read_failed", exc)
            return await read()
        if not first:
            waited = await self._wait_for_page(prefix, key, stamp)
            if waited is not None:
                return waited
        page = await read()
        await self.store_page(session, key, lookup, page)
        return page

    async def _wait_for_page(self, prefix: str, key: str, stamp: bytes) -> IdPage | None:
        """Another worker is reading the page: its entry once stored (or a newer one), or
        None after FLIGHT_WAIT_SECONDS or on any doubt."""
        deadline = time.monotonic() + FLIGHT_WAIT_SECONDS
        distrusts = self._failures
        while time.monotonic() < deadline:
            await asyncio.sleep(FLIGHT_POLL_SECONDS)
            try:
                async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                    entry = await self.redis.get(f"{prefix}p:{key}")
            except (RedisError, OSError) as exc:
                self._failed(f"{self.kind.log_name}.read_failed", exc)
                return None
            if self._failures != distrusts:
                return None
            if entry is not None:
                entry_stamp, _, page = _decode_page(entry)
                if _fresh_enough(entry_stamp, stamp):
                    return page
        return None

    async def store_page(
        self, session: AsyncSession, key: str, lookup: PageLookup, page: IdPage
    ) -> None:
        """Keep a page read after a miss, under the listing generations seen before reading."""
        if (
            lookup.generation is None
            or self._bypassed
            or self._listing_uncommitted(session)
            or read_from_replica(session)  # may be older than the generation
        ):
            return
        try:
            prefix = await self.prefix()
            entry = _encode_page(page, lookup.generation, lookup.read_at)
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                await self.redis.set(f"{prefix}p:{key}", entry, ex=self.ttl_seconds)
        except (RedisError, OSError) as exc:
            self._failed(f"{self.kind.log_name}.write_failed", exc)

    async def invalidate(
        self, product_ids: Iterable[int], *, listing: bool = True, membership: bool = True
    ) -> None:
        """After a commit: the products' documents; with `listing` the pages that depend on
        update times, and with `membership` every page (module docstring)."""
        ids = sorted(set(product_ids))
        for product_id in ids:
            self._forget(product_id)
        listing = listing or membership
        if not ids and not listing:
            return
        if self._bypassed:
            # Redis failed and no rotation has landed since: the retry sends these with it,
            # and no request waits on a Redis known to be failing. Until it lands, the other
            # workers learn of the change through PostgreSQL.
            self._keep_pending(ids, listing)
            self._start_recovery()
            await self._notify()
            return
        try:
            prefix = await self.prefix()
            # Only the generations move: an entry stored under an older one is never served
            # again, and the next reader's store replaces it.
            keys = [f"{prefix}g:{product_id}" for product_id in ids]
            if listing:
                keys.append(f"{prefix}lu")
            if membership:
                keys.append(f"{prefix}lg")
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                if len(keys) == 1:  # the common case (one product, or one stock change)
                    await self.redis.execute_command("INCR", keys[0])
                else:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for key in keys:
                            pipe.incr(key)
                        await pipe.execute()
        except (RedisError, OSError) as exc:
            # The change is committed and must still be answered as a success; this worker
            # reads PostgreSQL until the retry has rotated the epoch (module docstring).
            self._keep_pending(ids, listing)
            self._failed(f"{self.kind.log_name}.invalidate_failed", exc, product_ids=ids)
            await self._notify()

    def _listing_uncommitted(self, session: AsyncSession) -> bool:
        """Whether `session` has an uncommitted change that may alter this kind's lists."""
        return journal.uncommitted(session, self.kind.journal_kind).listing

    async def changed(self, changes: journal.Changes) -> None:
        """The journal's subscriber (shopdb.wiring): committed changes of its kind."""
        if changes.ids or changes.listing:
            await self.invalidate(
                changes.ids, listing=changes.listing, membership=changes.membership
            )

    products_changed = changed  # the product cache's subscriber, by its first name

    # --- epochs and recovery (module docstring) ------------------------------------------

    async def _start_epoch(
        self, prefix: str, keys: list[str]
    ) -> tuple[bytes, list[bytes | None]] | None:
        """Redis has no epoch (restarted or flushed): create one unless another worker did.

        (the epoch, the values of the generation `keys` read with it), in one MULTI: those read
        with the missing epoch may be counters from before the flush, these are not.
        """
        log.warning(f"{self.kind.log_name}.epoch_missing")
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.set(f"{prefix}epoch", _new_epoch(), nx=True)
                    pipe.get(f"{prefix}epoch")
                    pipe.mget(keys)
                    _, epoch, values = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._failed(f"{self.kind.log_name}.read_failed", exc)
            return None
        self._enter_epoch(epoch)
        return epoch, values

    def _keep_pending(self, ids: Iterable[int], listing: bool) -> None:
        self._pending_ids.update(ids)
        self._pending_listing = self._pending_listing or listing

    def _failed(self, event_name: str, exc: BaseException, **details: Any) -> None:
        level = log.error if event_name.endswith(".invalidate_failed") else log.warning
        level(event_name, error=repr(exc), **details)
        self._distrust(event_name)

    def _distrust(self, reason: str) -> None:
        """Bypass the cache until a rotation of the epoch lands after this moment.

        What this worker holds in memory may be what a lost invalidation left behind: dropped
        now rather than at the rotation. Counting it fails a rotation already in flight.
        """
        self._failures += 1
        self._local.clear()
        self._local_size = 0
        if not self._bypassed:
            self._bypassed = True
            log.error(f"{self.kind.log_name}.bypassed", reason=reason)
        self._start_recovery()

    def _start_recovery(self) -> None:
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.get_running_loop().create_task(self._recover_until_done())

    async def _recover_until_done(self) -> None:
        while True:
            if await self.recover():
                return
            await asyncio.sleep(RETRY_SECONDS)

    async def recover(self) -> bool:
        """One attempt to use the cache again; True once it is usable.

        One MULTI sets a new epoch (every entry cached before, anywhere, is dead) and increments
        the generations this worker could not. Invalidations or errors that arrive while it is
        in flight need another rotation, since they may postdate it.
        """
        async with self._recovering:
            if not self._bypassed:
                return True
            if self._listening is False:
                # A rotation now would not cover what is missed until the listener is back;
                # its reconnection starts the retry again.
                return False
            failures, ids, listing = self._failures, self._pending_ids, self._pending_listing
            self._pending_ids, self._pending_listing = set(), False
            epoch = _new_epoch()
            try:
                prefix = await self.prefix()
                async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
                    async with self.redis.pipeline(transaction=True) as pipe:
                        pipe.set(f"{prefix}epoch", epoch)
                        for product_id in sorted(ids):
                            pipe.incr(f"{prefix}g:{product_id}")
                        if listing:
                            pipe.incr(f"{prefix}lg")
                            pipe.incr(f"{prefix}lu")
                        await pipe.execute()
            except Exception as exc:  # Redis, or the database behind prefix(): try again
                self._keep_pending(ids, listing)
                log.debug(f"{self.kind.log_name}.recovery_failed", error=repr(exc))
                return False
            if self._failures != failures or self._pending_ids or self._pending_listing:
                return False
            self._bypassed = False
            self._enter_epoch(epoch)
            log.warning(f"{self.kind.log_name}.recovered", product_ids=sorted(ids), listing=listing)
            return True

    # --- notifications through PostgreSQL (module docstring) ------------------------------

    async def _notify(self) -> None:
        """Tell every listening worker of this namespace that an invalidation was lost.

        Never raises: the change is committed and its response must still succeed.
        """
        try:
            async with asyncio.timeout(NOTIFY_TIMEOUT_SECONDS):
                prefix = await self.prefix()
                async with self.engine.connect() as connection:
                    # One statement, not BEGIN/SELECT/COMMIT: a notification leaves at commit.
                    autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                    await autocommit.execute(
                        text("SELECT pg_notify(:channel, :payload)"),
                        {"channel": self.kind.channel, "payload": prefix},
                    )
        except Exception as exc:
            log.error(f"{self.kind.log_name}.notify_failed", error=repr(exc))

    async def start_listening(self, *, wait_seconds: float = LISTEN_TIMEOUT_SECONDS) -> bool:
        """Listen for other workers' lost invalidations (a server's worker; commands do not).

        Until the first LISTEN is in place the cache is bypassed, since a notification could be
        missed. Waits up to `wait_seconds` for it; whether it is in place (else the listener
        keeps trying in the background).
        """
        if self._listener is None:
            self._listening = False
            self._listen_since = self._failures
            self._bypassed = True  # not distrusted: nothing was cached, nothing to rotate yet
            self._listener = asyncio.get_running_loop().create_task(
                self._listen(), name=f"{self.kind.namespace}-cache-listener"
            )
        with suppress(TimeoutError):
            async with asyncio.timeout(wait_seconds):
                await self._connected.wait()
        return self._listening is True

    def _listen_dsn(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def _listen(self) -> None:
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                self._listening = None  # stopping, not deaf: nothing to distrust
                raise
            except Exception as exc:
                log.error(f"{self.kind.log_name}.listen_failed", error=repr(exc))
                if self._listening:
                    self._listening = False
                    self._connected.clear()
                    self._distrust(f"{self.kind.log_name}.listen_lost")
                    # A restarted PostgreSQL is a new identity, the one commands now write
                    # under: the namespace is read again before the next LISTEN.
                    self._prefix = None
            await asyncio.sleep(LISTEN_RETRY_SECONDS)

    async def _listen_once(self) -> None:
        """LISTEN on one connection until it is lost (raises) or the task is cancelled."""
        await self.prefix()  # notifications are matched against it
        lost = asyncio.Event()
        connection: Any = None
        try:
            async with asyncio.timeout(LISTEN_TIMEOUT_SECONDS):
                connection = await asyncpg.connect(
                    self._listen_dsn(),
                    server_settings={"application_name": self.kind.listener_name},
                )
                connection.add_termination_listener(lambda _connection: lost.set())
                await connection.add_listener(self.kind.channel, self._on_notification)
            self._now_listening()
            while True:
                with suppress(TimeoutError):
                    async with asyncio.timeout(LISTEN_CHECK_SECONDS):
                        await lost.wait()
                if lost.is_set():
                    raise ConnectionError("the listening connection was closed")
                async with asyncio.timeout(LISTEN_TIMEOUT_SECONDS):
                    await connection.execute("SELECT 1")
        finally:
            if connection is not None:
                connection.terminate()  # never waits on a server that may be gone

    def _now_listening(self) -> None:
        first, self._connected_once = not self._connected_once, True
        self._listening = True
        self._connected.set()
        pending = self._pending_ids or self._pending_listing  # writes made before it
        if first and self._failures == self._listen_since and not pending:
            # Nothing cached by this worker yet, and every notification from now on is heard.
            self._bypassed = False
            log.info(f"{self.kind.log_name}.listening")
            return
        # Notifications may have been missed while not listening (or this worker's own writes
        # could not be sent): a rotation now, after the LISTEN, retires whatever they would have.
        log.warning(f"{self.kind.log_name}.listening", rotating=True)
        self._start_recovery()

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._heard += 1
        if payload == self._prefix:  # another database sharing the server has its own
            self._distrust(f"{self.kind.log_name}.invalidation_lost_elsewhere")

    async def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with suppress(asyncio.CancelledError):
                await listener
        self._listening = None
        self._connected.clear()

    async def aclose(self, *, settle_seconds: float = 0.0) -> None:
        """Stop listening and retrying; first, for up to `settle_seconds`, try to land what is
        pending (a command that exits with pending invalidations leaves the servers stale until
        TTL)."""
        await self._stop_listening()
        deadline = time.monotonic() + settle_seconds
        while True:
            if await self.recover() or time.monotonic() >= deadline:
                break
            await asyncio.sleep(RETRY_SECONDS)
        if self._pending_ids or self._pending_listing:
            log.error(
                f"{self.kind.log_name}.invalidation_lost",
                product_ids=sorted(self._pending_ids),
                listing=self._pending_listing,
            )
        if self._recovery is not None:
            self._recovery.cancel()
            with suppress(asyncio.CancelledError):
                await self._recovery
            self._recovery = None


# The name it has always had: the product cache is the first of its kind.
ProductDocumentCache = DocumentCache


def document_cache(
    engine: AsyncEngine, redis: Any, ttl_seconds: int, kind: CacheKind = PRODUCTS
) -> DocumentCache | None:
    """A cache of `engine`'s documents of `kind` in `redis`, or None: off without Redis, on
    SQLite, or with a TTL of 0. The wiring (shopdb.wiring) subscribes it to the journal."""
    if redis is None or ttl_seconds <= 0 or engine.dialect.name != "postgresql":
        return None
    return DocumentCache(
        redis,
        engine,
        ttl_seconds,
        kind=kind,
        local_bytes=kind.local_bytes,
        list_stale_seconds=kind.list_stale_seconds,
    )


def product_cache(engine: AsyncEngine, redis: Any, ttl_seconds: int) -> DocumentCache | None:
    return document_cache(engine, redis, ttl_seconds, PRODUCTS)


# How long a command that could not invalidate waits at exit for Redis to answer again.
COMMAND_SETTLE_SECONDS = 5.0
