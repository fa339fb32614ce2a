"""GET /metrics: who may read it, and that what it says matches what happened.

The counters live in the process's registry, shared by every test: each test reads them
before and after what it does and asserts the difference.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb import metrics
from shopdb.app import create_app
from shopdb.db import Database
from shopdb.jobs import RunningJob, enqueue
from shopdb.jobs.kinds import FILES_DELETE
from shopdb.jobs.runner import JobContext, Registration
from shopdb.kit.types import utcnow
from shopdb.metrics import route_template
from shopdb.observability import (
    OTLP_ENDPOINT_ENV,
    MetricsServer,
    setup_tracing,
    stop_tracing,
)
from shopdb.services import services_of
from shopdb.serving import supports_reuse_port
from shopdb.users.service import create_user
from tests.fixtures.catalog import Headers, ProductFactory
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.jobs.helpers import make_worker
from tests.orders.helpers import make_locations, make_variant, order_body, place

METRICS_TOKEN = "scrape-" + "x" * 40
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def bearer_for(app: FastAPI, session: AsyncSession, *permissions: str) -> dict[str, str]:
    """A staff user holding exactly `permissions`, and a token for them."""
    from shopdb.models import UserPermission
    from shopdb.users.repository import PermissionRepository

    user = await create_user(session, email="metrics@example.com", password="p" * 12)
    for permission in await PermissionRepository(session).get_by_names(permissions):
        session.add(UserPermission(user_id=user.id, permission_id=permission.id))
    await session.flush()
    token = services_of(app).tokens.issue(user.id, permissions).token
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def scraper(
    app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
) -> httpx.AsyncClient:
    """The test's client, sending a token that may read the metrics."""
    client.headers.update(await bearer_for(app, db_session, "metrics:read"))
    return client


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


class TestRouteTemplate:
    def test_replaces_path_parameter_values_with_their_names(self) -> None:
        scope = {"route": object(), "path": "/api/v1/products/42", "path_params": {"id": 42}}
        assert route_template(scope) == "/api/v1/products/{id}"

    def test_unmatched_paths_share_one_label(self) -> None:
        assert route_template({"path": "/nope/123", "path_params": {}}) == "unmatched"


