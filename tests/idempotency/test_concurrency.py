"""Concurrent requests with one Idempotency-Key, in transactions that really commit: the
work is done once, every caller gets the same answer (or 409 IDEMPOTENCY_KEY_IN_USE), and the
adjustment batcher is used only by requests without the header.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from shopdb.app import create_app
from shopdb.db import Database, create_engine
from shopdb.idempotency import service as idempotency
from shopdb.inventory.batching import Adjustment, SelfCommittingAdjustments
from shopdb.inventory.repository import LevelRow
from shopdb.models import Product
from shopdb.schema import upgrade
from shopdb.services import services_of
from tests.fixtures import database as test_databases
from tests.fixtures.catalog import product_body
from tests.fixtures.database import Backend
from tests.fixtures.queries import statements_sent
from tests.fixtures.services import use_services
from tests.idempotency.helpers import (
    ADJUST,
    PRODUCTS,
    available,
    committed_admin,
    keyed,
    level_events,
    live_client,
    log_rows,
)
from tests.inventory.helpers import make_items


class CountingBatcher(SelfCommittingAdjustments):
    calls = 0

    async def submit(self, adjustment: Adjustment) -> LevelRow | None:
        self.calls += 1
        return await super().submit(adjustment)


@pytest.fixture
def committing_app(backend: Backend, request: pytest.FixtureRequest) -> FastAPI:
    """An app on its own PostgreSQL database, with the adjustment batcher production has."""
    if backend.name != "postgresql":
        pytest.skip("needs real concurrent transactions")
    live: Database = request.getfixturevalue("live_postgres")
    application = create_app(backend.settings)
    use_services(application, live)
    services_of(application).adjustments = CountingBatcher(live.primary)
    return application


@pytest.mark.postgres_only
class TestConcurrentDuplicates:
    async def test_twenty_identical_adjustments_with_one_key_move_stock_once(
        self, committing_app: FastAPI
    ) -> None:
        database: Database = services_of(committing_app).database
        batcher = services_of(committing_app).adjustments
        assert isinstance(batcher, CountingBatcher)
        headers, _ = await committed_admin(committing_app)
        (item,), _, loc = await make_items(database, 1, {"A": 50})
        body = {"inventoryItemId": item, "locationId": loc["A"], "availableAdjustment": -3}

        async with live_client(committing_app) as client:
            answers = await asyncio.gather(
                *(client.post(ADJUST, json=body, headers=keyed(headers, "race")) for _ in range(20))
            )

            done = [a for a in answers if a.status_code == 200]
            busy = [a for a in answers if a.status_code == 409]
            assert len(done) + len(busy) == 20, [a.text for a in answers]
            assert all(a.json()["code"] == "IDEMPOTENCY_KEY_IN_USE" for a in busy)
            assert len({a.content for a in done}) == 1
            assert json.loads(done[0].content)["available"] == 47
            assert len([a for a in done if "Idempotent-Replayed" not in a.headers]) == 1
            assert batcher.calls == 0  # the key's adjustment went through the request's session

            async with database.session() as session:
                assert await available(session, item, loc["A"]) == 47
                assert await log_rows(session, item) == [(-3, "correction")]
                assert await level_events(session, item) == 1

            # Without the header, the batched path as before.
            plain = await client.post(ADJUST, json=body, headers=headers)
            assert plain.status_code == 200, plain.text
            assert batcher.calls == 1
            assert json.loads(plain.content)["available"] == 44

    async def test_concurrent_creates_with_one_key_make_one_product(
        self, committing_app: FastAPI
    ) -> None:
        database: Database = services_of(committing_app).database
        headers, _ = await committed_admin(committing_app)
        body = product_body("Raced Tee")

        async with live_client(committing_app) as client:
            answers = await asyncio.gather(
                *(client.post(PRODUCTS, json=body, headers=keyed(headers, "mk")) for _ in range(8))
            )

        done = [a for a in answers if a.status_code == 201]
        assert len(done) + [a.status_code for a in answers].count(409) == 8
        assert len({(a.content, a.headers["ETag"], a.headers["Location"]) for a in done}) == 1
        async with database.session() as session:
            count = await session.scalar(
                select(func.count()).select_from(Product).where(Product.title == "Raced Tee")
            )
        assert count == 1

    async def test_a_request_still_running_past_the_wait_is_409_in_use(
        self, committing_app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        database: Database = services_of(committing_app).database
        headers, principal = await committed_admin(committing_app)
        (item,), _, loc = await make_items(database, 1, {"A": 5})
        body = {"inventoryItemId": item, "locationId": loc["A"], "availableAdjustment": -1}
        monkeypatch.setattr(idempotency, "CLAIM_WAIT", timedelta(milliseconds=200))

        async with live_client(committing_app) as client:
            # Another request holds the key, uncommitted (as one still running would).
            async with database.sessionmaker() as holder:
                await idempotency.claim(
                    holder,
                    principal=principal,
                    key="held",
                    method="POST",
                    path=ADJUST,
                    request_hash="0" * 64,
                )
                busy = await client.post(ADJUST, json=body, headers=keyed(headers, "held"))
                await holder.rollback()  # it failed, or its process died: the claim is gone

            assert busy.status_code == 409, busy.text
            assert busy.json()["code"] == "IDEMPOTENCY_KEY_IN_USE"
            assert busy.json()["details"][0]["field"] == "Idempotency-Key"
            assert busy.headers["Retry-After"] == "1"

            retried = await client.post(ADJUST, json=body, headers=keyed(headers, "held"))
            assert retried.status_code == 200, retried.text
            assert json.loads(retried.content)["available"] == 4

    async def test_the_usual_claim_is_one_statement_and_a_held_lock_is_waited_for(
        self, committing_app: FastAPI, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        database: Database = services_of(committing_app).database
        claim: dict[str, Any] = {
            "principal": "p",
            "method": "POST",
            "path": ADJUST,
            "request_hash": "0" * 64,
        }
        async with database.sessionmaker() as first:
            with statements_sent(database.primary) as sent:
                claimed = await idempotency.claim(first, key="one", **claim)
            assert isinstance(claimed, idempotency.Claim)
            assert len(sent) == 1, sent  # no lock_timeout round trips when nobody holds it

            # Another key whose lock collides with the first's: it waits for that
            # transaction to end (here: a commit), then claims its own key.
            monkeypatch.setattr(idempotency, "advisory_lock", lambda *_: 42)
            await idempotency.claim(first, key="two", **claim)
            async with database.sessionmaker() as second:
                waiting = asyncio.ensure_future(idempotency.claim(second, key="three", **claim))
                await asyncio.sleep(0.2)
                assert not waiting.done()
                await first.commit()
                assert isinstance(await waiting, idempotency.Claim)
                await second.rollback()


@pytest.fixture
async def committing_sqlite_app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    """An app on its own SQLite file, where every request really commits (one writer)."""
    url = await test_databases.fresh_database_url("sqlite", tmp_path, "idempotency")
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


async def test_concurrent_duplicates_on_sqlite_wait_and_replay(
    committing_sqlite_app: FastAPI,
) -> None:
    # BEGIN IMMEDIATE serialises the requests: each duplicate waits for the first to commit.
    database: Database = services_of(committing_sqlite_app).database
    headers, _ = await committed_admin(committing_sqlite_app)
    (item,), _, loc = await make_items(database, 1, {"A": 10})
    body = {"inventoryItemId": item, "locationId": loc["A"], "availableAdjustment": -2}

    async with live_client(committing_sqlite_app) as client:
        answers = await asyncio.gather(
            *(client.post(ADJUST, json=body, headers=keyed(headers, "lite")) for _ in range(8))
        )

    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert [a.headers.get("Idempotent-Replayed") for a in answers].count(None) == 1
    async with database.session() as session:
        assert await available(session, item, loc["A"]) == 8
        assert await log_rows(session, item) == [(-2, "correction")]
