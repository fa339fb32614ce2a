"""Placements against a deliberately small pool (4 connections, no overflow, a 3 s checkout
timeout), with real concurrent requests on PostgreSQL: keyed ones hold their Idempotency-Key
claim's connection while the placement takes others, so without a bound on how many do that
at once every connection ends up a claim waiting for a second one (issue 12)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from shopdb.app import create_app
from shopdb.db import Database
from shopdb.models import IdempotencyKey
from shopdb.orders.pool import keyed_placement_limit
from tests.checkouts.helpers import checkout_body, complete, create
from tests.fixtures.catalog import Headers
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services
from tests.idempotency.helpers import committed_admin, keyed, live_client
from tests.orders.helpers import level, make_locations, make_variant, order_body, orders_with

pytestmark = pytest.mark.postgres_only

POOL_SIZE = 4
POOL_TIMEOUT = 3
ORDERS = "/api/v1/orders"


@dataclass(frozen=True)
class Small:
    client: httpx.AsyncClient
    headers: Headers
    database: Database


@pytest.fixture
def small_pool(backend: Backend, request: pytest.FixtureRequest) -> Database:
    """A Database with a small pool over the module's committing PostgreSQL database."""
    if backend.name != "postgresql":
        pytest.skip("needs real concurrent transactions and a connection pool")
    live: Database = request.getfixturevalue("live_postgres")
    url = live.primary.url.render_as_string(hide_password=False)
    return Database(
        create_async_engine(url, pool_size=POOL_SIZE, max_overflow=0, pool_timeout=POOL_TIMEOUT)
    )


@pytest.fixture
async def small(backend: Backend, small_pool: Database) -> AsyncIterator[Small]:
    application: FastAPI = create_app(backend.settings)
    use_services(application, small_pool)
    headers, _ = await committed_admin(application)
    try:
        async with live_client(application) as client:
            yield Small(client, headers, small_pool)
    finally:
        await small_pool.dispose()


async def stocked(small: Small, units: int) -> tuple[int, int, int]:
    (loc,) = await make_locations(small.database, "Main")
    tee = await make_variant(small.database, "5.00", {loc: units})
    return tee.variant_id, tee.item_id, loc


async def all_of(*requests: Awaitable[httpx.Response]) -> list[httpx.Response]:
    return await asyncio.wait_for(asyncio.gather(*requests), timeout=120)


def limit_of(pool_size: int, max_overflow: int) -> int | None:
    # Never connects: the limit is read from the pool's configuration.
    engine = create_async_engine(
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",
        pool_size=pool_size,
        max_overflow=max_overflow,
    )
    return keyed_placement_limit(engine.sync_engine.pool)


class TestTheLimit:
    def test_half_of_what_the_pool_opens_less_a_reserve(self) -> None:
        assert limit_of(20, 10) == 14
        assert limit_of(10, 0) == 4

    def test_at_least_one_even_for_a_tiny_pool(self) -> None:
        assert limit_of(POOL_SIZE, 0) == 1
        assert limit_of(1, 0) == 1

    def test_none_for_a_pool_without_a_limit(self) -> None:
        assert limit_of(0, 0) is None


class TestKeyedPlacements:
    async def test_40_keyed_placements_and_their_retries_all_succeed_once_each(
        self, small: Small
    ) -> None:
        variant, item, loc = await stocked(small, 100)
        body = order_body((variant, 1))
        keys = [f"pool-{variant}-{n}" for n in range(40)]
        retried = keys[:5]

        answers = await all_of(
            *(small.client.post(ORDERS, json=body, headers=keyed(small.headers, k)) for k in keys),
            *(
                small.client.post(ORDERS, json=body, headers=keyed(small.headers, k))
                for k in retried
            ),
        )

        assert [a.status_code for a in answers] == [201] * 45, [
            a.text for a in answers if a.status_code != 201
        ]
        firsts, retries = answers[:40], answers[40:]
        for key, retry in zip(retried, retries, strict=True):
            first = firsts[keys.index(key)]
            assert retry.json()["id"] == first.json()["id"]
            # Exactly one of the two did the work; the other replayed it.
            replays = [a.headers.get("Idempotent-Replayed") for a in (first, retry)]
            assert sorted(replays, key=str) == sorted([None, "true"], key=str)
        assert len({a.json()["id"] for a in firsts}) == 40
        async with small.database.session() as session:
            assert len(await orders_with(session, variant)) == 40
            assert await level(session, item, loc) == (60, 40)
            stored = await session.scalar(
                select(func.count())
                .select_from(IdempotencyKey)
                .where(IdempotencyKey.key.in_(keys), IdempotencyKey.response_status == 201)
            )
            assert stored == 40

    async def test_keyed_and_unkeyed_placements_mixed_all_succeed(self, small: Small) -> None:
        variant, item, loc = await stocked(small, 100)
        body = order_body((variant, 1))

        answers = await all_of(
            *(
                small.client.post(
                    ORDERS,
                    json=body,
                    headers=keyed(small.headers, f"mixed-{variant}-{n}")
                    if n % 2
                    else small.headers,
                )
                for n in range(40)
            )
        )

        assert [a.status_code for a in answers] == [201] * 40, [
            a.text for a in answers if a.status_code != 201
        ]
        async with small.database.session() as session:
            assert len(await orders_with(session, variant)) == 40
            assert await level(session, item, loc) == (60, 40)


class TestUnkeyedPlacements:
    async def test_40_placements_without_a_key_all_succeed(self, small: Small) -> None:
        variant, item, loc = await stocked(small, 100)
        body = order_body((variant, 1))

        answers = await all_of(
            *(small.client.post(ORDERS, json=body, headers=small.headers) for _ in range(40))
        )

        assert [a.status_code for a in answers] == [201] * 40, [
            a.text for a in answers if a.status_code != 201
        ]
        async with small.database.session() as session:
            assert len(await orders_with(session, variant)) == 40
            assert await level(session, item, loc) == (60, 40)


class TestKeyedCheckoutCompletions:
    async def test_20_keyed_completions_and_their_retries_all_succeed_once_each(
        self, small: Small
    ) -> None:
        variant, item, loc = await stocked(small, 100)
        checkouts = [
            await create(small.client, small.headers, checkout_body((variant, 1)))
            for _ in range(20)
        ]
        tokens = [c["token"] for c in checkouts]
        retried = tokens[:3]

        answers = await all_of(
            *(complete(small.client, small.headers, t, key=f"done-{t}") for t in tokens),
            *(complete(small.client, small.headers, t, key=f"done-{t}") for t in retried),
        )

        assert [a.status_code for a in answers] == [201] * 23, [
            a.text for a in answers if a.status_code != 201
        ]
        firsts, retries = answers[:20], answers[20:]
        for first, retry in zip(firsts[:3], retries, strict=True):
            assert retry.json()["id"] == first.json()["id"]
        assert len({a.json()["id"] for a in firsts}) == 20
        async with small.database.session() as session:
            assert len(await orders_with(session, variant)) == 20
            assert await level(session, item, loc) == (80, 20)
