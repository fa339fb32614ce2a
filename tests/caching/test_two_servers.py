"""Two `shopdb serve` processes share one Redis: what is written through one is read through
the other at once, never stale, also while that Redis is stopped and after it restarts empty.

The Redis is the test's own (a `redis-server` on a free port, without persistence, as the
cache wants it), so that it can be stopped; the machine's Redis is never touched. Each round
writes a location, a product, a smart collection's membership (through the product's vendor)
and a shipping rate through server A, then reads all four through server B. Redis is stopped
after a third of the rounds and started again (empty) after two thirds. No request may fail,
and every read must show the round's write.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.caching.conftest import redis_url_or_skip
from tests.fixtures.database import create_postgres_database, drop_postgres_database
from tests.test_graceful_shutdown import free_port, shopdb, wait_until_ready

EMAIL, PASSWORD = "cache-ops@example.com", "correct horse battery staple"
ROUNDS = 24
STOP_AT, START_AT = ROUNDS // 3, 2 * ROUNDS // 3

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


class OwnRedis:
    """A redis-server of the test's own, stopped and started again on the same port."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command
            [*command, "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            ping = subprocess.run(  # noqa: S603 - a fixed command
                ["redis-cli", "-p", str(self.port), "ping"],  # noqa: S607
                capture_output=True,
                check=False,
            )
            if ping.stdout.strip() == b"PONG":
                return
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    redis_url_or_skip()  # the cache tests' switch: without it, the caches are not tested
    import asyncio

    url = asyncio.run(create_postgres_database("twoservers"))
    try:
        yield url
    finally:
        asyncio.run(drop_postgres_database(url))


def serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "shopdb.cli", "serve", "--workers", "1", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def expect(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


class Store:
    """The rows the rounds write (ids), created through server A."""

    def __init__(self, a: httpx.Client) -> None:
        self.location = expect(a.post("/api/v1/locations", json={"name": "L-0"}), 201)["id"]
        product = expect(
            a.post(
                "/api/v1/products",
                json={"title": "P-0", "vendor": "in", "variants": [{"price": "5.00"}]},
            ),
            201,
        )
        self.product = product["id"]
        self.collection = expect(
            a.post(
                "/api/v1/smart-collections",
                json={
                    "title": "Vendor in",
                    "rules": [{"column": "vendor", "relation": "equals", "condition": "in"}],
                },
            ),
            201,
        )["id"]
        zone = expect(
            a.post("/api/v1/shipping-zones", json={"name": "NZ", "countries": [{"code": "NZ"}]}),
            201,
        )
        self.zone = zone["id"]
        self.rate = expect(
            a.post(
                f"/api/v1/shipping-zones/{self.zone}/rates",
                json={"name": "Post", "price": "1.00", "currency": "USD"},
            ),
            201,
        )["id"]

    def write(self, a: httpx.Client, n: int) -> None:
        expect(a.put(f"/api/v1/locations/{self.location}", json={"name": f"L-{n}"}))
        vendor = "in" if n % 2 == 0 else "out"
        body = {"title": f"P-{n}", "vendor": vendor}
        expect(a.put(f"/api/v1/products/{self.product}", json=body))
        rate = {"name": "Post", "price": f"{n}.00", "currency": "USD"}
        expect(a.put(f"/api/v1/shipping-zones/{self.zone}/rates/{self.rate}", json=rate))

    def read(self, b: httpx.Client) -> tuple[str, str, list[str], str]:
        location = expect(b.get(f"/api/v1/locations/{self.location}"))["name"]
        product = expect(b.get(f"/api/v1/products/{self.product}"))["title"]
        page = expect(b.get(f"/api/v1/smart-collections/{self.collection}/products"))
        quote = {
            "address": {"country": "NZ"},
            "weightGrams": "100",
            "subtotal": "10.00",
            "currency": "USD",
        }
        [rate] = expect(b.post("/api/v1/shipping-rates/quote", json=quote))["rates"]
        return location, product, [item["title"] for item in page["items"]], rate["price"]


def test_writes_through_one_server_are_read_through_the_other_with_redis_stopped_and_restarted(
    postgres_url: str, tmp_path: Path
) -> None:
    redis = OwnRedis(tmp_path)
    redis.start()
    env = {
        **os.environ,
        "SHOPDB_ENV": "development",
        "SHOPDB_DATABASE_URL": postgres_url,
        "SHOPDB_VAR_DIR": str(tmp_path),
        "SHOPDB_REDIS_URL": redis.url,
        "SHOPDB_LOG_LEVEL": "WARNING",
        "SHOPDB_LOG_JSON": "false",
        "SHOPDB_RATE_LIMIT_BURST": "0",
    }
    shopdb(env, "migrate")
    shopdb(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--role", "admin")
    ports = free_port(), free_port()
    servers = [serve(env, port, tmp_path / f"server-{port}.log") for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base, server in zip(bases, servers, strict=True):
            wait_until_ready(base, server)
        with httpx.Client(base_url=bases[0], timeout=10) as login:
            token = expect(
                login.post("/api/v1/auth/token", json={"email": EMAIL, "password": PASSWORD})
            )["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=bases[0], headers=headers, timeout=10) as a,
            httpx.Client(base_url=bases[1], headers=headers, timeout=10) as b,
        ):
            store = Store(a)
            assert store.read(b) == ("L-0", "P-0", ["P-0"], "1.00")
            assert store.read(b) == ("L-0", "P-0", ["P-0"], "1.00")  # now from the caches
            for n in range(1, ROUNDS + 1):
                if n == STOP_AT:
                    redis.stop()
                if n == START_AT:
                    redis.start()  # empty: no epoch, no generations
                store.write(a, n)
                # At once, through the other server: the round's write, never an older one.
                in_collection = [f"P-{n}"] if n % 2 == 0 else []
                assert store.read(b) == (f"L-{n}", f"P-{n}", in_collection, f"{n}.00"), n
                assert store.read(a) == (f"L-{n}", f"P-{n}", in_collection, f"{n}.00"), n
            # The caches serve again once Redis is back (after each worker's rotation).
            time.sleep(0.5)
            assert store.read(b) == store.read(b)
            scraped = b.get("/metrics").text
        hits = [
            line
            for line in scraped.splitlines()
            if line.startswith("cache_requests_total{")
            and 'cache="locations"' in line
            and 'result="hit"' in line
        ]
        assert hits, scraped
        assert sum(float(line.rsplit(" ", 1)[1]) for line in hits) > 0
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        redis.stop()
