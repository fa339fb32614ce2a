"""Prometheus metrics: what is counted, and how a scrape renders it.

    http_requests_total{method,endpoint,status_code}   every HTTP request (MetricsMiddleware)
    http_request_duration_seconds{method,endpoint}     its duration (a histogram)
    active_connections{pool}                           database connections checked out
    orders_created_total                               orders committed
    jobs_total{kind,result}                            job attempts, by outcome (jobs/runner.py)
    webhook_deliveries_total{result}                   webhook delivery attempts
    cache_requests_total{cache,level,result}           document cache lookups, per level
                                                        (list pages as `<cache>_pages`)
    jobs_queue_depth{kind}, jobs_queue_oldest_age_seconds{kind}   read from the jobs table
                                                        when scraped (QueueBacklogRepository)

With several worker processes each one counts on its own; `shopdb serve` points
PROMETHEUS_MULTIPROC_DIR at a fresh folder (before this module is imported, as
prometheus_client requires) so that a scrape adds up every worker. The `shopdb worker`
started by `shopdb serve --with-worker` inherits the folder, so its job counts are in the sum.

This module imports nothing of the web layer: the cache, the job runner and db.py count
through it. The `/metrics` route itself is in shopdb.observability.
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, func, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopdb.jobs.kinds import KINDS
from shopdb.kit.models import WRITTEN_ROWS
from shopdb.kit.types import UTCDateTime, utcnow
from shopdb.models import Event, Job

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # also set by shopdb.cli.serve
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "http_requests_total", "Total number of HTTP requests", ["method", "endpoint", "status_code"]
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Duration of HTTP requests in seconds",
    ["method", "endpoint"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
# livesum: the connections of the processes alive now (a restarted worker's count goes with
# it once its files are marked dead), summed.
ACTIVE_CONNECTIONS = Gauge(
    "active_connections",
    "Database pool connections in use",
    ["pool"],
    multiprocess_mode="livesum",
)
ORDERS_CREATED = Counter("orders_created_total", "Orders created (counted when committed)")
JOBS = Counter("jobs_total", "Job attempts by kind and outcome", ["kind", "result"])
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total", "Webhook delivery attempts by result", ["result"]
)
CACHE_REQUESTS = Counter(
    "cache_requests_total",
    "Document cache lookups by cache, level (memory, redis) and result (hit, miss)",
    ["cache", "level", "result"],
)

# The label of requests no route matched.
UNMATCHED = "unmatched"  # a 404: no route matched


# --- HTTP -----------------------------------------------------------------------------------


def route_template(scope: Scope) -> str:
    """`/api/v1/products/42` -> `/api/v1/products/{id}`: one label per route, not per id.

    A mounted application (the offline docs' static files) is labelled by its mount path
    (`/static/swagger-ui/{path}`), apart from requests no route matched (`unmatched`): a
    scanner's 404s must not hide among, nor be taken for, asset downloads.
    """
    route = scope.get("route")
    if route is None or _is_mount(route):
        # A mount extends root_path by the path it matched (FastAPI sets no route for it).
        mounted = scope.get("root_path", "")[len(scope.get("app_root_path", "")) :]
        return f"{mounted}/{{path}}" if mounted else UNMATCHED
    by_value = {str(v): k for k, v in scope.get("path_params", {}).items()}
    return "/".join(
        f"{{{by_value[segment]}}}" if segment in by_value else segment
        for segment in scope["path"].split("/")
    )


def _is_mount(route: Any) -> bool:
    from starlette.routing import Mount

    return isinstance(route, Mount)


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


# --- database pools -------------------------------------------------------------------------

_watched: weakref.WeakSet[Pool] = weakref.WeakSet()


def watch_pools(primary: AsyncEngine, replicas: Sequence[AsyncEngine]) -> None:
    """Count the connections each pool has handed out (`pool` = primary, replica-1, ...)."""
    for name, engine in [("primary", primary)] + [
        (f"replica-{n}", e) for n, e in enumerate(replicas, 1)
    ]:
        pool = engine.sync_engine.pool
        if pool in _watched:  # a second Database over the same engine (tests)
            continue
        _watched.add(pool)
        _count_checkouts(pool, ACTIVE_CONNECTIONS.labels(name))


def _count_checkouts(pool: Pool, gauge: Any) -> None:
    # Incremented and decremented, not read from the pool: SQLite's pools have no checked-out
    # count, and during `checkin` a QueuePool's still includes the connection. A pool's
    # listeners move to the pool that engine.dispose() puts in its place.
    event.listen(pool, "checkout", lambda *_: gauge.inc())
    event.listen(pool, "checkin", lambda *_: gauge.dec())
    # A connection detached from the pool is never checked in.
    event.listen(pool, "detach", lambda *_: gauge.dec())


# --- orders ---------------------------------------------------------------------------------

_NEW_ORDERS = "shopdb.metrics.new_orders"
ORDER_CREATED = "orders/create"


def track_orders(session_class: type[Session]) -> None:
    """Count the orders each commit of `session_class`'s sessions created.

    An order is created when its `orders/create` event is written: the step that turns a
    placement's reservation into an order (orders/placement.py), whatever the path (POST
    /orders, checkout completion). Not the `orders` row: a reservation is written, and
    committed on PostgreSQL, before the payment, and deleted again when the card is
    declined. Counted at commit; an event flushed inside a savepoint that then rolled back
    is no longer persistent at commit, so it does not count either. The placement writes its
    events with kit.models.write_rows (listed in the session's info, not flushed): a failure
    after them raises through the request, whose rollback forgets them.
    """
    event.listen(session_class, "after_flush", _note_new_orders)
    event.listen(session_class, "after_commit", _count_new_orders)
    event.listen(session_class, "after_rollback", _forget_new_orders)


def _note_new_orders(session: Session, _context: Any) -> None:
    orders = [e for e in session.new if isinstance(e, Event) and e.topic == ORDER_CREATED]
    if orders:
        session.info.setdefault(_NEW_ORDERS, []).extend(orders)


def _count_new_orders(session: Session) -> None:
    from sqlalchemy import inspect

    flushed = session.info.pop(_NEW_ORDERS, None) or ()
    # Events a placement wrote with its other rows in one statement (kit.models.write_rows).
    written = session.info.pop(WRITTEN_ROWS, None) or ()
    created = sum(1 for o in flushed if inspect(o).persistent) + sum(
        1 for row in written if isinstance(row, Event) and row.topic == ORDER_CREATED
    )
    if created:
        ORDERS_CREATED.inc(created)


def _forget_new_orders(session: Session) -> None:
    session.info.pop(_NEW_ORDERS, None)
    session.info.pop(WRITTEN_ROWS, None)


# --- jobs, webhooks, caches -----------------------------------------------------------------


def count_job(kind: str, result: str) -> None:
    """One job attempt's outcome: completed, retry, failed, lease_lost or unrecorded."""
    JOBS.labels(kind, result).inc()


def count_webhook_delivery(result: str) -> None:
    """One webhook delivery attempt: `delivered`, `failed` (the endpoint refused or timed
    out, to be retried) or `abandoned` (out of attempts). For the webhooks' sender."""
    WEBHOOK_DELIVERIES.labels(result).inc()


def count_cache_lookup(
    cache: str, asked: Collection[int], remote: Collection[int], hits: Mapping[int, Any]
) -> None:
    """One lookup of `asked` documents: `remote` were not held in this worker's memory and
    were asked of Redis; `hits` were found (in memory or in Redis). Memory misses are the
    Redis level's requests; Redis misses are read from the database."""
    if not asked:
        return
    redis_hits = sum(1 for i in remote if i in hits)
    memory_hits = len(hits) - redis_hits
    memory_misses = len(asked) - memory_hits
    _inc(CACHE_REQUESTS.labels(cache, "memory", "hit"), memory_hits)
    _inc(CACHE_REQUESTS.labels(cache, "memory", "miss"), memory_misses)
    _inc(CACHE_REQUESTS.labels(cache, "redis", "hit"), redis_hits)
    _inc(CACHE_REQUESTS.labels(cache, "redis", "miss"), memory_misses - redis_hits)


def count_cache_redis(cache: str, *, hit: bool) -> None:
    """One lookup of an entry kept in Redis only: a list page (`cache` is `<kind>_pages`, e.g.
    `collections_pages`) or a settings value (`settings`)."""
    CACHE_REQUESTS.labels(cache, "redis", "hit" if hit else "miss").inc()


def _inc(counter: Any, amount: int) -> None:
    if amount:
        counter.inc(amount)


# --- the job queue's backlog, read when scraped --------------------------------------------


@dataclass(frozen=True)
class Backlog:
    kind: str
    depth: int  # queued jobs that are due, and running ones whose lease lapsed
    oldest_age_seconds: float  # how long the oldest of them has been due


class QueueBacklogRepository:
    """What the workers have not caught up with. Read from the table, not counted by the
    workers: it is right however many workers run, and with none running at all."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def backlog(self) -> list[Backlog]:
        now = utcnow()
        stamp = literal(now, UTCDateTime())
        rows = await self.session.execute(
            select(Job.kind, func.count(), func.min(Job.run_after))
            .where(
                ((Job.status == "queued") & (Job.run_after <= stamp))
                | ((Job.status == "running") & (Job.locked_until < stamp))
            )
            .group_by(Job.kind)
        )
        return [Backlog(kind, int(count), _age(now, oldest)) for kind, count, oldest in rows.all()]


def _age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0


def backlog_families(backlog: Iterable[Backlog]) -> list[GaugeMetricFamily]:
    by_kind = {b.kind: b for b in backlog}
    depth = GaugeMetricFamily(
        "jobs_queue_depth",
        "Jobs due and not yet running (queued, or lease lapsed)",
        labels=["kind"],
    )
    age = GaugeMetricFamily(
        "jobs_queue_oldest_age_seconds",
        "Seconds the oldest due job has waited (0 when none is due)",
        labels=["kind"],
    )
    for kind in sorted({*KINDS, *by_kind}):
        found = by_kind.get(kind)
        depth.add_metric([kind], found.depth if found else 0)
        age.add_metric([kind], round(found.oldest_age_seconds, 3) if found else 0.0)
    return [depth, age]


# --- exposition -----------------------------------------------------------------------------


class _Families:
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> list[GaugeMetricFamily]:
        return self.families


def render(extra: list[GaugeMetricFamily] | None = None) -> bytes:
    """The text a scrape gets: every process's counts (multiprocess mode) or this one's, and
    `extra` families computed for this scrape."""
    if os.environ.get(MULTIPROC_ENV):
        registry: Any = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    text = generate_latest(registry)
    if extra:
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(_Families(extra))
        text += generate_latest(scrape)
    return text
