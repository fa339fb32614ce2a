"""Read replicas against a real PostgreSQL standby (tests/fixtures/standby.py).

Lag-tolerant reads (the product list) go to the standby, writes and reads inside a write's
transaction to the primary; a client that wrote reads its write; a standby that stops or falls
behind is skipped and reported by /health/ready; what is cached is never read from a replica.
The standby is started once per session, for these tests only.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asyncpg.prepared_stmt import PreparedStatement
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request

from shopdb.app import create_app
from shopdb.auth.permissions import PERMISSIONS
from shopdb.db import (
    Database,
    create_engine,
    read_connection,
    read_from_replica,
    use_primary,
)
from shopdb.models import Location, User
from shopdb.replicas import (
    READ_AFTER_COOKIE,
    READ_AFTER_HEADER,
    ReadYourWritesMiddleware,
    ReplicaSet,
    format_lsn,
    parse_lsn,
)
from shopdb.schema import upgrade
from shopdb.services import install_services, services_of
from tests.fixtures.database import (
    create_postgres_database,
    drop_postgres_database,
    redis_url_for_tests,
)
from tests.fixtures.database import (
    test_settings as settings_for,
)
from tests.fixtures.queries import statements_sent
from tests.fixtures.services import use_services
from tests.fixtures.standby import Standby, wait_until_replayed

pytestmark = pytest.mark.postgres_only

MAX_LAG = 1.5
CHECK = 0.2


@dataclass
class Replicated:
    database: Database
    app: FastAPI
    standby: Standby
    headers: dict[str, str]  # an admin's bearer token

    @property
    def replica(self) -> AsyncEngine:
        return self.database.replicas[0]

    def client(self) -> httpx.AsyncClient:
        """A client of its own (its own cookie jar: a reader that wrote nothing)."""
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async def on_standby(self, sql: str) -> Any:
        connection = await asyncpg.connect(
            host="127.0.0.1",
            port=self.standby.port,
            user=self.standby.primary.username or "postgres",
            password=self.standby.primary.password,
            database="postgres",
        )
        try:
            return await connection.fetchval(sql)
        finally:
            await connection.close()

    async def caught_up(self) -> None:
        await asyncio.to_thread(wait_until_replayed, self.standby)
        await self.database.replica_set.refresh()
        assert self.database.replica_set.replicas[0].usable, self.database.replica_set.replicas


@pytest.fixture(scope="module")
async def replicated(
    standby: Standby, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Replicated]:
    url = await create_postgres_database(f"replicas_{uuid.uuid4().hex[:6]}")
    name = make_url(url).database
    assert name is not None
    settings = settings_for(
        url,
        tmp_path_factory.mktemp("replicas"),
        database_replica_urls=[standby.url(name)],
        replica_max_lag_seconds=MAX_LAG,
        replica_check_seconds=CHECK,
        auth_cache_seconds=600.0,  # a cached standing: authenticating reads no table
    )
    database = Database(
        create_engine(settings.database_url, settings),
        [create_engine(u, settings, connect_timeout=2) for u in settings.database_replica_urls],
        replica_max_lag_seconds=MAX_LAG,
        replica_check_seconds=CHECK,
    )
    try:
        await upgrade(database.primary)
        async with database.session() as session:
            user = User(email=f"replicas-{uuid.uuid4().hex[:8]}@example.com", role="admin")
            session.add(user)
            await session.flush()
            user_id = user.id
        app = create_app(settings)
        services = use_services(app, database)
        token = services.tokens.issue(user_id, PERMISSIONS).token
        setup = Replicated(database, app, standby, {"Authorization": f"Bearer {token}"})
        await setup.caught_up()
        async with setup.client() as warm:  # the user's standing, cached (read on the primary)
            assert (await warm.get("/api/v1/products", headers=setup.headers)).status_code == 200
        yield setup
    finally:
        await database.dispose()
        await drop_postgres_database(url)


class Statements:
    """The SQL each engine ran while counting (the replica checks' own left out)."""

    def __init__(self, primary: list[str], replica: list[str]) -> None:
        self.seen: dict[str, list[str]] = {"primary": primary, "replica": replica}

    def touching(self, label: str, table: str) -> list[str]:
        return [
            s
            for s in self.seen[label]
            if table in s and "pg_current_wal" not in s and "pg_is_in_recovery" not in s
        ]


@contextmanager
def statements(setup: Replicated) -> Iterator[Statements]:
    """What each engine ran, through SQLAlchemy or asyncpg's own prepared statements
    (tests/fixtures/queries.py)."""
    with (
        statements_sent(setup.database.primary) as primary,
        statements_sent(setup.replica) as replica,
    ):
        yield Statements(primary, replica)


async def create_product(
    client: httpx.AsyncClient, setup: Replicated, title: str
) -> httpx.Response:
    body = {"title": title, "status": "active", "variants": [{"price": "5.00"}]}
    response = await client.post("/api/v1/products", json=body, headers=setup.headers)
    assert response.status_code == 201, response.text
    return response


async def listed_titles(client: httpx.AsyncClient, setup: Replicated, **headers: str) -> str:
    response = await client.get(
        "/api/v1/products?pageSize=250", headers={**setup.headers, **headers}
    )
    assert response.status_code == 200, response.text
    return response.text


class TestRouting:
    async def test_the_replica_is_a_real_standby_on_its_own_port(
        self, replicated: Replicated
    ) -> None:
        async with replicated.replica.connect() as connection:
            in_recovery = await connection.scalar(text("SELECT pg_is_in_recovery()"))
            port = await connection.scalar(text("SELECT current_setting('port')::int"))
        assert in_recovery is True
        assert port == replicated.standby.port != 5432

    @pytest.mark.parametrize(("path", "table"), [("products", "products"), ("orders", "orders")])
    async def test_a_list_reads_the_standby(
        self, replicated: Replicated, path: str, table: str
    ) -> None:
        await replicated.caught_up()
        async with replicated.client() as reader:
            with statements(replicated) as ran:
                response = await reader.get(f"/api/v1/{path}", headers=replicated.headers)
        assert response.status_code == 200, response.text
        assert ran.touching("replica", table)
        assert ran.touching("primary", table) == []

    async def test_a_write_runs_on_the_primary_and_tells_the_writer_its_position(
        self, replicated: Replicated
    ) -> None:
        await replicated.caught_up()
        title = f"Written {uuid.uuid4().hex[:6]}"
        async with replicated.client() as writer:
            with statements(replicated) as ran:
                response = await create_product(writer, replicated, title)
        assert ran.touching("primary", "INSERT INTO products")
        assert ran.seen["replica"] == []
        position = parse_lsn(response.headers[READ_AFTER_HEADER])
        assert position is not None
        assert response.cookies[READ_AFTER_COOKIE] == response.headers[READ_AFTER_HEADER]
        async with replicated.database.primary.connect() as connection:
            now = await connection.scalar(
                text("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
            )
            stored = await connection.scalar(
                text("SELECT count(*) FROM products WHERE title = :t"), {"t": title}
            )
        assert 0 < position <= now
        assert stored == 1

    async def test_reads_inside_a_writing_transaction_use_the_primary(
        self, replicated: Replicated
    ) -> None:
        await replicated.caught_up()
        async with replicated.database.sessionmaker() as session:
            replicated.database.route_reads(session, request())
            session.add(Location(name="Uncommitted"))
            await session.flush()
            connection = await read_connection(session)
            assert await connection.scalar(text("SELECT pg_is_in_recovery()")) is False
            found = await connection.scalar(
                text("SELECT count(*) FROM locations WHERE name = 'Uncommitted'")
            )
            assert found == 1
            assert not read_from_replica(session)
            await session.rollback()

    async def test_a_session_that_only_reads_is_bound_to_the_standby(
        self, replicated: Replicated
    ) -> None:
        await replicated.caught_up()
        async with replicated.database.sessionmaker() as session:
            replicated.database.route_reads(session, request())
            connection = await read_connection(session)
            assert await connection.scalar(text("SELECT pg_is_in_recovery()")) is True
            # the session's ORM reads follow its connection
            assert await session.scalar(text("SELECT pg_is_in_recovery()")) is True
            assert read_from_replica(session)

    async def test_reads_for_a_cache_use_the_primary(self, replicated: Replicated) -> None:
        await replicated.caught_up()
        async with replicated.database.sessionmaker() as session:
            replicated.database.route_reads(session, request())
            use_primary(session)  # what the document caches do before reading (cache.py)
            connection = await read_connection(session)
            assert await connection.scalar(text("SELECT pg_is_in_recovery()")) is False
            assert not read_from_replica(session)

    async def test_a_whole_unit_of_reads_uses_the_standby_unless_it_must_include_a_write(
        self, replicated: Replicated
    ) -> None:
        await replicated.caught_up()
        async with replicated.database.read_sessionmaker()() as session:
            assert await session.scalar(text("SELECT pg_is_in_recovery()")) is True
        beyond = replicated.database.replica_set.replicas[0].replay_lsn + 1
        async with replicated.database.read_sessionmaker(beyond)() as session:
            assert await session.scalar(text("SELECT pg_is_in_recovery()")) is False


class TestCaches:
    async def test_a_cached_document_is_filled_from_the_primary(
        self, replicated: Replicated
    ) -> None:
        redis_url = redis_url_for_tests()
        if not redis_url:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail("SHOPDB_TEST_REDIS_URL must be set under CI")
            pytest.skip("the document cache needs SHOPDB_TEST_REDIS_URL")
        async with replicated.client() as writer:
            created = (await create_product(writer, replicated, "Cached")).json()
        await replicated.caught_up()  # the standby has it: a replica read would find it too
        original = services_of(replicated.app)
        redis: Any = Redis.from_url(redis_url)
        services = use_services(
            replicated.app, replicated.database, redis=redis, access_cache=original.access_cache
        )
        try:
            assert services.product_cache is not None
            await services.product_cache.start_listening()
            async with replicated.client() as reader:
                with statements(replicated) as ran:
                    path = f"/api/v1/products/{created['id']}"
                    first = await reader.get(path, headers=replicated.headers)
                    second = await reader.get(path, headers=replicated.headers)
        finally:
            await services.aclose(settle_seconds=0)
            install_services(replicated.app, original)
            await redis.aclose()
        assert first.status_code == second.status_code == 200
        assert first.json()["title"] == second.json()["title"] == "Cached"
        assert ran.touching("replica", "products") == []  # the miss read the primary...
        # ...once: its stored document (none yet, the product is new), then one built; the
        # second GET was the cache's.
        assert len(ran.touching("primary", "products")) == 2


def request(**headers: str) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


class TestReadYourWrites:
    async def test_the_writer_reads_its_write_while_the_standby_has_not_replayed_it(
        self, replicated: Replicated
    ) -> None:
        await replicated.caught_up()
        title = f"Mine {uuid.uuid4().hex[:6]}"
        await replicated.on_standby("SELECT pg_wal_replay_pause()")
        try:
            async with replicated.client() as writer, replicated.client() as other:
                response = await create_product(writer, replicated, title)
                # Another client reads the standby, which has not replayed the write yet...
                with statements(replicated) as ran:
                    assert title not in await listed_titles(other, replicated)
                assert ran.touching("replica", "products")
                # ...the writer (its cookie sent back) reads the primary, and sees it;
                with statements(replicated) as ran:
                    assert title in await listed_titles(writer, replicated)
                assert ran.touching("replica", "products") == []
                # and so does a client that echoes the header instead.
                position = response.headers[READ_AFTER_HEADER]
                assert title in await listed_titles(
                    other, replicated, **{READ_AFTER_HEADER: position}
                )
        finally:
            await replicated.on_standby("SELECT pg_wal_replay_resume()")
        # Once the standby has replayed the write, the writer's reads go back to it.
        await replicated.caught_up()
        async with replicated.client() as writer:
            with statements(replicated) as ran:
                listed = await listed_titles(writer, replicated, **{READ_AFTER_HEADER: position})
            assert title in listed
            assert ran.touching("replica", "products")
            assert ran.touching("primary", "products") == []


class TestSkippedReplicas:
    async def test_a_replica_lagging_beyond_the_threshold_is_skipped_and_reported(
        self, replicated: Replicated
    ) -> None:
        await replicated.caught_up()
        async with replicated.client() as client:
            ready = await client.get("/health/ready")
            assert ready.status_code == 200
            assert ready.json() == {
                "status": "ok",
                "checks": {"database": "ok", "replica-1": "ok"},
            }
            await replicated.on_standby("SELECT pg_wal_replay_pause()")
            try:
                title = f"Lagging {uuid.uuid4().hex[:6]}"
                async with replicated.client() as writer:
                    await create_product(writer, replicated, title)
                await asyncio.sleep(MAX_LAG + 2 * CHECK)
                await replicated.database.replica_set.refresh()
                ready = await client.get("/health/ready")
                with statements(replicated) as ran:
                    listed = await listed_titles(client, replicated)
            finally:
                await replicated.on_standby("SELECT pg_wal_replay_resume()")
        assert ready.status_code == 200  # the primary serves every read meanwhile
        body = ready.json()
        assert body["status"] == "degraded"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["replica-1"].startswith("degraded: lag ")
        assert title in listed  # from the primary, not the paused standby
        assert ran.touching("replica", "products") == []
        await replicated.caught_up()  # and once replayed, usable again

    @pytest.mark.parametrize("lost", [True, False], ids=["connection-lost", "statement-error"])
    async def test_a_read_that_loses_its_standby_mid_query_runs_again_on_the_primary(
        self, replicated: Replicated, lost: bool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The standby goes away under a read already running on it (not at connect time):
        the GET runs once more, on the primary, and the standby is skipped until a check
        finds it well. A statement's own error is not retried: it would fail again."""
        await replicated.caught_up()
        replicas = replicated.database.replica_set
        replicas._checked_at = time.monotonic()  # a fresh check: the read picks the standby
        failed: list[str] = []
        run = PreparedStatement.fetch

        async def fail_once(statement: Any, *args: Any, **kwargs: Any) -> Any:
            # Every statement reaches the server through here, whether SQLAlchemy's adapter
            # sends it or shopdb's own prepared statements (kit.prepared).
            on_standby = statement._connection._addr[1] == replicated.standby.port
            if on_standby and "FROM products" in statement.get_query() and not failed:
                failed.append(statement.get_query())
                if lost:
                    raise asyncpg.exceptions.ConnectionDoesNotExistError(
                        "connection was closed in the middle of operation"
                    )
                raise asyncpg.exceptions.InternalServerError("a statement's own error")
            return await run(statement, *args, **kwargs)

        monkeypatch.setattr(PreparedStatement, "fetch", fail_once)
        async with replicated.client() as reader:
            with statements(replicated) as ran:
                response = await reader.get("/api/v1/products", headers=replicated.headers)
        monkeypatch.undo()
        assert failed  # the standby had the read
        if lost:
            assert response.status_code == 200, response.text
            assert ran.touching("primary", "products")
            assert not replicas.replicas[0].usable
            assert str(replicas.replicas[0].problem).startswith("unavailable: ")
        else:
            assert response.status_code == 500
            assert ran.touching("primary", "products") == []
            assert replicas.replicas[0].usable
        await replicas.refresh()  # the standby is well: the next tests read it again
        assert replicas.replicas[0].usable

    async def test_reads_go_on_from_the_primary_when_the_standby_stops(
        self, replicated: Replicated
    ) -> None:
        await replicated.caught_up()
        async with replicated.client() as client:
            with statements(replicated) as ran:
                await listed_titles(client, replicated)
            assert ran.touching("replica", "products")  # the standby was in use
            await asyncio.to_thread(replicated.standby.stop)
            try:
                title = f"While down {uuid.uuid4().hex[:6]}"
                async with replicated.client() as writer:
                    await create_product(writer, replicated, title)
                # As if the last check had come just before the stop: the next read picks the
                # standby, cannot connect, skips it and reads the primary, without an error.
                replicas = replicated.database.replica_set
                replicas._checked_at = time.monotonic()
                assert replicas.choose() is replicas.replicas[0]
                for _ in range(5):
                    assert title in await listed_titles(client, replicated)
                assert not replicas.replicas[0].usable
                assert str(replicas.replicas[0].problem).startswith("unavailable: ")
                await asyncio.sleep(2 * CHECK)
                ready = await client.get("/health/ready")
                assert ready.status_code == 200
                body = ready.json()
                assert body["status"] == "degraded"
                assert body["checks"]["database"] == "ok"
                assert body["checks"]["replica-1"].startswith("degraded: unavailable: ")
            finally:
                await asyncio.to_thread(replicated.standby.start)
        await replicated.caught_up()


class TestReplicaSetUnits:
    """The choice and the lag arithmetic without a server (a fake clock)."""

    def test_positions_read_and_write_as_postgresql_writes_them(self) -> None:
        assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
        assert format_lsn((0x16 << 32) | 0xB374D848) == "16/B374D848"
        for bad in ("", "16", "x/1", "1/", "/1", "123456789/0", None):
            assert parse_lsn(bad) is None

    def test_lag_is_the_age_of_the_newest_primary_position_replayed(self) -> None:
        now = [100.0]
        replicas = ReplicaSet(
            None,  # type: ignore[arg-type]  # no I/O here
            [],
            max_lag_seconds=5,
            check_seconds=1,
            clock=lambda: now[0],
        )
        replicas._samples.extend([(90.0, 10), (95.0, 20), (99.0, 30)])
        assert replicas._lag(30, None) == 1.0
        assert replicas._lag(25, None) == 5.0
        assert replicas._lag(10, 1.0) == 10.0
        # behind every kept position: at least the oldest one's age, or the replica's own
        assert replicas._lag(5, None) == 10.0
        assert replicas._lag(5, 60.0) == 60.0

    def test_only_usable_replicas_that_replayed_the_position_known_lately_are_chosen(
        self,
    ) -> None:
        now = [100.0]
        engines: list[Any] = [object(), object()]
        replicas = ReplicaSet(
            None,  # type: ignore[arg-type]  # no I/O here
            engines,
            max_lag_seconds=5,
            check_seconds=1,
            clock=lambda: now[0],
        )
        first, second = replicas.replicas
        assert replicas.choose() is None  # never checked
        replicas._checked_at = 100.0
        first.usable, first.replay_lsn = True, 50
        second.usable, second.replay_lsn = False, 90
        assert {replicas.choose() for _ in range(4)} == {first}
        assert replicas.choose(read_after=50) is first
        assert replicas.choose(read_after=51) is None  # the primary has the write
        second.usable = True
        assert {replicas.choose() for _ in range(4)} == {first, second}  # round-robin
        assert {replicas.choose(read_after=60) for _ in range(4)} == {second}
        now[0] = 100.0 + 3 * 1 + 0.1  # knowledge too old (STALE_CHECKS intervals)
        assert replicas.choose() is None
        replicas.mark_down(second, ConnectionRefusedError())
        assert second.status() == "degraded: unavailable: ConnectionRefusedError"


class TestWiring:
    async def test_a_replica_url_that_is_not_a_standby_is_never_used(
        self, replicated: Replicated
    ) -> None:
        primary = replicated.database.primary
        replicas = ReplicaSet(primary, [primary], max_lag_seconds=5, check_seconds=1)
        await replicas.refresh()
        assert replicas.replicas[0].status() == (
            "degraded: not a standby (pg_is_in_recovery() false)"
        )
        assert replicas.choose() is None

    def test_writes_carry_no_position_without_replicas(self, tmp_path: Path) -> None:
        plain = create_app(settings_for("sqlite:///" + str(tmp_path / "x.db"), tmp_path))
        assert ReadYourWritesMiddleware not in _middleware(plain)
        with_replicas = create_app(
            settings_for(
                "postgresql://postgres@127.0.0.1/shopdb",
                tmp_path,
                database_replica_urls="postgresql://postgres@127.0.0.2/shopdb",
            )
        )
        assert ReadYourWritesMiddleware in _middleware(with_replicas)


def _middleware(app: FastAPI) -> set[object]:
    return {middleware.cls for middleware in app.user_middleware}
