"""The request rate limiter with its in-process store (the Redis store: test_rate_limit_redis)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.app import create_app
from shopdb.db import Database
from shopdb.ratelimit import Decision, MemoryBucketStore, RateLimiter
from shopdb.services import services_of
from tests.auth.helpers import bare_app, bearer, make_api_key, make_user
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services

PROTECTED = "/api/v1/permissions"


def frozen(application: FastAPI) -> FastAPI:
    """Stop the buckets' clock: nothing trickles back in, however slowly a test runs."""
    services_of(application).rate_limiter.store = MemoryBucketStore(clock=lambda: 0.0)
    return application


def limited_app(backend: Backend, database: Database) -> FastAPI:
    settings = backend.settings.model_copy(
        update={"rate_limit_burst": 3, "rate_limit_per_second": 0.01}
    )
    application = create_app(settings)
    use_services(application, database)
    return frozen(application)


def client_for(app: FastAPI, address: str = "192.0.2.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def limited(backend: Backend, database: Database) -> FastAPI:
    return limited_app(backend, database)


@pytest.fixture
async def http(limited: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(limited) as client:
        yield client


@pytest.fixture
def anonymous_app(var_dir: Path) -> FastAPI:
    """For anonymous callers nothing is looked up: one run, on an application without tables."""
    return frozen(bare_app(var_dir, rate_limit_burst=3, rate_limit_per_second=0.01))


@pytest.fixture
async def anonymous(anonymous_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(anonymous_app) as client:
        yield client


class TestBucket:
    async def test_allows_the_burst_then_refuses_with_retry_after(
        self, limited: FastAPI, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await make_user(db_session, role="admin")
        headers = bearer(limited, user)

        answers = [await http.get(PROTECTED, headers=headers) for _ in range(4)]

        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
        assert {r.headers["x-ratelimit-limit"] for r in answers} == {"3"}
        refused = answers[-1]
        assert refused.json()["code"] == "RATE_LIMITED"
        # One token at 0.01/s takes 100 s to come back.
        assert refused.headers["retry-after"] == "100"
        assert refused.headers["x-content-type-options"] == "nosniff"

    async def test_every_answer_carries_the_headers_errors_included(
        self, anonymous: httpx.AsyncClient
    ) -> None:
        unauthenticated = await anonymous.get(PROTECTED)
        missing = await anonymous.get("/api/v1/no-such-thing")

        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["x-ratelimit-remaining"] == "2"
        assert missing.status_code == 404
        assert missing.headers["x-ratelimit-remaining"] == "1"

    async def test_probes_are_never_charged_nor_refused(self, anonymous: httpx.AsyncClient) -> None:
        for _ in range(3):
            await anonymous.get("/.well-known/jwks.json")

        probes = [await anonymous.get("/health") for _ in range(5)]

        assert {r.status_code for r in probes} == {200}
        assert {r.headers["x-ratelimit-remaining"] for r in probes} == {"0"}
        assert (await anonymous.get("/.well-known/jwks.json")).status_code == 429

    async def test_zero_burst_turns_limiting_off(self, var_dir: Path) -> None:
        async with client_for(bare_app(var_dir, rate_limit_burst=0)) as client:
            answers = [await client.get("/.well-known/jwks.json") for _ in range(10)]

        assert {r.status_code for r in answers} == {200}
        assert all("x-ratelimit-limit" not in r.headers for r in answers)


class TestWhoIsCharged:
    async def test_each_user_has_a_bucket(
        self, limited: FastAPI, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        first = await make_user(db_session, role="admin")
        second = await make_user(db_session, role="admin")
        for _ in range(3):
            await http.get(PROTECTED, headers=bearer(limited, first))

        assert (await http.get(PROTECTED, headers=bearer(limited, first))).status_code == 429
        assert (await http.get(PROTECTED, headers=bearer(limited, second))).status_code == 200

    async def test_a_users_bucket_follows_them_across_addresses(
        self, limited: FastAPI, db_session: AsyncSession
    ) -> None:
        user = await make_user(db_session, role="admin")
        codes = []
        for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
            async with client_for(limited, address) as client:
                codes.append(
                    (await client.get(PROTECTED, headers=bearer(limited, user))).status_code
                )

        assert codes == [200, 200, 200, 429]

    async def test_each_api_key_has_a_bucket(
        self, limited: FastAPI, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        owner = await make_user(db_session, role="admin")
        _k1, first = await make_api_key(db_session, owner, ["users:admin"])
        _k2, second = await make_api_key(db_session, owner, ["users:admin"])

        # The first use of a key is billed to the address (the key is not known valid yet).
        answers = [
            (await http.get(PROTECTED, headers={"X-API-Key": first})).status_code for _ in range(5)
        ]

        assert answers == [200, 200, 200, 200, 429]
        assert (await http.get(PROTECTED, headers={"X-API-Key": second})).status_code == 200

    async def test_anonymous_callers_are_billed_per_address(self, anonymous_app: FastAPI) -> None:
        a, b = client_for(anonymous_app, "10.1.1.1"), client_for(anonymous_app, "10.1.1.2")
        async with a, b:
            from_a = [(await a.get("/.well-known/jwks.json")).status_code for _ in range(4)]
            from_b = (await b.get("/.well-known/jwks.json")).status_code

        assert from_a == [200, 200, 200, 429]
        assert from_b == 200

    async def test_made_up_credentials_cannot_dodge_the_address_bucket(
        self, limited: FastAPI, http: httpx.AsyncClient
    ) -> None:
        answers = [
            await http.get(PROTECTED, headers={"X-API-Key": f"shpk_{i:012x}_forged"})
            for i in range(2)
        ] + [await http.get(PROTECTED, headers={"Authorization": "Bearer forged.token.here"})]

        assert [r.status_code for r in answers] == [401, 401, 401]
        assert (await http.get("/.well-known/jwks.json")).status_code == 429

    async def test_made_up_credentials_do_not_drain_a_real_users_bucket(
        self, limited: FastAPI, http: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await make_user(db_session, role="admin")
        forged = bearer(limited, user)["Authorization"][:-6] + "AAAAAA"
        for _ in range(3):
            await http.get(PROTECTED, headers={"Authorization": forged})

        async with client_for(limited, "10.9.9.9") as elsewhere:
            response = await elsewhere.get(PROTECTED, headers=bearer(limited, user))

        assert response.status_code == 200
        assert response.headers["x-ratelimit-remaining"] == "2"


class TestMemoryStore:
    async def test_refills_at_the_configured_rate(self) -> None:
        now = [0.0]
        limiter = RateLimiter(MemoryBucketStore(clock=lambda: now[0]), burst=2, per_second=2)

        drained = [await limiter.hit("k") for _ in range(3)]
        now[0] = 0.5
        refilled = await limiter.hit("k")
        after_refill = await limiter.hit("k")

        assert [d.allowed for d in drained if d] == [True, True, False]
        assert drained[-1] == Decision(False, 2, 0, retry_after=1)
        assert refilled == Decision(True, 2, 0)
        assert after_refill == Decision(False, 2, 0, retry_after=1)

    async def test_never_fills_past_the_burst(self) -> None:
        now = [0.0]
        limiter = RateLimiter(MemoryBucketStore(clock=lambda: now[0]), burst=3, per_second=1)
        await limiter.hit("k")
        now[0] = 1000.0

        assert await limiter.hit("k") == Decision(True, 3, 2)

    async def test_a_negative_cost_gives_a_token_back(self) -> None:
        limiter = RateLimiter(MemoryBucketStore(clock=lambda: 0.0), burst=2, per_second=1)
        await limiter.hit("k")
        await limiter.hit("k")

        await limiter.hit("k", cost=-1)

        assert await limiter.hit("k") == Decision(True, 2, 0)

    async def test_forgets_full_buckets_when_crowded(self) -> None:
        now = [0.0]
        store = MemoryBucketStore(clock=lambda: now[0])
        store.MAX_BUCKETS = 3
        limiter = RateLimiter(store, burst=1, per_second=1)
        for key in ("a", "b", "c"):
            await limiter.hit(key)
        now[0] = 10.0

        await limiter.hit("d")

        assert set(store._buckets) == {"d"}


class TestFailsOpen:
    async def test_a_broken_store_lets_requests_through(
        self, anonymous_app: FastAPI, anonymous: httpx.AsyncClient
    ) -> None:
        class Broken:
            async def take(self, key: str, **_: object) -> Decision:
                raise ConnectionError("redis is down")

            async def reset(self, key: str) -> None:
                raise ConnectionError("redis is down")

        services_of(anonymous_app).rate_limiter.store = Broken()

        answers = [await anonymous.get("/.well-known/jwks.json") for _ in range(5)]

        assert {r.status_code for r in answers} == {200}
        assert all("x-ratelimit-remaining" not in r.headers for r in answers)
