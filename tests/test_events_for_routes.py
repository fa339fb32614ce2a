"""Every mutating route records an event, in the transaction of the change it describes.

The routes are read from the OpenAPI document: a POST, PUT, PATCH or DELETE under /api/v1
added later fails `test_every_mutating_route_is_walked` until it has a case in
tests/events/route_cases.py (a valid request, prepared by its setup) or a reason in EXEMPT.

Each case runs its request while every statement and savepoint on the test's connection is
watched. The test database runs each unit of work in a savepoint of the test's transaction, so
"the same transaction" is checkable: the request's committed unit (a released outermost
savepoint) that wrote the change also inserted its `events` row. A unit that wrote domain rows
without an event fails, and so does a request that recorded its event in a unit of its own.

READ_ONLY routes are POSTs that change nothing (quotes, calculations, lookups); they are
driven too, and must write nothing at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from shopdb.db import Database
from shopdb.events.service import record_event
from shopdb.models import Location, User
from tests.auth.helpers import PASSWORD, bearer, http_client, make_user, shared_app
from tests.events.route_cases import CASES, EXEMPT, MISSING_ELSEWHERE, READ_ONLY, create_product
from tests.events.route_shop import API, Call, Shop
from tests.fixtures.database import Backend

METHODS = ("post", "put", "patch", "delete")

# Writes that are bookkeeping of the request, not a change an event describes: the event log
# itself, its outboxes (jobs, webhook deliveries) and replay records.
BOOKKEEPING = frozenset({"events", "jobs", "idempotency_keys", "webhook_deliveries"})


# --- watching the connection ---------------------------------------------------------------------


@dataclass
class Unit:
    """One outermost savepoint of the test's connection: one unit of work."""

    name: str
    writes: list[str] = field(default_factory=list)  # table names, in order
    committed: bool | None = None

    @property
    def domain_writes(self) -> list[str]:
        return [table for table in self.writes if table not in BOOKKEEPING]

    @property
    def events(self) -> int:
        return self.writes.count("events")


_WRITE = re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)
_NOT_TABLES = frozenset({"skip", "of", "set", "nowait"})


def written_tables(statement: str) -> list[str]:
    if statement.lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE", "ROLLBACK")):
        return []
    return [t.lower() for t in _WRITE.findall(statement) if t.lower() not in _NOT_TABLES]


@contextmanager
def units_of_work(backend: Backend) -> Iterator[list[Unit]]:
    """The units of work begun while open, with what each wrote and how it ended."""
    units: list[Unit] = []
    stack: list[str] = []
    outside = Unit("outside")

    def began(_conn: Any, _name: str | None) -> None:
        # The name is None here when SQLAlchemy generates it: savepoints nest, so depth is
        # what tells the outermost one.
        if not stack:
            units.append(Unit(f"unit {len(units) + 1}"))
        stack.append("savepoint")

    def ended(committed: bool) -> Callable[..., None]:
        def end(_conn: Any, _name: str, _context: Any = None) -> None:
            if not stack:
                return  # begun before the watch
            stack.pop()
            if not stack:
                units[-1].committed = committed

        return end

    def executed(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        target = units[-1] if stack else outside
        target.writes.extend(written_tables(statement))

    released, rolled_back = ended(True), ended(False)
    engine = backend.engine.sync_engine
    listeners: list[tuple[str, Callable[..., None]]] = [
        ("savepoint", began),
        ("release_savepoint", released),
        ("rollback_savepoint", rolled_back),
        ("before_cursor_execute", executed),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield units
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)
    if outside.writes:
        units.append(outside)


# --- the tests --------------------------------------------------------------------------------


def mutating_routes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        if path.startswith(API)
        for method in METHODS
        if method in item
    }


@pytest.fixture
def app(backend: Backend, database: Database) -> FastAPI:
    # Every router the application can mount, the development-only ones included.
    settings = backend.settings.model_copy(update={"bench_routes": True})
    return shared_app(f"{backend.name}+bench", settings, database)


@pytest.fixture
async def shop(app: FastAPI, database: Database) -> Any:
    # The admin is committed (its savepoint released), so no unit of work is open when a
    # request is watched.
    async with database.session() as session:
        admin: User = await make_user(session, role="admin")
    async with http_client(app) as client:
        yield Shop(client, bearer(app, admin), database)


def test_every_mutating_route_is_walked(backend: Backend, database: Database) -> None:
    settings = backend.settings.model_copy(update={"bench_routes": True})
    routes = mutating_routes(shared_app(f"{backend.name}+bench", settings, database))

    assert routes - set(CASES) - set(EXEMPT) == set(), "routes with neither a case nor a reason"
    assert set(CASES) - routes == set(), "cases for routes that no longer exist"
    assert set(CASES) & set(EXEMPT) == set()


