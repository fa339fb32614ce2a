"""On a SQLite file where requests really commit (one writer at a time): a placement's steps
are savepoints of the request, so it never waits on its own write lock; duplicates with one
Idempotency-Key wait for the first and replay it; a decline leaves nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from shopdb.app import create_app
from shopdb.db import Database, create_engine
from shopdb.schema import upgrade
from shopdb.services import services_of
from tests.fixtures import database as test_databases
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, keyed, live_client
from tests.orders.helpers import (
    DECLINE,
    level,
    make_locations,
    make_variant,
    order_body,
    orders_with,
    place,
)


@pytest.fixture
async def sqlite_app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    url = await test_databases.fresh_database_url("sqlite", tmp_path, "orders")
    settings = test_databases.test_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine)
    await test_databases._ensure_permissions(engine)
    application = create_app(settings)
    use_services(application, Database(engine))
    try:
        yield application
    finally:
        await engine.dispose()


async def test_placing_declining_and_replaying_on_a_sqlite_file(sqlite_app: FastAPI) -> None:
    database: Database = services_of(sqlite_app).database
    headers, _ = await committed_admin(sqlite_app)
    (loc,) = await make_locations(database, "Main")
    tee = await make_variant(database, "6.00", {loc: 10})
    body = order_body((tee.variant_id, 2))

    async with live_client(sqlite_app) as client:
        answers = await asyncio.wait_for(
            asyncio.gather(*(place(client, keyed(headers, "lite"), body) for _ in range(5))),
            timeout=60,
        )
        declined_body = order_body((tee.variant_id, 1))
        declined_body["payment"]["token"] = DECLINE
        declined = await place(client, headers, declined_body)
        plain = await place(client, headers, order_body((tee.variant_id, 1)))

    assert [a.status_code for a in answers] == [201] * 5, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert declined.status_code == 402, declined.text
    assert plain.status_code == 201, plain.text
    async with database.session() as session:
        assert await level(session, tee.item_id, loc) == (7, 3)
        assert len(await orders_with(session, tee.variant_id)) == 2
