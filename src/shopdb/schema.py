"""Running the Alembic migrations from code (CLI, tests), on an async engine, and the data
steps that need the application's keys (which migrations do not read)."""

from __future__ import annotations

import asyncio
from typing import cast

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shopdb.config import Settings, get_settings
from shopdb.db import create_engine
from shopdb.kit.crypto import FieldCipher, seal_email
from shopdb.models.events import Event
from shopdb.models.orders import ORDER_EMAIL, Order


def alembic_config(connection: Connection | None = None) -> Config:
    """Built in code, not from alembic.ini, so an installed package finds its migrations too."""
    config = Config()
    config.set_main_option("script_location", str(get_settings().migrations_dir))
    config.set_main_option("path_separator", "os")
    config.attributes["configure_logger"] = False
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "heads") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: command.downgrade(alembic_config(c), revision))


def run_migrations(settings: Settings, revision: str = "heads") -> None:
    async def work() -> None:
        engine = create_engine(settings.database_url, settings)
        try:
            await upgrade(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(work())


# --- data steps `shopdb migrate` runs after the schema is upgraded ----------------------------

SEAL_BATCH_SIZE = 1000


async def seal_plaintext_order_emails(engine: AsyncEngine, cipher: FieldCipher) -> int:
    """Encrypt every `orders.email` not yet in the ciphertext format, and fill its blind index.

    Orders written before order emails were encrypted hold plaintext; migrations cannot seal
    them (they do not read keys), so `shopdb migrate` does it afterwards, in batches, each
    batch committed on its own. Idempotent: sealed rows are skipped. Returns how many it sealed.
    """
    orders = cast(sa.Table, Order.__table__)
    sealed = 0
    last_id = 0
    while True:
        async with engine.begin() as connection:
            rows = (
                await connection.execute(
                    sa.select(orders.c.id, orders.c.email)
                    .where(orders.c.id > last_id, orders.c.email.not_like("v1:%"))
                    .order_by(orders.c.id)
                    .limit(SEAL_BATCH_SIZE)
                )
            ).all()
            if not rows:
                return sealed
            updates = []
            for order_id, email in rows:
                ciphertext, email_hash = seal_email(cipher, email, context=ORDER_EMAIL)
                updates.append({"order_id": order_id, "sealed": ciphertext, "hash": email_hash})
            await connection.execute(
                orders.update()
                .where(orders.c.id == sa.bindparam("order_id"))
                .values(email=sa.bindparam("sealed"), email_hash=sa.bindparam("hash")),
                updates,
            )
        sealed += len(rows)
        last_id = rows[-1][0]


# Staff emails that users/create and users/delete events once carried in their bodies.
USER_EVENT_PERSONAL_FIELDS = ("email", "firstName", "lastName", "phone")
USER_EVENT_TOPICS = ("users/create", "users/update", "users/delete")


async def scrub_user_events(engine: AsyncEngine) -> int:
    """Drop personal data from the bodies of users' events written before they left it out.

    Idempotent; returns how many event bodies it changed.
    """
    events = cast(sa.Table, Event.__table__)
    async with engine.begin() as connection:
        rows = (
            await connection.execute(
                sa.select(events.c.id, events.c.body).where(events.c.topic.in_(USER_EVENT_TOPICS))
            )
        ).all()
        updates = [
            {
                "event_id": event_id,
                "scrubbed": {k: v for k, v in body.items() if k not in USER_EVENT_PERSONAL_FIELDS},
            }
            for event_id, body in rows
            if isinstance(body, dict) and any(k in body for k in USER_EVENT_PERSONAL_FIELDS)
        ]
        if updates:
            await connection.execute(
                events.update()
                .where(events.c.id == sa.bindparam("event_id"))
                .values(body=sa.bindparam("scrubbed", type_=events.c.body.type)),
                updates,
            )
    return len(updates)