class TestAccess:
    async def test_requires_credentials(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/metrics")
        assert response.status_code == 401

    async def test_requires_the_metrics_permission(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        headers = await bearer_for(app, db_session, "products:read")
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 403

    async def test_the_configured_token_reads_and_another_is_refused(
        self, backend: Backend, database: Database
    ) -> None:
        settings = backend.settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
        application = create_app(settings)
        use_services(application, database)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            good = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
            bad = await client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert good.status_code == 200
        assert "http_requests_total" in good.text
        assert bad.status_code == 401

    async def test_without_a_configured_token_no_bearer_string_is_enough(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert response.status_code == 401


class TestHttpMetrics:
    async def test_counts_each_request_by_route_template_and_status(
        self, scraper: httpx.AsyncClient, admin: Headers
    ) -> None:
        before = await scrape(scraper)
        for _ in range(3):
            assert (await scraper.get("/health")).status_code == 200
        missing = await scraper.get("/api/v1/products/987654321", headers=admin)
        assert missing.status_code == 404
        after = await scrape(scraper)

        def delta(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        assert (
            delta("http_requests_total", method="GET", endpoint="/health", status_code="200") == 3
        )
        # A matched route that answers 404 keeps its template; the id is not a label.
        product = {"method": "GET", "endpoint": "/api/v1/products/{product_id}"}
        assert delta("http_requests_total", **product, status_code="404") == 1
        assert not any("987654321" in str(labels) for _, labels in after)
        assert delta("http_request_duration_seconds_count", method="GET", endpoint="/health") == 3
        assert (
            delta(
                "http_request_duration_seconds_bucket", method="GET", endpoint="/health", le="+Inf"
            )
            == 3
        )

    async def test_static_files_and_unknown_paths_have_labels_of_their_own(
        self, scraper: httpx.AsyncClient
    ) -> None:
        before = await scrape(scraper)
        assert (await scraper.get("/static/swagger-ui/swagger-ui.css")).status_code == 200
        assert (await scraper.get("/static/swagger-ui/favicon-32x32.png")).status_code == 200
        assert (await scraper.get("/wp-login.php")).status_code == 404
        after = await scrape(scraper)

        static = {"method": "GET", "endpoint": "/static/swagger-ui/{path}", "status_code": "200"}
        unmatched = {"method": "GET", "endpoint": "unmatched", "status_code": "404"}
        assert (
            value(after, "http_requests_total", **static)
            - value(before, "http_requests_total", **static)
            == 2
        )
        assert (
            value(after, "http_requests_total", **unmatched)
            - value(before, "http_requests_total", **unmatched)
            == 1
        )


class TestDomainMetrics:
    async def test_a_committed_order_counts_and_a_declined_one_does_not(
        self, scraper: httpx.AsyncClient, admin: Headers, database: Database
    ) -> None:
        (loc,) = await make_locations(database, "Main")
        tee = await make_variant(database, "19.99", {loc: 10})
        before = value(await scrape(scraper), "orders_created_total")

        placed = await place(scraper, admin, order_body((tee.variant_id, 1)))
        assert placed.status_code == 201, placed.text
        declined = order_body(
            (tee.variant_id, 1),
            payment={"gateway": "test", "token": "4000000000000002", "capture": True},
        )
        assert (await place(scraper, admin, declined)).status_code == 402

        assert value(await scrape(scraper), "orders_created_total") - before == 1

    async def test_job_attempts_count_by_kind_and_outcome(
        self, backend: Backend, database: Database, scraper: httpx.AsyncClient
    ) -> None:
        async with database.session() as session:
            await enqueue(session, FILES_DELETE, {"key": "a"})
            await enqueue(session, FILES_DELETE, {"key": "boom"}, max_attempts=1)

        async def handler(_context: JobContext, job: RunningJob) -> None:
            if job.payload["key"] == "boom":
                raise RuntimeError("no")

        kind = FILES_DELETE.name
        before = await scrape(scraper)
        worker = make_worker(database, backend.settings, [Registration(FILES_DELETE, handler)])
        assert await worker.run_due() == 2
        after = await scrape(scraper)
        for result in ("completed", "failed"):
            assert (
                value(after, "jobs_total", kind=kind, result=result)
                - value(before, "jobs_total", kind=kind, result=result)
                == 1
            )

    async def test_queue_depth_and_oldest_age_come_from_the_jobs_table(
        self, database: Database, scraper: httpx.AsyncClient
    ) -> None:
        kind = FILES_DELETE.name
        async with database.session() as session:
            await enqueue(
                session, FILES_DELETE, {"key": "old"}, run_after=utcnow() - timedelta(minutes=5)
            )
            await enqueue(session, FILES_DELETE, {"key": "new"})
            # Scheduled for later: not due, not in the backlog.
            await enqueue(
                session, FILES_DELETE, {"key": "later"}, run_after=utcnow() + timedelta(hours=1)
            )
        samples = await scrape(scraper)
        assert value(samples, "jobs_queue_depth", kind=kind) == 2
        age = value(samples, "jobs_queue_oldest_age_seconds", kind=kind)
        assert 300 <= age < 400
        # Every kind is listed, at 0 when nothing waits.
        assert ("jobs_queue_depth", frozenset({("kind", "products/import")})) in samples

    async def test_active_connections_follow_checkouts(self, tmp_path: Path) -> None:
        from shopdb.config import Settings
        from shopdb.db import create_engine

        settings = Settings(var_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'c.sqlite3'}")
        database = Database(primary=create_engine(settings.database_url, settings))
        gauge = metrics.ACTIVE_CONNECTIONS.labels("primary")
        try:
            start = gauge._value.get()
            # Connecting checks a connection out of the pool; no statement is needed.
            async with database.primary.connect(), database.primary.connect():
                assert gauge._value.get() - start == 2
            assert gauge._value.get() == start
        finally:
            await database.dispose()

    def test_webhook_deliveries_count_by_result(self) -> None:
        delivered = metrics.WEBHOOK_DELIVERIES.labels("delivered")
        before = delivered._value.get()
        metrics.count_webhook_delivery("delivered")
        assert delivered._value.get() - before == 1

    def test_cache_lookups_count_per_level(self) -> None:
        def read(level: str, result: str) -> float:
            return float(metrics.CACHE_REQUESTS.labels("test", level, result)._value.get())

        # 5 asked: 1 and 2 held in memory, 3 and 4 found in Redis, 5 read from the database.
        metrics.count_cache_lookup(
            "test", [1, 2, 3, 4, 5], [3, 4, 5], {1: b"", 2: b"", 3: b"", 4: b""}
        )
        assert (read("memory", "hit"), read("memory", "miss")) == (2, 3)
        assert (read("redis", "hit"), read("redis", "miss")) == (2, 1)

    async def test_product_reads_count_in_the_product_cache(
        self,
        backend: Backend,
        scraper: httpx.AsyncClient,
        make_product: ProductFactory,
        admin: Headers,
    ) -> None:
        if backend.name != "postgresql" or not backend.settings.redis_url:
            pytest.skip("the product cache runs on PostgreSQL with Redis")
        product = await make_product("Cached Tee")
        path = f"/api/v1/products/{product['id']}"
        before = await scrape(scraper)
        for _ in range(3):
            assert (await scraper.get(path, headers=admin)).status_code == 200
        after = await scrape(scraper)

        def delta(level: str, result: str) -> float:
            labels = {"cache": "products", "level": level, "result": result}
            return value(after, "cache_requests_total", **labels) - value(
                before, "cache_requests_total", **labels
            )

        # Three lookups of one document: each asked memory first; whatever memory missed was
        # asked of Redis; the totals add up whichever worker state the test started in.
        assert delta("memory", "hit") + delta("memory", "miss") == 3
        assert delta("redis", "hit") + delta("redis", "miss") == delta("memory", "miss")
        assert delta("memory", "hit") >= 1  # the third read, at the latest, comes from memory


class TestMetricsPort:
    async def test_serves_metrics_without_credentials_and_nothing_else(
        self, backend: Backend, database: Database
    ) -> None:
        port = _free_port()
        settings = backend.settings.model_copy(update={"metrics_port": port})
        server = MetricsServer(settings, database)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                ok = await client.get("/metrics")
                other = await client.get("/api/v1/products")
        finally:
            await server.aclose()
        assert ok.status_code == 200
        samples = parse(ok.text)
        assert ("jobs_queue_depth", frozenset({("kind", FILES_DELETE.name)})) in samples
        assert "http_requests_total" in ok.text
        assert other.status_code == 404


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.skipif(not supports_reuse_port(), reason="needs SO_REUSEPORT")
def test_two_workers_are_summed_by_one_scrape(tmp_path: Path) -> None:
    """`shopdb serve --workers 2`: requests spread over both processes, one scrape (of the
    API with the token, and of the metrics port) counts all of them."""
    port, metrics_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "SHOPDB_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "SHOPDB_VAR_DIR": str(tmp_path),
        "SHOPDB_REDIS_URL": "",
        "SHOPDB_LOG_LEVEL": "WARNING",
        "SHOPDB_METRICS_TOKEN": METRICS_TOKEN,
        "SHOPDB_METRICS_PORT": str(metrics_port),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cli = [sys.executable, "-m", "shopdb.cli"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)  # noqa: S603
    command = [*cli, "serve", "--workers", "2", "--port", str(port)]
    server = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - our CLI
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline, "the server did not answer within 60 s"
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        url = f"http://127.0.0.1:{port}"
        before = parse(httpx.get(f"{url}/metrics", headers=headers, timeout=5).text)
        # Not /health: a startup probe that timed out may still be answered after `before`.
        sent, counted_path = 40, "/.well-known/jwks.json"
        for _ in range(sent):
            with httpx.Client(timeout=5) as client:  # a new connection: either worker
                assert client.get(f"{url}{counted_path}").status_code == 200
        labels = {"method": "GET", "endpoint": counted_path, "status_code": "200"}
        for scraped in (
            httpx.get(f"{url}/metrics", headers=headers, timeout=5).text,
            httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text,
        ):
            after = parse(scraped)
            counted = value(after, "http_requests_total", **labels) - value(
                before, "http_requests_total", **labels
            )
            assert counted == sent, scraped
            pools = value(after, "active_connections", pool="primary")
            assert pools >= 0
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0


class TestTracing:
    async def test_off_without_an_endpoint(
        self, app: FastAPI, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv(OTLP_ENDPOINT_ENV, raising=False)
        assert setup_tracing(app, database) is False

    async def test_a_request_is_traced_with_its_statements_and_without_its_query(
        self, backend: Backend
    ) -> None:
        pytest.importorskip("opentelemetry.sdk")
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.trace import SpanKind

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        settings = backend.settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
        application = create_app(settings)
        # A Database of its own: instrumenting reaches connections made from then on.
        database = Database.from_settings(settings)
        use_services(application, database)
        assert setup_tracing(application, database, provider=provider)
        try:
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                scrape = {"Authorization": f"Bearer {METRICS_TOKEN}"}
                response = await client.get("/metrics", headers=scrape)
                refused = await client.get(
                    "/metrics", params={"email": "jane.traced@example.org"}, headers=scrape
                )
        finally:
            stop_tracing(application)
            await database.dispose()
        assert response.status_code == 200, response.text
        assert refused.status_code == 400  # the endpoint takes no query parameter

        spans = exporter.get_finished_spans()
        server, other = [s for s in spans if s.kind == SpanKind.SERVER]
        assert server.name == other.name == "GET /metrics"
        statements = [
            s for s in spans if s.kind == SpanKind.CLIENT and "FROM jobs" in str(s.attributes)
        ]
        assert statements, [(s.name, s.attributes) for s in spans]
        # The statements belong to the request's trace.
        assert all(s.context.trace_id == server.context.trace_id for s in statements)
        everything = " ".join(str(dict(s.attributes or {})) + s.name for s in spans)
        assert "jane.traced" not in everything
        assert METRICS_TOKEN not in everything
