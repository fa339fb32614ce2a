"""Migration 0008 on a database holding customers, on SQLite and PostgreSQL.

`accepts_marketing` becomes email consent, tags that differ only in case are merged to their
oldest spelling, nothing else about a customer is lost (on SQLite a table rebuild would have
cascaded to addresses and emptied orders.customer_id), and the downgrade maps consent back.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shopdb.db import create_engine
from shopdb.schema import downgrade, upgrade
from tests.fixtures.database import BACKENDS, drop_postgres_database, fresh_database_url
from tests.fixtures.database import test_settings as make_settings

BEFORE = "0007_job_queue"
THIS = "0008_customer_consent"
NOW = "CURRENT_TIMESTAMP"


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = await fresh_database_url(request.param, tmp_path, "consent")
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine, BEFORE)
    try:
        yield engine
    finally:
        await engine.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(settings.database_url)


async def _rows(engine: AsyncEngine, sql: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(sa.text(sql))]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _given_two_customers(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for customer_id, accepts in ((1, True), (2, False)):
            await connection.execute(
                sa.text(
                    "INSERT INTO customers (id, email, email_hash, state, accepts_marketing,"
                    f" version, created_at, updated_at) VALUES (:id, :email, :hash, 'enabled',"
                    f" :accepts, 1, {NOW}, {NOW})"
                ),
                {
                    "id": customer_id,
                    "email": f"e{customer_id}",
                    "hash": f"h{customer_id}",
                    "accepts": accepts,
                },
            )
        for tag_id, customer_id, tag in (
            (1, 1, "VIP"),
            (2, 1, "vip"),
            (3, 1, "Vip"),
            (4, 1, "other"),
            (5, 2, "vip"),
        ):
            await connection.execute(
                sa.text(
                    "INSERT INTO customer_tags (id, customer_id, tag, created_at)"
                    f" VALUES (:id, :customer_id, :tag, {NOW})"
                ),
                {"id": tag_id, "customer_id": customer_id, "tag": tag},
            )
        await connection.execute(
            sa.text(
                "INSERT INTO customer_addresses (customer_id, address1, city, country, is_default,"
                f" created_at, updated_at) VALUES (1, '1 Main St', 'Portland', 'US', true,"
                f" {NOW}, {NOW})"
            )
        )
        await connection.execute(
            sa.text(
                "INSERT INTO orders (customer_id, email, number, total_price, subtotal_price,"
                " total_tax, currency, financial_status, fulfillment_status, version, created_at,"
                f" updated_at) VALUES (1, 'x', '#1', 10, 10, 0, 'USD', 'paid', 'unfulfilled', 1,"
                f" {NOW}, {NOW})"
            )
        )


class TestUpgrade:
    async def test_accepts_marketing_becomes_email_consent(self, engine: AsyncEngine) -> None:
        await _given_two_customers(engine)

        await upgrade(engine, THIS)

        rows = await _rows(
            engine,
            "SELECT id, email_marketing_state, email_marketing_opt_in_level,"
            " email_marketing_consent_updated_at, sms_marketing_state, sms_marketing_opt_in_level,"
            " tax_exempt, tax_exemptions FROM customers ORDER BY id",
        )
        # Raw SQLite answers 0 and '[]' where PostgreSQL answers false and [].
        assert [(*row[:6], bool(row[6]), _json(row[7])) for row in rows] == [
            (1, "subscribed", "single_opt_in", None, "not_subscribed", None, False, []),
            (2, "not_subscribed", None, None, "not_subscribed", None, False, []),
        ]
        columns = await _rows(
            engine,
            "SELECT name FROM pragma_table_info('customers')"
            if engine.dialect.name == "sqlite"
            else "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'customers'",
        )
        assert ("accepts_marketing",) in columns  # the seed's column stays, derived

    async def test_case_variants_of_a_tag_merge_into_the_oldest_spelling(
        self, engine: AsyncEngine
    ) -> None:
        await _given_two_customers(engine)

        await upgrade(engine, THIS)

        assert await _rows(
            engine, "SELECT id, customer_id, tag FROM customer_tags ORDER BY id"
        ) == [(1, 1, "VIP"), (4, 1, "other"), (5, 2, "vip")]

    async def test_addresses_and_orders_keep_their_customer(self, engine: AsyncEngine) -> None:
        await _given_two_customers(engine)

        await upgrade(engine, THIS)

        assert await _rows(engine, "SELECT customer_id FROM customer_addresses") == [(1,)]
        assert await _rows(engine, "SELECT customer_id FROM orders") == [(1,)]

    async def test_the_new_columns_refuse_unknown_states(self, engine: AsyncEngine) -> None:
        await _given_two_customers(engine)
        await upgrade(engine, THIS)

        for column, value in (
            ("email_marketing_state", "maybe"),
            ("sms_marketing_state", "INVALID"),
            ("email_marketing_opt_in_level", "double"),
            ("sms_marketing_opt_in_level", "SINGLE_OPT_IN"),
        ):
            with pytest.raises(sa.exc.IntegrityError):
                async with engine.begin() as connection:
                    await connection.execute(
                        sa.text(f"UPDATE customers SET {column} = :value WHERE id = 1"),
                        {"value": value},
                    )


class TestDowngrade:
    async def test_email_subscribed_becomes_accepts_marketing_again(
        self, engine: AsyncEngine
    ) -> None:
        await _given_two_customers(engine)
        await upgrade(engine, THIS)
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "UPDATE customers SET email_marketing_state = 'pending',"
                    " email_marketing_opt_in_level = 'confirmed_opt_in' WHERE id = 2"
                )
            )

        await downgrade(engine, BEFORE)

        rows = await _rows(engine, "SELECT id, accepts_marketing FROM customers ORDER BY id")
        assert [(customer_id, bool(accepts)) for customer_id, accepts in rows] == [
            (1, True),
            (2, False),
        ]
        assert await _rows(engine, "SELECT customer_id FROM customer_addresses") == [(1,)]
        await upgrade(engine, THIS)  # and up again
        assert await _rows(engine, "SELECT email_marketing_state FROM customers ORDER BY id") == [
            ("subscribed",),
            ("not_subscribed",),
        ]
