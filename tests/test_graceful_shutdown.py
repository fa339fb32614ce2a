"""`shopdb serve` stopped by SIGTERM under load loses no request.

The server runs as a subprocess (two worker processes), as an orchestrator runs it. Clients
place orders (slow: the test gateway answers after a pause) and read, while a stand-in for the
load balancer polls /health/ready as a Kubernetes Service's readiness does and stops routing
new requests once it answers 503. SIGTERM is sent while orders are in flight. Then:

- no request fails (no 5xx, no reset or refused connection), those in flight at SIGTERM
  included;
- readiness turned 503 while the server still accepted connections (liveness answered);
- every order answered 201 is in the database, with its stock taken, and no other;
- each worker ran the app's shutdown (the database and Redis pools closed) and the server
  exited 0 before any deadline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shopdb.config import Settings
from shopdb.db import create_engine
from shopdb.health.draining import DRAINING, CloseConnectionsWhileDraining, Draining
from shopdb.serving import DrainingServer, supports_reuse_port, uvicorn_options
from tests.fixtures.database import (
    create_postgres_database,
    drop_postgres_database,
    redis_url_for_tests,
)

NEEDS_REUSE_PORT = pytest.mark.skipif(not supports_reuse_port(), reason="needs SO_REUSEPORT")

DRAIN_SECONDS = 1.5
GATEWAY_LATENCY_MS = 400
STOCK = 1000
EMAIL, PASSWORD = "ops@example.com", "correct horse battery staple"
CARD = "4242424242424242"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def shopdb(env: dict[str, str], *args: str) -> None:
    subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "shopdb.cli", *args],
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )


@dataclass
class Outcome:
    kind: str
    started: float
    ended: float
    status: int | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.status is None or self.status >= 500


@dataclass
class Balancer:
    """What the test's load balancer saw: when readiness first answered 503, and whether the
    server still accepted a new connection at that moment."""

    routing: asyncio.Event = field(default_factory=asyncio.Event)
    first_unready: float | None = None
    unready_body: dict[str, Any] | None = None
    liveness_while_draining: int | None = None


@dataclass
class Load:
    outcomes: list[Outcome] = field(default_factory=list)
    sigterm_at: float = 0.0
    balancer: Balancer = field(default_factory=Balancer)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shutdown.sqlite3'}"
        return
    url = asyncio.run(create_postgres_database("shutdown"))
    try:
        yield url
    finally:
        asyncio.run(drop_postgres_database(url))


def server_env(database_url: str, var_dir: Path) -> dict[str, str]:
    postgres = not database_url.startswith("sqlite")
    return {
        **os.environ,
        "SHOPDB_ENV": "development",
        "SHOPDB_DATABASE_URL": database_url,
        "SHOPDB_VAR_DIR": str(var_dir),
        # With PostgreSQL, Redis too when the suite has one: its pool must close as well.
        "SHOPDB_REDIS_URL": (redis_url_for_tests() or "") if postgres else "",
        "SHOPDB_LOG_LEVEL": "INFO",
        "SHOPDB_LOG_JSON": "false",
        "SHOPDB_RATE_LIMIT_BURST": "0",
        "SHOPDB_PAYMENTS_TEST_LATENCY_MS": str(GATEWAY_LATENCY_MS),
        "SHOPDB_SHUTDOWN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "SHOPDB_SHUTDOWN_GRACE_SECONDS": "15",
    }


def wait_until_ready(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None, "the server exited while starting"
        assert time.monotonic() < deadline, "the server was not ready within 60 s"
        time.sleep(0.2)


def prepare_store(base: str) -> tuple[dict[str, str], int]:
    """A token, a location and a product with STOCK units: (auth headers, variant id)."""
    with httpx.Client(base_url=base, timeout=10) as http:
        login = http.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
        location = http.post(
            "/api/v1/locations", json={"name": "Warehouse", "country": "US"}, headers=headers
        )
        assert location.status_code == 201, location.text
        product = http.post(
            "/api/v1/products",
            json={
                "title": "Drain Tee",
                "variants": [{"price": "10.00", "sku": "DRAIN-1", "inventoryQuantity": STOCK}],
            },
            headers=headers,
        )
        assert product.status_code == 201, product.text
        variant_id: int = product.json()["variants"][0]["id"]
    return headers, variant_id


async def drive(
    base: str,
    headers: dict[str, str],
    variant_id: int,
    server: subprocess.Popen[bytes],
    *,
    placers: int,
    readers: int,
) -> Load:
    load = Load()
    load.balancer.routing.set()
    steady = asyncio.Event()
    order = {
        "email": "drain@example.com",
        "lineItems": [{"variantId": variant_id, "quantity": 1}],
        "payment": {"gateway": "test", "token": CARD, "capture": True},
    }

    async def client(kind: str) -> None:
        # Each client keeps its connection alive between requests, as a browser or an SDK.
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            while load.balancer.routing.is_set():
                outcome = Outcome(kind, started=time.monotonic(), ended=0.0)
                try:
                    if kind == "order":
                        response = await http.post("/api/v1/orders", json=order)
                    else:
                        response = await http.get(f"/api/v1/orders?pageSize=5&v={variant_id}")
                    outcome.status = response.status_code
                except httpx.HTTPError as exc:
                    outcome.error = repr(exc)
                outcome.ended = time.monotonic()
                load.outcomes.append(outcome)
                if sum(o.kind == "order" for o in load.outcomes) >= 2 * placers:
                    steady.set()

    async def balancer() -> None:
        # A fresh connection per probe, as the kubelet's; every 50 ms.
        while True:
            async with httpx.AsyncClient(base_url=base, timeout=5) as probe:
                ready = await probe.get("/health/ready")
                if ready.status_code == 503:
                    load.balancer.first_unready = time.monotonic()
                    load.balancer.unready_body = ready.json()
                    load.balancer.liveness_while_draining = (await probe.get("/health")).status_code
                    load.balancer.routing.clear()  # the instance leaves the rotation
                    return
            await asyncio.sleep(0.05)

    async def stop_under_load() -> None:
        # Once the load runs steadily, while orders are waiting on the gateway.
        await steady.wait()
        await asyncio.sleep(GATEWAY_LATENCY_MS / 2000)
        load.sigterm_at = time.monotonic()
        server.send_signal(signal.SIGTERM)

    async with asyncio.timeout(90):
        await asyncio.gather(
            *(client("order") for _ in range(placers)),
            *(client("read") for _ in range(readers)),
            balancer(),
            stop_under_load(),
        )
    return load


async def stored_orders_and_stock(database_url: str, var_dir: Path) -> tuple[int, int, int]:
    settings = Settings(database_url=database_url, var_dir=var_dir)
    engine = create_engine(settings.database_url, settings)
    try:
        async with engine.connect() as connection:
            orders = (await connection.execute(text("SELECT count(*) FROM orders"))).scalar_one()
            available, committed = (
                await connection.execute(text("SELECT available, committed FROM inventory_levels"))
            ).one()
            if engine.dialect.name == "postgresql":
                # Every connection the server opened is gone (this one aside).
                others = (
                    await connection.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        )
                    )
                ).scalar_one()
                assert others == 0
    finally:
        await engine.dispose()
    return int(orders), int(available), int(committed)


class TestDrainingInProcess:
    """The pieces, in one process: readiness, the connection header, the signal handling."""

    async def test_readiness_is_503_while_draining_and_liveness_stays_200(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        before = await client.get("/health/ready")
        monkeypatch.setattr(DRAINING, "since", time.monotonic())

        ready, live = await client.get("/health/ready"), await client.get("/health")

        assert before.status_code == 200
        assert (ready.status_code, ready.json()["status"]) == (503, "draining")
        assert (live.status_code, live.json()) == (200, {"status": "ok"})

    async def test_responses_close_their_connection_only_while_draining(self) -> None:
        draining = Draining()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            headers = [(b"content-type", b"text/plain"), (b"connection", b"keep-alive")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"ok"})

        transport = httpx.ASGITransport(app=CloseConnectionsWhileDraining(app, draining))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            serving = await http.get("/")
            draining.begin()
            stopping = await http.get("/")

        assert serving.headers.get_list("connection") == ["keep-alive"]
        assert stopping.headers.get_list("connection") == ["close"]
        assert stopping.text == "ok"

    def test_sigterm_drains_first_and_a_second_signal_stops_at_once(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import uvicorn

        monkeypatch.setattr(DRAINING, "since", None)
        options = uvicorn_options(Settings(var_dir=tmp_path))
        server = DrainingServer(uvicorn.Config(**options), drain_seconds=30)

        server.handle_exit(signal.SIGTERM, None)
        draining_then = (DRAINING.active, server.should_exit)
        server.handle_exit(signal.SIGTERM, None)

        assert draining_then == (True, False)
        assert server.should_exit is True

    def test_sigint_skips_the_drain(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        import uvicorn

        monkeypatch.setattr(DRAINING, "since", None)
        options = uvicorn_options(Settings(var_dir=tmp_path))
        server = DrainingServer(uvicorn.Config(**options), drain_seconds=30)

        server.handle_exit(signal.SIGINT, None)

        assert (DRAINING.active, server.should_exit) == (False, True)


@NEEDS_REUSE_PORT
class TestSigtermUnderLoad:
    def test_in_flight_requests_finish_and_none_fails(
        self, database_url: str, tmp_path: Path
    ) -> None:
        # Given a migrated store with an admin, served by two worker processes
        env = server_env(database_url, tmp_path)
        shopdb(env, "migrate")
        shopdb(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--role", "admin")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp_path / "server.log"
        with log.open("wb") as output:
            command = ["shopdb.cli", "serve", "--workers", "2", "--port", str(port)]
            server = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", *command],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_until_ready(base, server)
            headers, variant_id = prepare_store(base)
            sqlite = database_url.startswith("sqlite")

            # When SIGTERM arrives while orders wait on the gateway and reads keep coming
            load = asyncio.run(
                drive(
                    base,
                    headers,
                    variant_id,
                    server,
                    placers=3 if sqlite else 6,  # SQLite runs one placement at a time
                    readers=2,
                )
            )
            exit_code = server.wait(timeout=DRAIN_SECONDS + 15 + 10)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()

        # Then no request failed, the ones in flight at SIGTERM included
        failures = [o for o in load.outcomes if o.failed]
        assert failures == []
        in_flight = [o for o in load.outcomes if o.started < load.sigterm_at < o.ended]
        assert any(o.kind == "order" for o in in_flight)
        # Readiness turned 503 first, while the server still accepted connections
        balancer = load.balancer
        assert balancer.unready_body == {
            "status": "draining",
            "code": "SERVICE_UNAVAILABLE",
            "message": "Not ready: shutting down",
            "checks": {},
        }
        assert balancer.liveness_while_draining == 200
        assert balancer.first_unready is not None
        assert balancer.first_unready - load.sigterm_at < DRAIN_SECONDS
        # and the server exited cleanly; nothing listens on the port any more
        assert exit_code == 0
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/health", timeout=2)
        # Every order answered 201 is stored with its stock taken, and no other
        placed = sum(o.kind == "order" and o.status == 201 for o in load.outcomes)
        assert placed == sum(o.kind == "order" for o in load.outcomes)
        assert asyncio.run(stored_orders_and_stock(database_url, tmp_path)) == (
            placed,
            STOCK - placed,
            placed,
        )
        # Each worker drained, finished, and ran the app's shutdown (pools closed)
        printed = log.read_text()
        assert printed.count("draining") == 2
        assert printed.count("Application shutdown complete.") == 2
        assert printed.count("server_stopped") == 2
        assert "timeout graceful shutdown exceeded" not in printed
        assert "Traceback" not in printed
