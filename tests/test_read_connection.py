"""read_connection: reads outside a transaction run in autocommit; a session that began keeps
it; a session reading in autocommit refuses any write after. autocommit_reads: a read-only
request's statements on a pooled connection of their own, given back after.

About PostgreSQL only (SQLite always uses the session's transaction), against a database whose
sessions really commit: the rolled-back test database binds sessions to an open transaction.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Integer, bindparam, func, insert, literal_column, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import QueuePool

from shopdb.db import AutocommitWriteRefused, Database, autocommit_reads, read_connection
from shopdb.kit.prepared import ConnectionReads, DriverReads
from shopdb.models import Location
from shopdb.replicas import connection_lost


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
    async with live_postgres.sessionmaker() as killer:
        await killer.execute(text("SELECT 1"))  # its own connection, before the other's is back
        async with live_postgres.sessionmaker() as session:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            await session.rollback()
        # The pooled connection is killed server-side, as a restart would.
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


# --- autocommit_reads: a read-only request's statements on a pooled connection of their own


PID = select(func.pg_backend_pid())


def queue_pool(database: Database) -> QueuePool:
    pool = database.primary.sync_engine.pool
    assert isinstance(pool, QueuePool)
    return pool


async def test_reads_run_outside_any_transaction_and_give_the_connection_back(
    live_postgres: Database,
) -> None:
    pool = queue_pool(live_postgres)
    async with live_postgres.sessionmaker() as observer, live_postgres.sessionmaker() as session:
        await observer.execute(text("SELECT 1"))  # holds a connection of its own
        async with autocommit_reads(session) as reads:
            assert isinstance(reads, DriverReads)
            assert reads.stores
            [(pid,)] = await reads.fetch(PID, {})
            assert pool.checkedout() == 2
        assert pool.checkedout() == 1  # back in the pool once the reads are done
        assert not session.in_transaction()
        state = await observer.scalar(
            text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
        )
        assert state == "idle"
        await observer.rollback()
        # The session may still write, in its own transaction (nothing ran through it).
        session.add(Location(name="Written after a read"))
        await session.flush()
        await session.rollback()


async def test_reads_in_a_session_that_began_see_its_writes(live_postgres: Database) -> None:
    async with live_postgres.sessionmaker() as session:
        await session.execute(text("CREATE TEMPORARY TABLE scratch (n int)"))
        await session.execute(text("INSERT INTO scratch VALUES (7)"))
        async with autocommit_reads(session) as reads:
            assert isinstance(reads, ConnectionReads)
            assert not reads.stores
            rows = await reads.fetch(select(literal_column("n")).select_from(text("scratch")), {})
        assert [row[0] for row in rows] == [7]
        await session.rollback()


async def test_a_statement_that_fails_leaves_a_usable_pool(live_postgres: Database) -> None:
    async with live_postgres.sessionmaker() as session:
        # Raised as SQLAlchemy raises it: the app's handlers read its SQLSTATE.
        with pytest.raises(DBAPIError) as raised:
            async with autocommit_reads(session) as reads:
                await reads.fetch(select(literal_column("1 / 0")), {})
        assert raised.value.orig.sqlstate == "22012"  # type: ignore[union-attr]
        async with autocommit_reads(session) as reads:
            assert [tuple(r) for r in await reads.fetch(select(literal_column("2")), {})] == [(2,)]
    assert queue_pool(live_postgres).checkedout() == 0


async def test_a_connection_killed_mid_read_is_discarded(live_postgres: Database) -> None:
    pool = queue_pool(live_postgres)
    async with live_postgres.sessionmaker() as session:
        reading = autocommit_reads(session)
        reads = await reading.__aenter__()
        [(pid,)] = await reads.fetch(PID, {})
        async with live_postgres.session() as killer:
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await asyncio.sleep(0.2)  # the event loop reads the server's goodbye
        with pytest.raises(DBAPIError) as raised:
            await reads.fetch(select(func.pg_sleep(0.5)), {})
        await reading.__aexit__(type(raised.value), raised.value, None)  # the error goes on
    assert connection_lost(raised.value)  # what a replica's read is retried on the primary for
    assert pool.checkedout() == 0
    for _ in range(pool.size() + 1):  # every pooled connection: none is the killed one
        async with live_postgres.sessionmaker() as session:
            async with autocommit_reads(session) as reads:
                [(other,)] = await reads.fetch(PID, {})
        assert other != pid


async def test_a_statement_keeps_the_values_it_holds(live_postgres: Database) -> None:
    """A LIMIT written into the statement travels with it (kit.prepared's held values)."""
    numbers = select(func.generate_series(1, bindparam("last", type_=Integer))).limit(3)
    async with live_postgres.sessionmaker() as session:
        async with autocommit_reads(session) as reads:
            rows = await reads.fetch(numbers, {"last": 10})
    assert [row[0] for row in rows] == [1, 2, 3]


async def test_a_read_cancelled_mid_statement_leaves_no_busy_connection(
    live_postgres: Database,
) -> None:
    """A request cancelled while its statement runs (the client went away): the pool must not
    hand out the connection with the statement still in flight."""
    pool = queue_pool(live_postgres)

    async def slow_read() -> None:
        async with live_postgres.sessionmaker() as session:
            async with autocommit_reads(session) as reads:
                await reads.fetch(select(func.pg_sleep(1)), {})

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(slow_read(), 0.1)
    assert pool.checkedout() == 0
    for _ in range(pool.size() + 1):
        async with live_postgres.sessionmaker() as session:
            async with autocommit_reads(session) as reads:
                assert [tuple(r) for r in await reads.fetch(select(literal_column("3")), {})] == [
                    (3,)
                ]
