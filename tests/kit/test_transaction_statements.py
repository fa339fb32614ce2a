"""The hot writes' helpers: kit.models.insert_rows (rows written by Core, then persistent as
if flushed) and kit.prepared.fetch_in_transaction (asyncpg's prepared statement inside the
session's transaction, SQLAlchemy's execution before it begins, on SQLite, or while the
engine's statements are watched), with kit.sql.one_of's list parameter. On both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from sqlalchemy import (
    Table,
    bindparam,
    column,
    create_engine,
    event,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.jobs import queue as job_queue
from shopdb.kit import models, prepared
from shopdb.kit.models import WRITTEN_ROWS, _rows_writes, insert_rows, write_rows
from shopdb.kit.sql import in_constants, one_of
from shopdb.models import Event, Job, Location
from shopdb.orders.fulfillments import repository as fulfillment_repository
from shopdb.webhooks import repository as webhook_repository
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent

_ASYNCPG = create_engine("postgresql+asyncpg://localhost/none").dialect

_LOCATION_NAMES = select(Location.name).where(Location.id == text(":location_id"))


def _job(kind: str, **columns: Any) -> Job:
    return Job(kind=kind, payload={"orderId": 7, "note": 'a "quoted" word'}, **columns)


async def _begin(session: AsyncSession) -> None:
    # The transaction begins on the server with the session's first statement.
    await session.execute(text("SELECT 1"))


async def test_inserted_rows_hold_what_the_database_holds(db_session: AsyncSession) -> None:
    await _begin(db_session)
    first, second = _job("orders.confirmation_email"), _job("orders.confirmation_email")

    await insert_rows(db_session, [first, second])

    assert first.id < second.id  # in the order given
    # Python defaults (run_after, attempts) and the JSON value, as a flush writes them.
    assert (first.status, first.attempts, first.max_attempts) == ("queued", 0, 5)
    assert first.run_after.tzinfo is not None
    assert first.payload == {"orderId": 7, "note": 'a "quoted" word'}
    assert inspect(first).persistent
    assert await db_session.get(Job, first.id) is first  # the session's own object


async def test_an_inserted_row_changed_later_is_updated_not_inserted_again(
    db_session: AsyncSession,
) -> None:
    await _begin(db_session)
    job = _job("orders.confirmation_email", run_after=datetime(2031, 1, 2, tzinfo=UTC))
    await insert_rows(db_session, [job])

    job.status = "running"
    await db_session.flush()

    rows = (
        await db_session.execute(select(Job.status, Job.run_after).where(Job.id == job.id))
    ).all()
    assert rows == [("running", datetime(2031, 1, 2, tzinfo=UTC))]


async def test_rows_with_different_columns_are_each_written(db_session: AsyncSession) -> None:
    await _begin(db_session)
    plain, with_actor = _job("orders.confirmation_email"), _job("orders.confirmation_email")
    with_actor.error = "kept"  # a column without a default, set on one row only

    await insert_rows(db_session, [plain, with_actor])

    written = await db_session.execute(
        select(Job.id, Job.error).where(Job.id.in_([plain.id, with_actor.id])).order_by(Job.id)
    )
    assert written.all() == [(plain.id, None), (with_actor.id, "kept")]


async def test_a_statement_in_the_transaction_runs_prepared_on_postgresql(
    backend: Backend, db_session: AsyncSession
) -> None:
    location = Location(name="Depot")
    db_session.add(location)
    await db_session.flush()

    rows = await prepared.fetch_in_transaction(
        db_session, _LOCATION_NAMES, {"location_id": location.id}
    )

    assert [row.name for row in rows] == ["Depot"]
    assert isinstance(rows[0], prepared.Record) is (backend.name == "postgresql")


def _event(topic: str, order_id: int) -> Event:
    return Event(
        topic=topic,
        verb=topic.rsplit("/", 1)[-1],
        subject=f"Order {order_id}",
        subject_type="Order",
        subject_id=order_id,
        body={"id": order_id, "note": 'a "quoted" word'},
        actor="user:1",
    )


async def test_written_rows_of_two_tables_go_in_one_statement_on_postgresql(
    backend: Backend, db_session: AsyncSession
) -> None:
    await _begin(db_session)
    rows = [_event("orders/create", 7), _event("orders/paid", 7), _job("orders.confirmation_email")]

    with statements_sent(backend.engine, first_word=True) as sent:
        await write_rows(db_session, rows)

    # On SQLite one INSERT per table, in the order their first row came.
    assert sent == (["WITH"] if backend.name == "postgresql" else ["INSERT", "INSERT"])
    assert db_session.info[WRITTEN_ROWS] == rows
    events = (
        await db_session.execute(
            select(Event.topic, Event.subject, Event.body, Event.created_at)
            .where(Event.subject_id == 7)
            .order_by(Event.id)
        )
    ).all()
    assert [(topic, subject) for topic, subject, _, _ in events] == [
        ("orders/create", "Order 7"),
        ("orders/paid", "Order 7"),
    ]
    assert events[0].body == {"id": 7, "note": 'a "quoted" word'}
    assert events[0].created_at.tzinfo is not None  # the Python default, as a flush writes it
    (job,) = (
        await db_session.scalars(select(Job).where(Job.kind == "orders.confirmation_email"))
    ).all()
    assert (job.status, job.attempts, job.max_attempts) == ("queued", 0, 5)
    assert job.payload == {"orderId": 7, "note": 'a "quoted" word'}
    assert all(not inspect(row).persistent for row in rows)  # not read back, not attached


async def test_written_rows_run_prepared_on_postgresql(
    backend: Backend, db_session: AsyncSession
) -> None:
    # Through asyncpg's prepared statement: nothing in it computed at execution.
    rows = [_event("orders/create", 8), _job("orders.confirmation_email")]
    await _begin(db_session)
    await write_rows(db_session, rows)
    shapes = [
        (
            inspect(type(row)).local_table,
            tuple(models._insert_values(row, models._columns(inspect(type(row))))),
            1,
        )
        for row in rows
    ]
    (statement,) = _rows_writes(tuple(shapes), chained=True)

    assert prepared._compiled(statement, _ASYNCPG) is not None


@pytest.fixture
def watched(backend: Backend) -> Iterator[list[str]]:
    seen: list[str] = []

    def executed(*args: Any) -> None:
        seen.append(args[2])

    engine = backend.engine.sync_engine
    event.listen(engine, "before_cursor_execute", executed)
    yield seen
    event.remove(engine, "before_cursor_execute", executed)


async def test_a_watched_engine_sees_every_statement(
    db_session: AsyncSession, watched: list[str]
) -> None:
    await _begin(db_session)

    rows = await prepared.fetch_in_transaction(db_session, _LOCATION_NAMES, {"location_id": 0})

    assert rows == []
    assert any("FROM locations" in statement for statement in watched)


async def test_a_refused_prepared_write_raises_as_sqlalchemy_would(
    db_session: AsyncSession,
) -> None:
    job = _job("orders.confirmation_email")
    await _begin(db_session)
    await insert_rows(db_session, [job])
    duplicate = _job("orders.confirmation_email", id=job.id)

    savepoint = await db_session.begin_nested()
    with pytest.raises(IntegrityError):
        await insert_rows(db_session, [duplicate])
    await savepoint.rollback()

    # The transaction goes on after the savepoint's rollback.
    assert await db_session.scalar(select(Job.kind).where(Job.id == job.id)) == job.kind


async def test_one_of_takes_a_list_of_any_length(
    backend: Backend, db_session: AsyncSession
) -> None:
    await _begin(db_session)
    depots = [Location(name=f"Depot {n}") for n in range(3)]
    db_session.add_all(depots)
    await db_session.flush()
    statement = (
        select(Location.name)
        .where(one_of(Location.id, "ids", postgresql=backend.name == "postgresql"))
        .order_by(Location.id)
    )

    for chosen in ([depots[0].id], [d.id for d in depots], []):
        rows = await prepared.fetch_in_transaction(db_session, statement, {"ids": chosen})
        names = {d.id: d.name for d in depots}
        assert [row[0] for row in rows] == [names[i] for i in chosen]


async def test_a_statement_whose_defaults_sqlalchemy_computes_runs_through_it(
    db_session: AsyncSession,
) -> None:
    # locations.updated_at has a Python `onupdate`: only SQLAlchemy's execution sets it.
    depot = Location(name="Depot")
    db_session.add(depot)
    await db_session.flush()
    before = depot.updated_at
    locations = cast(Table, Location.__table__)
    rename = (
        update(locations)
        .where(locations.c.id == bindparam("location_id"))
        .values(name=bindparam("new_name"))
        .returning(locations.c.updated_at)
    )

    rows = await prepared.fetch_in_transaction(
        db_session, rename, {"location_id": depot.id, "new_name": "Renamed"}
    )

    assert rows[0][0] > before


async def test_statements_run_prepared_again_once_the_listener_is_gone(
    backend: Backend, db_session: AsyncSession
) -> None:
    def executed(*_args: Any) -> None:
        return None

    engine = backend.engine.sync_engine
    event.listen(engine, "before_cursor_execute", executed)
    await _begin(db_session)
    watched = await prepared.fetch_in_transaction(db_session, _LOCATION_NAMES, {"location_id": 0})
    event.remove(engine, "before_cursor_execute", executed)
    await db_session.execute(text("SELECT 1"))

    depot = Location(name="Depot")
    db_session.add(depot)
    await db_session.flush()
    rows = await prepared.fetch_in_transaction(
        db_session, _LOCATION_NAMES, {"location_id": depot.id}
    )

    assert watched == []
    # SQLAlchemy's own flag stays set after a removal; only the listeners count.
    assert isinstance(rows[0], prepared.Record) is (backend.name == "postgresql")


@pytest.mark.parametrize(
    "build",
    [
        lambda: fulfillment_repository._covered_lines(True),
        lambda: fulfillment_repository._fulfillment_orders_handling(True),
        webhook_repository._postgres_claim_to_send,
        lambda: job_queue._COMPLETE_AND_CLAIM,
        lambda: fulfillment_repository._OPEN_AT_ONCE,
    ],
    ids=[
        "covered_lines",
        "fulfillment_orders_handling",
        "delivery_claim",
        "job_claim",
        "open_fulfillment_orders",
    ],
)
def test_hot_statements_compile_for_the_prepared_path(build: Any) -> None:
    # A list expanded at execution (an IN of constants given as parameters) would send the
    # statement through SQLAlchemy's execution, and its status test would keep PostgreSQL's
    # generic plan off the partial index it needs: kit.sql.in_constants.
    compiled = prepared._compiled(build(), _ASYNCPG)

    assert compiled is not None
    assert "POSTCOMPILE" not in compiled.sql


def test_in_constants_writes_quoted_constants_into_the_sql() -> None:
    clause = in_constants(column("status"), ["open", "it's"])

    sql = str(clause.compile(dialect=_ASYNCPG))

    assert sql == "status IN ('open', 'it''s')"
