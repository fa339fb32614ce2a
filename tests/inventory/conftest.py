from collections.abc import AsyncIterator

import pytest

from shopdb.db import Database, create_engine
from shopdb.schema import upgrade
from tests.fixtures.database import test_settings as make_settings


@pytest.fixture(scope="module")
async def live_sqlite(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    """A migrated SQLite file whose sessions really commit (BEGIN IMMEDIATE serialises them),
    for the races that must hold on both backends."""
    directory = tmp_path_factory.mktemp("live-sqlite")
    settings = make_settings(f"sqlite+aiosqlite:///{directory / 'live.sqlite3'}", directory)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine)
    database = Database(engine)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def live_database(request: pytest.FixtureRequest) -> Database:
    """A database whose sessions really commit, on each backend in turn."""
    name = "live_sqlite" if request.param == "sqlite" else "live_postgres"
    database: Database = request.getfixturevalue(name)
    return database
