"""The data steps `shopdb migrate` runs after upgrading, on SQLite and PostgreSQL: order emails
left in plaintext are sealed, and user events lose the personal data they once carried."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from shopdb.db import create_engine
from shopdb.keys import field_cipher
from shopdb.kit.crypto import FieldCipher
from shopdb.models.orders import ORDER_EMAIL
from shopdb.schema import scrub_user_events, seal_plaintext_order_emails, upgrade
from tests.fixtures.database import BACKENDS, drop_postgres_database, fresh_database_url
from tests.fixtures.database import test_settings as make_settings

INSERT_ORDER = sa.text(
    "INSERT INTO orders (email, number, total_price, subtotal_price, total_tax, currency,"
    " financial_status, fulfillment_status, version, created_at, updated_at)"
    " VALUES (:email, :number, 10, 10, 0, 'USD', 'paid', 'unfulfilled', 1,"
    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
)


@pytest.fixture(params=BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = await fresh_database_url(request.param, tmp_path, "datasteps")
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()
        if request.param == "postgresql":
            await drop_postgres_database(settings.database_url)


@pytest.fixture
def cipher(tmp_path: Path) -> FieldCipher:
    return field_cipher(make_settings("sqlite://", tmp_path))


class TestSealPlaintextOrderEmails:
    async def test_seals_plaintext_in_batches_and_leaves_ciphertext_alone(
        self, engine: AsyncEngine, cipher: FieldCipher, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import shopdb.schema

        monkeypatch.setattr(shopdb.schema, "SEAL_BATCH_SIZE", 2)
        sealed_before = cipher.encrypt("kept@example.com", context=ORDER_EMAIL)
        async with engine.begin() as connection:
            for number, email in [
                ("#1", " First@Example.com"),
                ("#2", sealed_before),
                ("#3", "third@example.com"),
                ("#4", "fourth@example.com"),
                ("#5", "fifth@example.com"),
            ]:
                await connection.execute(INSERT_ORDER, {"email": email, "number": number})

        count = await seal_plaintext_order_emails(engine, cipher)
        again = await seal_plaintext_order_emails(engine, cipher)

        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.text("SELECT number, email, email_hash FROM orders ORDER BY number")
                )
            ).all()
        assert (count, again) == (4, 0)
        opened = {n: cipher.decrypt(e, context=ORDER_EMAIL) for n, e, _ in rows}
        assert opened == {
            "#1": "first@example.com",
            "#2": "kept@example.com",
            "#3": "third@example.com",
            "#4": "fourth@example.com",
            "#5": "fifth@example.com",
        }
        assert [h for n, _, h in rows if n != "#2"] == [
            cipher.blind_index(opened[n]) for n in ("#1", "#3", "#4", "#5")
        ]
        assert {n: e for n, e, _ in rows}["#2"] == sealed_before


class TestScrubUserEvents:
    async def test_removes_personal_fields_from_user_events_only(self, engine: AsyncEngine) -> None:
        events = sa.table(
            "events",
            sa.column("id", sa.BigInteger),
            sa.column("topic", sa.String),
            sa.column("verb", sa.String),
            sa.column("subject", sa.String),
            sa.column("subject_type", sa.String),
            sa.column("subject_id", sa.BigInteger),
            sa.column("body", sa.JSON),
        )
        bodies = [
            ("users/create", {"email": "a@example.com", "role": "admin", "permissions": []}),
            ("users/delete", {"email": "a@example.com"}),
            ("customers/create", {"email": "kept: not a user event"}),
            ("users/update", {"changed": ["phone"]}),
        ]
        async with engine.begin() as connection:
            for topic, body in bodies:
                await connection.execute(
                    events.insert().values(
                        topic=topic,
                        verb="x",
                        subject="User 1",
                        subject_type="User",
                        subject_id=1,
                        body=body,
                    )
                )

        count = await scrub_user_events(engine)

        async with engine.connect() as connection:
            stored = (
                await connection.execute(sa.select(events.c.topic, events.c.body).order_by("id"))
            ).all()
        assert count == 2
        assert [tuple(row) for row in stored] == [
            ("users/create", {"role": "admin", "permissions": []}),
            ("users/delete", {}),
            ("customers/create", {"email": "kept: not a user event"}),
            ("users/update", {"changed": ["phone"]}),
        ]
