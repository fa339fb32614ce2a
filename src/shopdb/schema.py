"""Running the Alembic migrations from code (CLI, tests), on an async engine."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shopdb.config import Settings, get_settings
from shopdb.db import create_engine


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
