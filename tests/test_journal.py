"""The change journal (shopdb.kit.journal): writes noted in the session, delivered after commit.

A write notes what it changed; the subscribers hear of it once the unit of work committed,
never for a transaction that rolled back; the listeners live on shopdb's own session class,
so a session of another sessionmaker is untouched.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from shopdb.db import Database
from shopdb.kit import journal
from shopdb.kit.journal import Changes, Journal
from shopdb.models import Product
from tests.fixtures.database import Backend


class Heard:
    def __init__(self) -> None:
        self.changes: list[Changes] = []

    async def __call__(self, changes: Changes) -> None:
        self.changes.append(changes)


@pytest.fixture
def heard(database: Database) -> Heard:
    """What a product subscriber hears from commits of the test's database."""
    subscriber = Heard()
    subscribed = Journal()
    subscribed.subscribe(journal.PRODUCT, subscriber)
    database.after_commit.append(subscribed.deliver)
    return subscriber


def _product() -> Product:
    return Product(title="Journal Tee", handle=f"journal-{uuid.uuid4().hex[:8]}", status="active")


class TestNotes:
    async def test_a_write_is_noted_until_its_commit(self, db_session: AsyncSession) -> None:
        journal.note(db_session, journal.PRODUCT, [7, None], listing=False)
        journal.note(db_session, journal.PRODUCT, [8], listing=False)

        assert journal.uncommitted(db_session, journal.PRODUCT) == Changes({7, 8}, False)
        assert journal.uncommitted(db_session, "other") == Changes()

    async def test_any_listing_change_marks_the_whole_transaction(
        self, db_session: AsyncSession
    ) -> None:
        journal.note(db_session, journal.PRODUCT, [1], listing=False)
        journal.note(db_session, journal.PRODUCT, [2])

        assert journal.uncommitted(db_session, journal.PRODUCT) == Changes({1, 2}, True, True)


class TestDelivery:
    async def test_subscribers_hear_a_change_after_its_commit(
        self, database: Database, heard: Heard
    ) -> None:
        async with database.session() as session:
            journal.note(session, journal.PRODUCT, [5], listing=False)
            assert heard.changes == []  # not before the commit

        assert heard.changes == [Changes({5}, False)]

    async def test_nothing_is_delivered_for_a_rolled_back_transaction(
        self, database: Database, heard: Heard
    ) -> None:
        async def failing_unit_of_work() -> None:
            async with database.session() as session:
                journal.note(session, journal.PRODUCT, [5])
                raise RuntimeError("the unit of work fails")

        with pytest.raises(RuntimeError):
            await failing_unit_of_work()

        assert heard.changes == []

    async def test_a_rollback_drops_its_notes_and_the_next_commit_delivers_only_its_own(
        self, database: Database, heard: Heard
    ) -> None:
        async with database.sessionmaker() as session:
            async with session.begin():
                journal.note(session, journal.PRODUCT, [1])
                await session.rollback()
            async with session.begin():
                journal.note(session, journal.PRODUCT, [2], listing=False)
            await database.committed(session)

        assert heard.changes == [Changes({2}, False)]

    async def test_a_released_savepoint_is_not_the_commit(
        self, database: Database, heard: Heard
    ) -> None:
        async with database.sessionmaker() as session:
            async with session.begin():
                async with session.begin_nested():
                    journal.note(session, journal.PRODUCT, [3])
                assert journal.uncommitted(session, journal.PRODUCT) == Changes({3}, True, True)
                await database.committed(session)  # nothing is committed yet
                assert heard.changes == []
            await database.committed(session)

        assert heard.changes == [Changes({3}, True, True)]

    async def test_one_failing_subscriber_neither_stops_the_others_nor_raises(self) -> None:
        after = Heard()

        async def broken(_changes: Changes) -> None:
            raise RuntimeError("a subscriber's bug")

        subscribed = Journal()
        subscribed.subscribe(journal.PRODUCT, broken)
        subscribed.subscribe(journal.PRODUCT, after)

        await subscribed.publish(journal.PRODUCT, Changes({9}, False))

        assert after.changes == [Changes({9}, False)]


class TestSessionsOfOthers:
    async def test_the_catalog_flush_listener_notes_this_databases_sessions(
        self, database: Database, heard: Heard
    ) -> None:
        from shopdb.catalog.read_model.changes import note_flushed_products

        database.listen("after_flush", note_flushed_products)  # as the wiring does
        async with database.session() as session:
            product = _product()
            session.add(product)
            await session.flush()
            assert journal.uncommitted(session, journal.PRODUCT).ids == {product.id}

        assert [c.ids for c in heard.changes] == [{product.id}]

    async def test_another_sessionmakers_sessions_are_untouched(
        self, database: Database, db_connection: AsyncConnection
    ) -> None:
        from shopdb.catalog.read_model.changes import note_flushed_products

        database.listen("after_flush", note_flushed_products)
        # A plain SQLAlchemy factory (another library's), on the test's connection.
        other = async_sessionmaker(db_connection, join_transaction_mode="create_savepoint")
        async with other() as session:
            session.add(_product())
            await session.flush()
            assert journal.uncommitted(session, journal.PRODUCT) == Changes()
            journal.note(session, journal.PRODUCT, [1])
            await session.commit()
            # The journal's bookkeeping did not run either: the note was not committed.
            assert journal.uncommitted(session, journal.PRODUCT) == Changes({1}, True, True)
            assert journal.take_committed(session) == {}

    async def test_a_listener_of_one_database_does_not_reach_another(
        self, backend: Backend, database: Database, db_connection: AsyncConnection
    ) -> None:
        from shopdb.catalog.read_model.changes import note_flushed_products

        database.listen("after_flush", note_flushed_products)
        other = Database(backend.engine)
        maker = other.make_sessionmaker(db_connection, join_transaction_mode="create_savepoint")
        async with maker() as session:
            session.add(_product())
            await session.flush()
            assert journal.uncommitted(session, journal.PRODUCT) == Changes()
