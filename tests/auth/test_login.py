from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.app import create_app
from shopdb.auth.limits import LoginThrottle
from shopdb.auth.permissions import PERMISSIONS
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.errors import RateLimited
from shopdb.kit.types import utcnow
from shopdb.models import User
from shopdb.ratelimit import MemoryBucketStore
from shopdb.services import services_of
from tests.auth.helpers import PASSWORD, make_user
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services

TOKEN_URL = "/api/v1/auth/token"


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(TOKEN_URL, json={"email": email, "password": password})


class TestIssuesToken:
    async def test_token_has_the_seed_claims_and_verifies_with_the_published_key(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await make_user(db_session, permissions=["orders:read", "products:read"])

        response = await login(client, user.email)

        assert response.status_code == 200
        body = response.json()
        assert body["tokenType"] == "Bearer"
        assert body["expiresIn"] == services_of(app).settings.jwt_ttl_seconds
        header = jwt.get_unverified_header(body["accessToken"])
        assert header["alg"] == "RS256"
        jwks = (await client.get("/.well-known/jwks.json")).json()
        published = {k["kid"]: k for k in jwks["keys"]}
        key = jwt.PyJWK(published[header["kid"]]).key
        claims = jwt.decode(
            body["accessToken"], key, algorithms=["RS256"], audience="shopdb-clients"
        )
        assert claims["sub"] == str(user.id)
        assert claims["iss"] == "shopdb"
        assert claims["aud"] == "shopdb-clients"
        assert claims["exp"] - claims["iat"] == services_of(app).settings.jwt_ttl_seconds
        assert claims["permissions"] == ["orders:read", "products:read"]
        assert claims["scope"] == "orders:read products:read"

    async def test_admin_role_carries_every_permission(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await make_user(db_session, role="admin")

        response = await login(client, admin.email)

        claims = jwt.decode(response.json()["accessToken"], options={"verify_signature": False})
        assert claims["permissions"] == sorted(PERMISSIONS)

    async def test_expired_grants_are_left_out(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await make_user(
            db_session, permissions=["orders:read"], expires_at=utcnow() - timedelta(seconds=1)
        )

        response = await login(client, user.email)

        claims = jwt.decode(response.json()["accessToken"], options={"verify_signature": False})
        assert claims["permissions"] == []

    async def test_records_last_login_and_ignores_email_case(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await make_user(db_session, email="mixed.case@example.com")
        assert user.last_login_at is None
        before = utcnow()

        response = await login(client, "  Mixed.Case@Example.COM ")

        assert response.status_code == 200
        await db_session.refresh(user)
        assert user.last_login_at is not None
        assert user.last_login_at >= before - timedelta(seconds=1)


class TestSameAnswerForEveryFailure:
    async def test_wrong_password_unknown_email_and_inactive_user_look_identical(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        active = await make_user(db_session)
        inactive = await make_user(db_session, active=False)

        answers = [
            await login(client, active.email, "not the password at all"),
            await login(client, "nobody-here@example.com"),
            await login(client, inactive.email),
        ]

        assert {r.status_code for r in answers} == {401}
        assert {r.text for r in answers} == {
            '{"code":"UNAUTHORIZED","message":"Invalid email or password","details":[]}'
        }
        assert all(r.headers["www-authenticate"] == "Bearer" for r in answers)
        await db_session.refresh(active)
        await db_session.refresh(inactive)
        assert active.last_login_at is None
        assert inactive.last_login_at is None

    async def test_unknown_user_still_pays_for_a_password_check(
        self, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from shopdb.auth import passwords

        checked: list[str] = []
        real = passwords._hasher

        class Spy:
            def verify(self, password_hash: str, password: str) -> bool:
                checked.append(password_hash)
                return real.verify(password_hash, password)

        monkeypatch.setattr(passwords, "_hasher", Spy())

        response = await login(client, "ghost@example.com")

        assert response.status_code == 401
        assert checked == [passwords._DUMMY_HASH]


@pytest.fixture
async def throttled_app(backend: Backend, database: Database) -> FastAPI:
    settings = backend.settings.model_copy(
        update={"login_failures_per_email": 3, "login_failures_per_address": 5}
    )
    application = create_app(settings)
    use_services(application, database)
    return application


async def _client(app: FastAPI, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def throttled(throttled_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with await _client(throttled_app) as http:
        yield http


class TestThrottlesRepeatedFailures:
    async def test_refuses_an_email_after_its_failures_even_with_the_right_password(
        self, throttled: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        user = await make_user(db_session)
        failures = [(await login(throttled, user.email, "wrong guess")).status_code for _ in "abc"]

        refused = await login(throttled, user.email)

        assert failures == [401, 401, 401]
        assert refused.status_code == 429
        assert refused.json()["code"] == "RATE_LIMITED"
        assert int(refused.headers["retry-after"]) >= 1
        await db_session.refresh(user)
        assert user.last_login_at is None

    async def test_refuses_an_address_guessing_across_many_emails(
        self, throttled_app: FastAPI, throttled: httpx.AsyncClient
    ) -> None:
        answers = [
            (await login(throttled, f"guess-{i}@example.com", "wrong guess")).status_code
            for i in range(6)
        ]

        assert answers == [401, 401, 401, 401, 401, 429]
        async with await _client(throttled_app, "198.51.100.1") as elsewhere:
            assert (await login(elsewhere, "guess-0@example.com", "wrong")).status_code == 401

    async def test_a_stranger_cannot_lock_the_owner_out(
        self, throttled_app: FastAPI, throttled: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        owner = await make_user(db_session)
        stranger = [(await login(throttled, owner.email, "guess")).status_code for _ in "abcd"]

        async with await _client(throttled_app, "198.51.100.1") as own_address:
            response = await login(own_address, owner.email)

        assert stranger == [401, 401, 401, 429]
        assert response.status_code == 200

    async def test_redis_down_still_limits_guesses(
        self, backend: Backend, database: Database, db_session: AsyncSession
    ) -> None:
        from redis.asyncio import Redis

        from shopdb.auth.limits import build_limits

        settings = backend.settings.model_copy(update={"login_failures_per_email": 3})
        application = create_app(settings)
        services = use_services(application, database)
        unreachable: Any = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
        services.rate_limiter, services.login_throttle = build_limits(settings, unreachable)
        user = await make_user(db_session)

        async with await _client(application) as http:
            codes = [(await login(http, user.email, "wrong guess")).status_code for _ in "abcd"]
        await unreachable.aclose()

        assert codes == [401, 401, 401, 429]
        await db_session.refresh(user)
        assert user.last_login_at is None


class TestLoginThrottle:
    """The throttle's rules on its own (no passwords hashed, no database): 3 per email, 5 per
    address, one failure forgiven per 60 s."""

    @pytest.fixture
    def clock(self) -> list[float]:
        return [0.0]

    @pytest.fixture
    def throttle(self, backend_free_settings: Settings, clock: list[float]) -> LoginThrottle:
        return LoginThrottle(MemoryBucketStore(clock=lambda: clock[0]), backend_free_settings)

    @staticmethod
    async def attempts(throttle: LoginThrottle, email: str, address: str, n: int) -> list[int]:
        codes = []
        for _ in range(n):
            try:
                await throttle.attempt(email, address)
            except RateLimited as refused:
                codes.append(int(refused.headers["Retry-After"]))
            else:
                codes.append(0)
        return codes

    async def test_counts_emails_case_insensitively(self, throttle: LoginThrottle) -> None:
        for variant in ("CASE@example.com", " Case@Example.com", "case@EXAMPLE.com"):
            await throttle.attempt(variant, "10.0.0.1")

        assert await self.attempts(throttle, "case@example.com", "10.0.0.1", 1) == [60]

    async def test_a_strangers_failures_do_not_lock_the_owner_out(
        self, throttle: LoginThrottle
    ) -> None:
        stranger = await self.attempts(throttle, "owner@example.com", "203.0.113.66", 4)

        owner = await self.attempts(throttle, "owner@example.com", "10.0.0.1", 3)

        assert stranger == [0, 0, 0, 60]
        assert owner == [0, 0, 0]

    async def test_the_emails_total_bounds_guessing_spread_over_addresses(
        self, throttle: LoginThrottle
    ) -> None:
        # 6 failures in all for one email (backend_free_settings), 3 from each address.
        first = await self.attempts(throttle, "target@example.com", "203.0.113.1", 3)
        second = await self.attempts(throttle, "target@example.com", "203.0.113.2", 3)

        third = await self.attempts(throttle, "target@example.com", "203.0.113.3", 1)

        assert (first, second, third) == ([0, 0, 0], [0, 0, 0], [60])
        # The refusal cost the third address nothing: another email still goes through.
        assert await self.attempts(throttle, "other@example.com", "203.0.113.3", 3) == [0, 0, 0]

    async def test_a_success_gives_back_the_emails_total_without_wiping_it(
        self, throttle: LoginThrottle
    ) -> None:
        await self.attempts(throttle, "target@example.com", "203.0.113.1", 3)
        await self.attempts(throttle, "target@example.com", "203.0.113.2", 2)
        await self.attempts(throttle, "target@example.com", "10.0.0.1", 1)
        await throttle.succeeded("target@example.com", "10.0.0.1")

        # 5 strangers' failures still count: one more attempt fits, the next does not.
        assert await self.attempts(throttle, "target@example.com", "10.0.0.1", 2) == [0, 60]

    async def test_a_failing_shared_store_falls_back_to_counting_in_this_worker(
        self, backend_free_settings: Settings
    ) -> None:
        class Unreachable:
            calls = 0

            async def take(self, key: str, *, burst: int, per_second: float, cost: float) -> Any:
                Unreachable.calls += 1
                raise ConnectionError("Redis is down")

            async def reset(self, key: str) -> None:
                raise ConnectionError("Redis is down")

        throttle = LoginThrottle(Unreachable(), backend_free_settings)

        codes = await self.attempts(throttle, "a@example.com", "10.0.0.1", 4)

        assert codes == [0, 0, 0, 60]
        assert Unreachable.calls > 0  # the shared store was tried first, every time

    async def test_a_success_clears_the_email_count(self, throttle: LoginThrottle) -> None:
        await self.attempts(throttle, "a@example.com", "10.0.0.1", 3)
        await throttle.succeeded("a@example.com", "10.0.0.1")

        assert await self.attempts(throttle, "a@example.com", "10.0.0.1", 4) == [0, 0, 0, 60]

    async def test_successes_do_not_use_up_the_address(self, throttle: LoginThrottle) -> None:
        for i in range(10):
            await throttle.attempt(f"user-{i % 2}@example.com", "10.0.0.1")
            await throttle.succeeded(f"user-{i % 2}@example.com", "10.0.0.1")

        assert await self.attempts(throttle, "other@example.com", "10.0.0.1", 1) == [0]

    async def test_an_address_refusal_does_not_count_against_the_email(
        self, throttle: LoginThrottle
    ) -> None:
        for i in range(5):
            await throttle.attempt(f"guess-{i}@example.com", "10.0.0.1")

        refused = await self.attempts(throttle, "victim@example.com", "10.0.0.1", 5)
        elsewhere = await self.attempts(throttle, "victim@example.com", "10.0.0.9", 3)

        assert refused == [60] * 5
        assert elsewhere == [0, 0, 0]

    async def test_one_failure_is_forgiven_per_refill_period(
        self, throttle: LoginThrottle, clock: list[float]
    ) -> None:
        await self.attempts(throttle, "a@example.com", "10.0.0.1", 3)
        clock[0] = 30.0
        assert await self.attempts(throttle, "a@example.com", "10.0.0.1", 1) == [30]

        clock[0] = 60.0

        assert await self.attempts(throttle, "a@example.com", "10.0.0.1", 2) == [0, 60]

    async def test_zero_turns_a_check_off(self, backend_free_settings: Settings) -> None:
        settings = backend_free_settings.model_copy(
            update={
                "login_failures_per_email": 0,
                "login_failures_per_address": 0,
                "login_failures_per_email_total": 0,
            }
        )
        throttle = LoginThrottle(MemoryBucketStore(), settings)

        assert await self.attempts(throttle, "a@example.com", "10.0.0.1", 50) == [0] * 50


@pytest.fixture
def backend_free_settings(var_dir: Path) -> Settings:
    return Settings(
        var_dir=var_dir,
        login_failures_per_email=3,
        login_failures_per_address=5,
        login_failures_per_email_total=6,
    )


class TestJwks:
    async def test_publishes_public_keys_only(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/.well-known/jwks.json")

        assert response.status_code == 200
        (key,) = response.json()["keys"]
        assert set(key) == {"kty", "use", "alg", "kid", "n", "e"}
        assert (key["kty"], key["use"], key["alg"]) == ("RSA", "sig", "RS256")


async def test_login_is_rejected_for_a_deleted_password(
    client: httpx.AsyncClient, db_session: AsyncSession
) -> None:
    user = await make_user(db_session)
    user.password_hash = None
    await db_session.flush()

    response = await login(client, user.email)

    assert response.status_code == 401
    stored = await db_session.scalar(select(User.last_login_at).where(User.id == user.id))
    assert stored is None


class TestPasswordNormalisation:
    """One rule for every path: surrounding whitespace is not part of a password."""

    async def test_a_password_set_with_surrounding_spaces_logs_in_without_them(
        self, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        from shopdb.auth.passwords import hash_new_password

        user = await make_user(db_session)
        user.password_hash = hash_new_password(f"  {PASSWORD}\t")
        await db_session.flush()

        response = await login(client, user.email, PASSWORD)

        assert response.status_code == 200

    def test_hashing_and_verifying_normalise_alike(self) -> None:
        from shopdb.auth.passwords import hash_password, verify_password

        stored = hash_password(" padded passphrase ")

        assert verify_password(stored, "padded passphrase")
        assert verify_password(stored, "\npadded passphrase  ")
        assert not verify_password(stored, "padded  passphrase")

    def test_the_length_is_checked_after_normalising(self) -> None:
        from shopdb.auth.passwords import check_new_password
        from shopdb.errors import ValidationFailed

        with pytest.raises(ValidationFailed) as refused:
            check_new_password("   short pw    ")  # 16 characters, 8 once stripped

        assert refused.value.details == [
            {"field": "password", "message": "must be at least 12 characters long"}
        ]
        assert check_new_password("  twelve chars  ") == "twelve chars"