async def send(shop: Shop, call: Call) -> httpx.Response:
    return await shop.client.request(
        call.method,
        API + call.url,
        json=call.json,
        files=call.files,
        data=call.data,
        headers={**shop.headers, **call.headers},
    )


def _params() -> list[Any]:
    found = []
    for key in sorted(CASES):
        marks = []
        if key in MISSING_ELSEWHERE:
            marks.append(pytest.mark.xfail(reason=MISSING_ELSEWHERE[key], strict=True))
        found.append(pytest.param(key, id=f"{key[0]} {key[1][len(API) :]}", marks=marks))
    return found


@pytest.mark.parametrize("route", _params())
async def test_the_route_records_its_event_in_its_transaction(
    backend: Backend, shop: Shop, route: tuple[str, str]
) -> None:
    call = await CASES[route](shop)

    with units_of_work(backend) as units:
        response = await send(shop, call)

    assert 200 <= response.status_code < 300, response.text
    committed = [unit for unit in units if unit.committed]
    assert [u.name for u in units if u.committed is None] == [], "a unit never ended"
    assert sum(unit.events for unit in committed) >= 1, f"no event: {[u.writes for u in units]}"
    silent = [
        unit.domain_writes
        for unit in committed
        if set(unit.domain_writes) - set(call.leases) and not unit.events
    ]
    assert silent == [], "a committed change without its event in the same transaction"


@pytest.mark.parametrize(
    "route", [pytest.param(key, id=f"{key[0]} {key[1][len(API) :]}") for key in sorted(READ_ONLY)]
)
async def test_a_read_only_post_writes_nothing(
    backend: Backend, shop: Shop, route: tuple[str, str]
) -> None:
    call = await READ_ONLY[route](shop)

    with units_of_work(backend) as units:
        response = await send(shop, call)

    assert response.status_code == 200, response.text
    assert [unit.writes for unit in units if unit.writes] == []


async def test_an_idempotent_replay_writes_no_second_event(backend: Backend, shop: Shop) -> None:
    call = await create_product(shop)
    call.headers["Idempotency-Key"] = shop.unique("key")
    first = await send(shop, call)

    with units_of_work(backend) as units:
        replay = await send(shop, call)

    assert first.status_code == replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert sum(unit.events for unit in units) == 0
    assert [unit.domain_writes for unit in units if unit.domain_writes] == []


async def test_a_refused_request_leaves_no_event(backend: Backend, shop: Shop) -> None:
    """The rolled-back side: a change refused after it began writes nothing that commits."""
    customer = await shop.customer()

    with units_of_work(backend) as units:
        response = await send(
            shop, Call("POST", "/customers", {"email": customer["email"].upper()})
        )

    assert response.status_code == 409
    assert sum(unit.events for unit in units if unit.committed) == 0


async def test_logging_in_writes_only_the_last_login(
    backend: Backend, shop: Shop, database: Database
) -> None:
    async with database.session() as session:
        user = await make_user(session, email=f"{shop.unique('login')}@example.com")

    with units_of_work(backend) as units:
        response = await shop.client.post(
            f"{API}/auth/token", json={"email": user.email, "password": PASSWORD}
        )

    assert response.status_code == 200, response.text
    assert [unit.writes for unit in units if unit.writes] == [["users"]]


async def _add_then_fail(database: Database) -> None:
    async with database.session() as session:
        session.add(Location(name="Undone"))
        await session.flush()
        raise RuntimeError


async def test_the_watcher_tells_each_transaction_apart(
    backend: Backend, database: Database
) -> None:
    """What the route test relies on: a change and its event in two transactions are seen as
    two units, the first one silent; a rolled-back unit is seen as not committed."""
    with units_of_work(backend) as units:
        async with database.session() as session:
            session.add(Location(name="Silent"))
        async with database.session() as session:
            record_event(session, topic="locations/create", subject_type="Location", subject_id=1)
        with pytest.raises(RuntimeError):
            await _add_then_fail(database)

    assert [(u.domain_writes, u.events, u.committed) for u in units] == [
        (["locations"], 0, True),
        ([], 1, True),
        (["locations"], 0, False),
    ]


def test_the_watcher_reads_written_tables() -> None:
    assert written_tables('INSERT INTO "events" (topic) VALUES (?)') == ["events"]
    assert written_tables("UPDATE inventory_levels SET available = 1") == ["inventory_levels"]
    assert written_tables("SELECT id FROM jobs FOR UPDATE SKIP LOCKED") == []
    assert written_tables(
        "WITH moved AS (UPDATE inventory_levels SET x = 1 RETURNING id) "
        "INSERT INTO events (topic) SELECT 'a' FROM moved"
    ) == ["inventory_levels", "events"]
    assert written_tables("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 2") == [
        "t"
    ]
