"""The `shopdb` command on a temporary SQLite database: migrate, seed-demo, user create.

The commands run their own event loops (asyncio.run), so they are invoked from synchronous
fixtures and tests; the database is read back with the standard library's sqlite3.
"""

from __future__ import annotations

import json
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
from shopdb.services import services_of

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


def cipher() -> Any:
    from shopdb.keys import field_cipher

    return field_cipher(get_settings())


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

    def test_encrypts_order_emails_left_in_plaintext(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        from shopdb.models.orders import ORDER_EMAIL

        # Written as shopdb wrote orders before their emails were encrypted.
        with sqlite3.connect(cli_database.path) as connection:
            for number, email in (
                ("#P1", "Old.Buyer@Example.com"),
                ("#P2", "old.buyer@example.com"),
            ):
                connection.execute(
                    "INSERT INTO orders (email, number, total_price, subtotal_price, total_tax,"
                    " currency, financial_status, fulfillment_status, version, created_at,"
                    " updated_at) VALUES (?, ?, 10, 10, 0, 'USD', 'paid', 'unfulfilled', 1,"
                    " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
                    (email, number),
                )

        result = invoke("migrate")
        again = invoke("migrate")

        assert result.exit_code == 0, result.output
        assert "Encrypted 2 order email(s) stored in plaintext." in result.stdout
        assert "Encrypted" not in again.stdout
        rows = cli_database.rows(
            "SELECT email, email_hash FROM orders WHERE number IN ('#P1', '#P2') ORDER BY number"
        )
        assert [cipher().decrypt(email, context=ORDER_EMAIL) for email, _ in rows] == [
            "old.buyer@example.com",
            "old.buyer@example.com",
        ]
        assert rows[0][1] == rows[1][1] == cipher().blind_index("old.buyer@example.com")
        assert all("buyer" not in email.lower() for email, _ in rows)
        with sqlite3.connect(cli_database.path) as connection:
            connection.execute("DELETE FROM orders WHERE number IN ('#P1', '#P2')")


class TestMigrateScrubsUserEvents:
    def test_drops_emails_from_user_events_written_before(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        # Bodies as users/create and users/delete wrote them before personal data left them.
        old = [
            ("users/create", '{"email": "a@example.com", "role": "staff", "permissions": []}'),
            ("users/delete", '{"email": "a@example.com"}'),
            ("users/permission_grant", '{"permission": "orders:read", "expiresAt": null}'),
        ]
        with sqlite3.connect(cli_database.path) as connection:
            for topic, body in old:
                connection.execute(
                    "INSERT INTO events (topic, verb, subject, subject_type, subject_id, body,"
                    " actor, created_at) VALUES (?, 'x', 'User 9001', 'User', 9001, ?, 'cli',"
                    " '2026-01-01 00:00:00')",
                    (topic, body),
                )

        result = invoke("migrate")
        again = invoke("migrate")

        assert result.exit_code == 0, result.output
        assert "Removed personal data from 2 user event(s)." in result.stdout
        assert "Removed" not in again.stdout
        bodies = cli_database.rows(
            "SELECT topic, body FROM events WHERE subject_id = 9001 ORDER BY id"
        )
        assert [(topic, json.loads(body)) for topic, body in bodies] == [
            ("users/create", {"role": "staff", "permissions": []}),
            ("users/delete", {}),
            ("users/permission_grant", {"permission": "orders:read", "expiresAt": None}),
        ]
        with sqlite3.connect(cli_database.path) as connection:
            connection.execute("DELETE FROM events WHERE subject_id = 9001")


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

    def test_order_emails_are_encrypted_with_a_blind_index(
        self, seeded: SeedRuns, cli_database: CliDatabase
    ) -> None:
        from shopdb.customers.pii import CUSTOMER_EMAIL
        from shopdb.models.orders import ORDER_EMAIL

        rows = cli_database.rows(
            "SELECT o.email, o.email_hash, c.email, c.email_hash FROM orders o"
            " JOIN customers c ON c.id = o.customer_id"
        )

        assert len(rows) == 30
        assert cli_database.scalar("SELECT count(*) FROM orders WHERE email LIKE '%@%'") == 0
        for order_email, order_hash, customer_email, customer_hash in rows:
            plain = cipher().decrypt(order_email, context=ORDER_EMAIL)
            assert plain == cipher().decrypt(customer_email, context=CUSTOMER_EMAIL)
            assert plain.endswith("@example.com")
            assert order_hash == customer_hash == cipher().blind_index(plain)

    def test_products_without_options_have_the_default_title_option(
        self, seeded: SeedRuns, cli_database: CliDatabase
    ) -> None:
        notebooks = cli_database.rows(
            "SELECT p.id, o.name, ov.value, v.title, v.option1, v.option2"
            " FROM products p JOIN product_options o ON o.product_id = p.id"
            " JOIN option_values ov ON ov.product_option_id = o.id"
            " JOIN product_variants v ON v.product_id = p.id"
            " WHERE p.product_type = 'Notebook'"
        )
        without_options = cli_database.scalar(
            "SELECT count(*) FROM products p"
            " WHERE NOT EXISTS (SELECT 1 FROM product_options o WHERE o.product_id = p.id)"
        )
        variants_without_option1 = cli_database.scalar(
            "SELECT count(*) FROM product_variants WHERE option1 IS NULL"
        )

        assert len(notebooks) == 8
        assert {row[1:] for row in notebooks} == {
            ("Title", "Default Title", "Default Title", "Default Title", None)
        }
        assert (without_options, variants_without_option1) == (0, 0)

    def test_descriptions_end_with_single_full_stops(
        self, seeded: SeedRuns, cli_database: CliDatabase
    ) -> None:
        descriptions = [row[0] for row in cli_database.rows("SELECT body_html FROM products")]

        assert [d for d in descriptions if ".." in d] == []
        assert "<p>Dot Grid Notebook by Paper Trail Co. Made to last.</p>" in descriptions
        assert "<p>Classic Tee by Northwind Apparel. Made to last.</p>" in descriptions

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
    application = create_app(settings)  # its own Services: a Database from these settings
    yield application
    await services_of(application).aclose()


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


class TestPasswordsWithSurroundingSpaces:
    def test_a_user_created_with_a_padded_password_logs_in_with_the_api(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        result = invoke(
            "user", "create", "--email", "padded@example.com", "--password", "  spaced passphrase "
        )

        assert result.exit_code == 0, result.output
        stored = cli_database.scalar(
            "SELECT password_hash FROM users WHERE email = 'padded@example.com'"
        )
        # The API's body models strip the password before login sees it.
        assert verify_password(stored, "spaced passphrase")

    def test_the_length_is_counted_without_them(
        self, migrated: Result, cli_database: CliDatabase
    ) -> None:
        result = invoke(
            "user", "create", "--email", "short@example.com", "--password", "   short pw     "
        )

        assert result.exit_code == 1
        assert "password: must be at least 12 characters long" in result.stderr
        assert (
            cli_database.scalar("SELECT count(*) FROM users WHERE email = 'short@example.com'") == 0
        )


class TestUserSetPassword:
    @pytest.fixture
    def staff(self, migrated: Result, cli_database: CliDatabase) -> tuple[int, str]:
        email = f"reset-{len(cli_database.rows('SELECT id FROM users'))}@example.com"
        created = invoke("user", "create", "--email", email, "--password", "the first passphrase")
        assert created.exit_code == 0, created.output
        return cli_database.scalar("SELECT id FROM users WHERE email = ?", email), email

    def test_sets_a_new_password_and_ends_the_users_tokens(
        self, staff: tuple[int, str], cli_database: CliDatabase
    ) -> None:
        user_id, email = staff
        new = "the second passphrase"

        result = invoke("user", "set-password", "--email", email.upper(), "--password", f" {new} ")

        assert result.exit_code == 0, result.output
        assert new not in result.output
        assert (
            f"New password set for user {user_id}; the tokens issued before no longer work."
            in result.stdout
        )
        stored, generation = cli_database.rows(
            "SELECT password_hash, token_generation FROM users WHERE id = ?", user_id
        )[0]
        assert verify_password(stored, new)
        assert not verify_password(stored, "the first passphrase")
        assert generation == 1
        [(topic, body, actor)] = cli_database.rows(
            "SELECT topic, body, actor FROM events WHERE subject_type = 'User' AND subject_id = ?",
            user_id,
        )
        assert (topic, body, actor) == ("users/update", '{"changed": ["password"]}', "cli")

    def test_asks_for_the_password_hidden_and_twice(
        self, staff: tuple[int, str], cli_database: CliDatabase
    ) -> None:
        user_id, email = staff
        new = "a prompted passphrase"

        result = CliRunner().invoke(
            cli, ["user", "set-password", "--email", email], input=f"{new}\n{new}\n"
        )

        assert result.exit_code == 0, result.output
        assert new not in result.output
        assert result.output.count("Password") == 1
        assert result.output.count("Repeat for confirmation") == 1
        stored = cli_database.scalar("SELECT password_hash FROM users WHERE id = ?", user_id)
        assert verify_password(stored, new)

    def test_refuses_a_weak_password_and_changes_nothing(
        self, staff: tuple[int, str], cli_database: CliDatabase
    ) -> None:
        user_id, email = staff
        before = cli_database.rows(
            "SELECT password_hash, token_generation FROM users WHERE id = ?", user_id
        )

        result = invoke("user", "set-password", "--email", email, "--password", "hunter2")

        assert result.exit_code == 1
        assert "password: must be at least 12 characters long" in result.stderr
        assert "hunter2" not in result.output
        assert (
            cli_database.rows(
                "SELECT password_hash, token_generation FROM users WHERE id = ?", user_id
            )
            == before
        )

    def test_refuses_an_unknown_email(self, migrated: Result, cli_database: CliDatabase) -> None:
        result = invoke(
            "user", "set-password", "--email", "nobody@example.com", "--password", "long enough pw"
        )

        assert result.exit_code == 1
        assert "email: does not exist" in result.stderr
