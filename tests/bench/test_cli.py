"""`shopdb bench seed` end to end, as `make bench` runs it (own event loop, so sync tests)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from shopdb.bench.seed import BENCH_ADMIN_EMAIL, CREDENTIALS_FILE
from shopdb.cli import app as cli
from shopdb.config import get_settings
from tests.fixtures.database import create_postgres_database, drop_postgres_database


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))
    for name in ("SHOPDB_ENV", "SHOPDB_REDIS_URL", "SHOPDB_DATABASE_REPLICA_URLS"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def seed(*extra: str) -> Result:
    args = ["bench", "seed", "--products", "6", "--customers", "3", "--seed", "9"]
    args += ["--lifecycle-orders", "5", *extra]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def migrate() -> None:
    result = CliRunner().invoke(cli, ["migrate"], catch_exceptions=False)
    assert result.exit_code == 0, result.output


class TestSeedCommand:
    def test_seeds_sqlite_and_keeps_the_password_out_of_the_output(
        self, environment: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = environment / "bench.sqlite3"
        monkeypatch.setenv("SHOPDB_DATABASE_URL", f"sqlite:///{path}")
        migrate()

        result = seed()

        assert result.exit_code == 0, result.output
        assert "Seeded 6 products, 18 variants, 36 inventory levels" in result.output
        assert "20005 orders (5 of them authorized for the lifecycle benchmark)" in result.output
        credentials = environment / CREDENTIALS_FILE
        password = json.loads(credentials.read_text())["password"]
        assert password not in result.output
        assert credentials.stat().st_mode & 0o777 == 0o600
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT count(*) FROM products").fetchone() == (6,)
            assert connection.execute(
                "SELECT role FROM users WHERE email = ?", (BENCH_ADMIN_EMAIL,)
            ).fetchone() == ("admin",)

    def test_a_second_seed_is_refused_with_exit_code_1(
        self, environment: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("SHOPDB_DATABASE_URL", f"sqlite:///{environment / 'again.sqlite3'}")
        migrate()
        assert seed().exit_code == 0

        again = seed()

        assert again.exit_code == 1
        assert "already has 6 products" in again.output

    @pytest.mark.postgres_only
    def test_leaves_postgres_vacuumed_so_search_indexes_are_usable(
        self, environment: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        url = asyncio.run(create_postgres_database("benchcli"))
        monkeypatch.setenv("SHOPDB_DATABASE_URL", url)
        try:
            migrate()
            assert seed().exit_code == 0
            pending = asyncio.run(_gin_pending_tuples(url))
        finally:
            asyncio.run(drop_postgres_database(url))
        # The bulk load's GIN entries were merged into the index, not left pending.
        assert pending, "the catalog's text search indexes are missing"
        assert set(pending.values()) == {0}


async def _gin_pending_tuples(url: str) -> dict[str, int]:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        rows = await connection.fetch(
            "SELECT c.relname, (pgstatginindex(c.oid)).pending_tuples AS pending "
            "FROM pg_class c JOIN pg_am a ON a.oid = c.relam "
            "WHERE a.amname = 'gin' AND c.relkind = 'i'"
        )
    finally:
        await connection.close()
    return {row["relname"]: int(row["pending"]) for row in rows}
