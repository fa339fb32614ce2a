"""read_connection: reads outside a transaction run in autocommit; a session that began keeps
it; a session reading in autocommit refuses any write after.

About PostgreSQL only (SQLite always uses the session's transaction), against a database whose
sessions really commit: the rolled-back test database binds sessions to an open transaction.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from shopdb.db import AutocommitWriteRefused, Database, read_connection
from shopdb.models import Location


async def backend_state(database: Database, connection: AsyncConnection) -> str:
    pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    async with database.session() as observer:
        state = await observer.scalar(
            text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
    return str(state)


async def test_a_read_only_session_holds_no_transaction(live_postgres: Database) -> None:
    async with live_postgres.sessionmaker() as session:
        connection = await read_connection(session)
        assert (await connection.execute(text("SELECT 1"))).scalar_one() == 1
        assert await backend_state(live_postgres, connection) == "idle"


async def test_a_session_that_wrote_keeps_its_transaction(live_postgres: Database) -> None:
    async with live_postgres.sessionmaker() as session:
        await session.execute(text("CREATE TEMPORARY TABLE scratch (n int)"))
        await session.execute(text("INSERT INTO scratch VALUES (7)"))
        connection = await read_connection(session)
        assert (await connection.execute(text("SELECT n FROM scratch"))).scalar_one() == 7
        assert await backend_state(live_postgres, connection) == "idle in transaction"
        await session.rollback()


async def test_the_pooled_connection_is_transactional_again(live_postgres: Database) -> None:
    async with live_postgres.sessionmaker() as session:
        await (await read_connection(session)).execute(text("SELECT 1"))
    async with live_postgres.sessionmaker() as session:
        first = await session.scalar(text("SELECT txid_current()"))
        second = await session.scalar(text("SELECT txid_current()"))
        assert first == second  # one transaction, not a statement each
        await session.rollback()


async def test_a_connection_the_server_closed_is_not_handed_out(live_postgres: Database) -> None:
    async with live_postgres.sessionmaker() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        await session.rollback()
    # The pooled connection is killed server-side, as a restart would.
    async with live_postgres.sessionmaker() as killer:
        await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await killer.commit()
    await asyncio.sleep(0.2)  # the event loop reads the server's goodbye
    async with live_postgres.sessionmaker() as session:
        assert await session.scalar(text("SELECT 1")) == 1
        assert await session.scalar(text("SELECT pg_backend_pid()")) != pid


async def test_a_session_reading_in_autocommit_refuses_to_write(live_postgres: Database) -> None:
    async with live_postgres.sessionmaker() as session:
        await (await read_connection(session)).execute(text("SELECT 1"))
        session.add(Location(name="Would commit alone"))
        with pytest.raises(AutocommitWriteRefused):
            await session.flush()
        session.expunge_all()
        with pytest.raises(AutocommitWriteRefused):
            await session.execute(insert(Location).values(name="Would commit alone"))
        assert await session.scalar(text("SELECT count(*) FROM locations")) == 0
