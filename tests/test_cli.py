"""The `shopdb` command on a temporary SQLite database: migrate, seed-demo, user create.

The commands run their own event loops (asyncio.run), so they are invoked from synchronous
fixtures and tests; the database is read back with the standard library's sqlite3.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner, Result

from shopdb.app import create_app
from shopdb.auth.passwords import verify_password
from shopdb.auth.permissions import PERMISSIONS
from shopdb.cli import app as cli
from shopdb.config import get_settings
from shopdb.db import Database

ADMIN_EMAIL = "admin@demo.shopdb.local"


@dataclass
class CliDatabase:
    path: Path

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as connection:
            return connection.execute(sql, params).fetchall()

    def scalar(self, sql: str, *params: Any) -> Any:
        return self.rows(sql, *params)[0][0]


@pytest.fixture(scope="module")
def cli_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliDatabase]:
    var_dir = tmp_path_factory.mktemp("cli")
    path = var_dir / "cli.sqlite3"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHOPDB_DATABASE_URL", f"sqlite:///{path}")
        env.setenv("SHOPDB_VAR_DIR", str(var_dir))
        for name in ("SHOPDB_ENV", "SHOPDB_REDIS_URL", "SHOPDB_DATABASE_REPLICA_URLS"):
            env.delenv(name, raising=False)
        get_settings.cache_clear()
        try:
            yield CliDatabase(path)
        finally:
            get_settings.cache_clear()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def migrated(cli_database: CliDatabase) -> Result:
    return invoke("migrate")


@dataclass
class SeedRuns:
    first: Result
    second: Result
    password: str


@pytest.fixture(scope="module")
def seeded(migrated: Result, cli_database: CliDatabase) -> SeedRuns:
    assert migrated.exit_code == 0, migrated.output
    first = invoke("seed-demo")
    second = invoke("seed-demo")
    match = re.search(r"^\s*password:\s*(\S+)\s*$", first.stdout, re.MULTILINE)
    assert match is not None, first.output
    return SeedRuns(first=first, second=second, password=match[1])


class TestMigrate:
    def test_builds_the_schema_and_every_permission_row(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        assert migrated.exit_code == 0, migrated.output
        assert f"{len(PERMISSIONS)} permission(s) added" in migrated.stdout
        names = {row[0] for row in cli_database.rows("SELECT name FROM permissions")}
        assert names == set(PERMISSIONS)
        assert cli_database.scalar("SELECT count(*) FROM alembic_version") >= 1

    def test_running_it_again_adds_nothing(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        again = invoke("migrate")

        assert again.exit_code == 0, again.output
        assert "0 permission(s) added" in again.stdout
        assert cli_database.scalar("SELECT count(*) FROM permissions") == len(PERMISSIONS)


class TestSeedDemo:
    def test_loads_a_realistic_store(self, seeded: SeedRuns, cli_database: CliDatabase) -> None:
        assert seeded.first.exit_code == 0, seeded.first.output
        counts = {
            table: cli_database.scalar(f"SELECT count(*) FROM {table}")
            for table in ("shops", "locations", "products", "customers", "orders")
        }
        assert counts["shops"] == 1
        assert counts["locations"] == 2
        assert 45 <= counts["products"] <= 55
        assert counts["customers"] == 20
        assert counts["orders"] == 30
        assert (
            f"Demo store loaded: {counts['products']} products, 20 customers, 30 orders."
            in seeded.first.stdout
        )

    def test_every_product_has_options_variants_and_stock_at_both_locations(
        self, seeded: SeedRuns, cli_database: CliDatabase
    ) -> None:
        without_variants = cli_database.scalar(
            "SELECT count(*) FROM products p"
            " WHERE NOT EXISTS (SELECT 1 FROM product_variants v WHERE v.product_id = p.id)"
        )
        levels_per_variant = cli_database.rows(
            "SELECT DISTINCT count(l.id) FROM product_variants v"
            " JOIN inventory_items i ON i.product_variant_id = v.id"
            " JOIN inventory_levels l ON l.inventory_item_id = i.id GROUP BY v.id"
        )
        assert without_variants == 0
        assert levels_per_variant == [(2,)]
        assert cli_database.scalar("SELECT count(*) FROM product_options") > 0
        assert cli_database.scalar("SELECT count(*) FROM option_values") > 0
        assert cli_database.scalar("SELECT count(*) FROM customer_addresses") >= 20

    def test_variant_quantity_is_the_sum_of_available_at_every_location(
        self, seeded: SeedRuns, cli_database: CliDatabase
    ) -> None:
        mismatched = cli_database.rows(
            "SELECT v.id, v.inventory_quantity, coalesce(sum(l.available), 0)"
            " FROM product_variants v"
            " LEFT JOIN inventory_items i ON i.product_variant_id = v.id"
            " LEFT JOIN inventory_levels l ON l.inventory_item_id = i.id"
            " GROUP BY v.id, v.inventory_quantity"
            " HAVING v.inventory_quantity != coalesce(sum(l.available), 0)"
        )
        assert mismatched == []
        assert cli_database.scalar("SELECT sum(inventory_quantity) FROM product_variants") > 0

    def test_open_orders_hold_exactly_their_unfulfilled_units_as_committed(
        self, seeded: SeedRuns, cli_database: CliDatabase
    ) -> None:
        committed = cli_database.scalar("SELECT coalesce(sum(committed), 0) FROM inventory_levels")
        unfulfilled = cli_database.scalar(
            "SELECT coalesce(sum(li.quantity - li.fulfilled_quantity), 0)"
            " FROM order_line_items li JOIN orders o ON o.id = li.order_id"
        )
        assert committed == unfulfilled

    def test_order_totals_add_up(self, seeded: SeedRuns, cli_database: CliDatabase) -> None:
        orders = cli_database.rows(
            "SELECT o.id, o.subtotal_price, o.total_tax, o.total_price,"
            " (SELECT sum(li.price * li.quantity) FROM order_line_items li"
            "  WHERE li.order_id = o.id)"
            " FROM orders o"
        )
        assert len(orders) == 30
        for order_id, subtotal, tax, total, lines in orders:
            # sqlite3 returns floats for NUMERIC: compare in cents.
            assert round(Decimal(str(subtotal)), 2) == round(Decimal(str(lines)), 2), order_id
            assert round(Decimal(str(subtotal)) + Decimal(str(tax)), 2) == round(
                Decimal(str(total)), 2
            ), order_id

    def test_prints_the_admin_login_once(self, seeded: SeedRuns) -> None:
        assert f"email:    {ADMIN_EMAIL}" in seeded.first.stdout
        assert len(seeded.password) >= 12
        assert seeded.first.stdout.count(seeded.password) == 1
        assert seeded.password not in seeded.second.output

    def test_a_second_run_changes_nothing(
        self, seeded: SeedRuns, cli_database: CliDatabase
    ) -> None:
        assert seeded.second.exit_code == 0, seeded.second.output
        assert "already loaded; nothing to do" in seeded.second.stdout
        assert cli_database.scalar("SELECT count(*) FROM products") == cli_database.scalar(
            "SELECT count(DISTINCT handle) FROM products"
        )
        assert cli_database.scalar("SELECT count(*) FROM orders") == 30
        assert cli_database.scalar("SELECT count(*) FROM users WHERE email = ?", ADMIN_EMAIL) == 1


@pytest.fixture
async def demo_app(seeded: SeedRuns) -> AsyncIterator[FastAPI]:
    settings = get_settings()
    application = create_app(settings)
    application.state.database = Database.from_settings(settings)
    application.state.redis = None
    yield application
    await application.state.database.dispose()


class TestDemoAdminLogin:
    async def test_the_printed_password_logs_in(self, demo_app: FastAPI, seeded: SeedRuns) -> None:
        transport = httpx.ASGITransport(app=demo_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            accepted = await http.post(
                "/api/v1/auth/token", json={"email": ADMIN_EMAIL, "password": seeded.password}
            )
            refused = await http.post(
                "/api/v1/auth/token",
                json={"email": ADMIN_EMAIL, "password": seeded.password + "x"},
            )

        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["tokenType"] == "Bearer"
        assert accepted.json()["accessToken"]
        assert refused.status_code == 401


class TestUserCreate:
    def test_creates_an_admin_with_an_argon2_hash_and_never_echoes_the_password(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        password = "correct horse battery staple"

        result = invoke(
            "user",
            "create",
            "--email",
            "Ops@Example.com",
            "--password",
            password,
            "--role",
            "admin",
        )

        assert result.exit_code == 0, result.output
        assert password not in result.output
        [(user_id, role, password_hash)] = cli_database.rows(
            "SELECT id, role, password_hash FROM users WHERE email = 'ops@example.com'"
        )
        assert f"Created user {user_id} <ops@example.com> with role admin." in result.stdout
        assert role == "admin"
        assert password_hash.startswith("$argon2id$")
        assert password not in password_hash
        assert verify_password(password_hash, password)

    def test_refuses_a_weak_password_with_exit_code_1(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        result = invoke("user", "create", "--email", "weak@example.com", "--password", "hunter2")

        assert result.exit_code == 1
        assert "password" in result.stderr
        assert "hunter2" not in result.output
        assert (
            cli_database.scalar("SELECT count(*) FROM users WHERE email = 'weak@example.com'") == 0
        )

    def test_refuses_an_email_that_is_taken(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        args = ("user", "create", "--email", "twice@example.com", "--password", "a long passphrase")
        assert invoke(*args).exit_code == 0

        again = invoke(*args)

        assert again.exit_code == 1
        assert "already exists" in again.stderr
        assert (
            cli_database.scalar("SELECT count(*) FROM users WHERE email = 'twice@example.com'") == 1
        )

    def test_refuses_an_unknown_role(self, migrated: Result, cli_database: CliDatabase) -> None:
        result = invoke(
            "user",
            "create",
            "--email",
            "root@example.com",
            "--password",
            "a long passphrase",
            "--role",
            "root",
        )

        assert result.exit_code == 1
        assert "role" in result.stderr
        assert (
            cli_database.scalar("SELECT count(*) FROM users WHERE email = 'root@example.com'") == 0
        )
