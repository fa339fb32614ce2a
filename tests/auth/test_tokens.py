"""Forged, expired and tampered tokens are refused; rotated keys keep verifying."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.app import create_app
from shopdb.auth.access import AccessCache, UserAccess
from shopdb.db import Database
from shopdb.keys import key_id
from shopdb.kit.types import utcnow
from shopdb.models import User
from shopdb.services import services_of
from tests.auth.helpers import bare_app, bearer, http_client, make_user
from tests.fixtures.database import Backend
from tests.fixtures.services import use_services

PROTECTED = "/api/v1/permissions"  # needs users:admin


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _claims(app: FastAPI, user: User | int = 1, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user if isinstance(user, int) else user.id),
        "iss": services_of(app).settings.jwt_issuer,
        "aud": services_of(app).settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
        "scope": "users:admin",
        "permissions": ["users:admin"],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(app: FastAPI, claims: dict[str, Any]) -> str:
    signer = services_of(app).tokens.keys[0]
    return jwt.encode(claims, signer.private_key, algorithm="RS256", headers={"kid": signer.kid})


async def _call(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get(PROTECTED, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def admin(db_session: AsyncSession) -> User:
    return await make_user(db_session, role="admin")


class TestAcceptsGenuineTokens:
    async def test_a_genuine_token_is_accepted(
        self, app: FastAPI, client: httpx.AsyncClient, admin: User
    ) -> None:
        response = await _call(client, _sign(app, _claims(app, admin)))

        assert response.status_code == 200

    async def test_payload_tampered_after_signing(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        staff = await make_user(db_session, permissions=["orders:read", "users:admin"])
        genuine = _sign(app, _claims(app, staff, permissions=["orders:read"]))
        head, _payload, signature = genuine.split(".")
        widened = _segment(_claims(app, staff, permissions=["orders:read", "users:admin"]))

        assert (await _call(client, genuine)).status_code == 403
        assert (await _call(client, f"{head}.{widened}.{signature}")).status_code == 401


class TestRefusesForgedTokens:
    """Decided before any query: these run once, on an application without a database."""

    async def test_missing_credentials(self, lone_client: httpx.AsyncClient) -> None:
        response = await lone_client.get(PROTECTED)

        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["code"] == "UNAUTHORIZED"

    async def test_malformed_authorization_header(self, lone_client: httpx.AsyncClient) -> None:
        headers = [
            "Bearer",
            "Bearer ",
            "Basic dXNlcjpwYXNz",
            "Bearer not.a.jwt",
            "Bearer a.b.c",
            "Token x",
        ]

        answers = {
            header: (
                await lone_client.get(PROTECTED, headers={"Authorization": header})
            ).status_code
            for header in headers
        }

        assert answers == dict.fromkeys(headers, 401)

    async def test_signature_by_another_key_under_our_kid(
        self,
        lone_app: FastAPI,
        lone_client: httpx.AsyncClient,
        stranger_key: rsa.RSAPrivateKey,
    ) -> None:
        kid = services_of(lone_app).tokens.keys[0].kid
        forged = jwt.encode(
            _claims(lone_app), stranger_key, algorithm="RS256", headers={"kid": kid}
        )

        assert (await _call(lone_client, forged)).status_code == 401

    async def test_unknown_kid(
        self,
        lone_app: FastAPI,
        lone_client: httpx.AsyncClient,
        stranger_key: rsa.RSAPrivateKey,
    ) -> None:
        forged = jwt.encode(
            _claims(lone_app),
            stranger_key,
            algorithm="RS256",
            headers={"kid": key_id(stranger_key.public_key())},
        )

        assert (await _call(lone_client, forged)).status_code == 401

    async def test_missing_kid(self, lone_app: FastAPI, lone_client: httpx.AsyncClient) -> None:
        signer = services_of(lone_app).tokens.keys[0]
        token = jwt.encode(_claims(lone_app), signer.private_key, algorithm="RS256")

        assert (await _call(lone_client, token)).status_code == 401

    async def test_expired(self, lone_app: FastAPI, lone_client: httpx.AsyncClient) -> None:
        past = int(time.time()) - 3600
        token = _sign(lone_app, _claims(lone_app, iat=past - 600, exp=past))

        response = await _call(lone_client, token)

        assert response.status_code == 401
        assert response.json()["message"] == "Token expired"

    async def test_wrong_or_missing_claims(
        self, lone_app: FastAPI, lone_client: httpx.AsyncClient
    ) -> None:
        cases: dict[str, dict[str, Any]] = {
            "wrong iss": {"iss": "someone-else"},
            "wrong aud": {"aud": "another-api"},
            "no iss": {"iss": None},
            "no aud": {"aud": None},
            "no exp": {"exp": None},
            "no sub": {"sub": None},
            "sub not an id": {"sub": "not-a-number"},
            "permissions not a list": {"permissions": "users:admin"},
            "gen not an integer": {"gen": "0"},
            "gen negative": {"gen": -1},
        }

        answers = {
            case: (
                await _call(lone_client, _sign(lone_app, _claims(lone_app, **overrides)))
            ).status_code
            for case, overrides in cases.items()
        }

        assert answers == dict.fromkeys(cases, 401)

    @pytest.mark.parametrize("sub", [str(2**63), str(10**30), "0", "-1", str(-(2**63))])
    async def test_a_sub_outside_the_ids_a_user_can_have(
        self, lone_app: FastAPI, lone_client: httpx.AsyncClient, sub: str
    ) -> None:
        # lone_app has no tables: a query would be a 500, so a 401 also proves none ran.
        response = await _call(lone_client, _sign(lone_app, _claims(lone_app, sub=sub)))

        assert response.status_code == 401
        assert response.json()["message"] == "Invalid token"

    async def test_alg_none(self, lone_app: FastAPI, lone_client: httpx.AsyncClient) -> None:
        for alg in ("none", "None", "NONE"):
            header = {"alg": alg, "typ": "JWT", "kid": services_of(lone_app).tokens.keys[0].kid}
            unsigned = f"{_segment(header)}.{_segment(_claims(lone_app))}."

            assert (await _call(lone_client, unsigned)).status_code == 401

    async def test_hs256_signed_with_the_public_key(
        self, lone_app: FastAPI, lone_client: httpx.AsyncClient
    ) -> None:
        signer = services_of(lone_app).tokens.keys[0]
        public_pem = signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        header = {"alg": "HS256", "typ": "JWT", "kid": signer.kid}
        signing_input = f"{_segment(header)}.{_segment(_claims(lone_app))}"
        signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

        response = await _call(lone_client, f"{signing_input}.{_b64(signature)}")

        assert response.status_code == 401


def _write_key(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _app_with_keys(backend: Backend, database: Database, files: list[Path]) -> FastAPI:
    application = create_app(backend.settings.model_copy(update={"jwt_private_key_files": files}))
    use_services(application, database)
    return application


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(old, new): two signing keys, as before and after a rotation."""
    folder = tmp_path_factory.mktemp("keys")
    return _write_key(folder / "old.pem"), _write_key(folder / "new.pem")


class TestKeyRotation:
    async def test_tokens_of_the_previous_key_verify_after_a_new_key_is_put_first(
        self,
        backend: Backend,
        database: Database,
        db_session: AsyncSession,
        key_files: tuple[Path, Path],
    ) -> None:
        old, new = key_files
        before = _app_with_keys(backend, database, [old])
        after = _app_with_keys(backend, database, [new, old])
        admin = await make_user(db_session, role="admin")
        old_token = services_of(before).tokens.issue(admin.id, ["users:admin"]).token

        async with _client(after) as client:
            accepted = await _call(client, old_token)
            jwks = (await client.get("/.well-known/jwks.json")).json()
            fresh = services_of(after).tokens.issue(admin.id, ["users:admin"]).token

        assert accepted.status_code == 200
        assert [k["kid"] for k in jwks["keys"]] == [
            services_of(after).tokens.keys[0].kid,
            services_of(before).tokens.keys[0].kid,
        ]
        assert jwt.get_unverified_header(fresh)["kid"] == services_of(after).tokens.keys[0].kid

    async def test_tokens_of_a_retired_key_are_refused(
        self, var_dir: Path, key_files: tuple[Path, Path]
    ) -> None:
        old, new = key_files
        before = bare_app(var_dir, jwt_private_key_files=[old])
        retired = bare_app(var_dir, jwt_private_key_files=[new])

        async with http_client(retired) as client:
            response = await _call(
                client, services_of(before).tokens.issue(1, ["users:admin"]).token
            )

        assert response.status_code == 401
        assert response.json()["message"] == "Unknown signing key"

    def test_comma_separated_setting_configures_several_keys(
        self, tmp_path: Path, key_files: tuple[Path, Path]
    ) -> None:
        from shopdb.config import Settings

        old, new = key_files

        settings = Settings(jwt_private_key_files=f"{new}, {old}", var_dir=tmp_path)

        assert settings.jwt_private_key_files == [new, old]


class TestStandingIsCheckedOnEveryRequest:
    async def test_a_deactivated_user_is_refused_at_once(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await make_user(db_session, role="admin")
        staff = await make_user(db_session, permissions=["users:admin"])
        headers = bearer(app, staff)
        assert (await client.get(PROTECTED, headers=headers)).status_code == 200

        deactivated = await client.put(
            f"/api/v1/users/{staff.id}", json={"active": False}, headers=bearer(app, admin)
        )

        assert deactivated.status_code == 200
        assert (await client.get(PROTECTED, headers=headers)).status_code == 401

    async def test_a_revoked_grant_is_refused_at_once(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await make_user(db_session, role="admin")
        staff = await make_user(db_session, permissions=["users:admin"])
        headers = bearer(app, staff)
        assert (await client.get(PROTECTED, headers=headers)).status_code == 200

        revoked = await client.delete(
            f"/api/v1/users/{staff.id}/permissions/users:admin", headers=bearer(app, admin)
        )

        assert revoked.status_code == 204
        assert (await client.get(PROTECTED, headers=headers)).status_code == 403

    async def test_a_deleted_user_is_refused(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await make_user(db_session, role="admin")
        victim = await make_user(db_session, role="admin")
        headers = bearer(app, victim)

        assert (
            await client.delete(f"/api/v1/users/{victim.id}", headers=bearer(app, admin))
        ).status_code == 204
        assert (await client.get(PROTECTED, headers=headers)).status_code == 401

    async def test_a_password_change_ends_the_users_tokens(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await make_user(db_session, role="admin")
        staff = await make_user(db_session, permissions=["users:admin"])
        headers = bearer(app, staff)
        assert (await client.get(PROTECTED, headers=headers)).status_code == 200

        changed = await client.put(
            f"/api/v1/users/{staff.id}",
            json={"password": "a brand new passphrase"},
            headers=bearer(app, admin),
        )
        refused = await client.get(PROTECTED, headers=headers)
        login = await client.post(
            "/api/v1/auth/token",
            json={"email": staff.email, "password": "a brand new passphrase"},
        )
        fresh = {"Authorization": f"Bearer {login.json()['accessToken']}"}

        assert changed.status_code == 200
        assert (refused.status_code, refused.json()["message"]) == (
            401,
            "Token revoked; log in again",
        )
        assert (await client.get(PROTECTED, headers=fresh)).status_code == 200

    async def test_reactivating_a_user_does_not_revive_their_old_tokens(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        admin = await make_user(db_session, role="admin")
        staff = await make_user(db_session, permissions=["users:admin"])
        headers = bearer(app, staff)
        as_admin = bearer(app, admin)

        await client.put(f"/api/v1/users/{staff.id}", json={"active": False}, headers=as_admin)
        await client.put(f"/api/v1/users/{staff.id}", json={"active": True}, headers=as_admin)

        assert (await client.get(PROTECTED, headers=headers)).status_code == 401
        await db_session.refresh(staff)
        assert (staff.active, staff.token_generation) == (True, 1)
        assert (await client.get(PROTECTED, headers=bearer(app, staff))).status_code == 200

    async def test_a_fresh_token_is_honoured_by_a_worker_whose_cache_is_older(
        self, backend: Backend, database: Database, db_session: AsyncSession
    ) -> None:
        """Without Redis another worker may still hold the old generation for a few seconds:
        a newer token makes it read the standing again instead of refusing the new login."""
        now = [0.0]
        application = create_app(backend.settings)
        use_services(application, database)
        services_of(application).access_cache = AccessCache(60, clock=lambda: now[0])
        staff = await make_user(db_session, permissions=["users:admin"])
        async with _client(application) as client:
            assert (await client.get(PROTECTED, headers=bearer(application, staff))).status_code
            staff.token_generation = 1  # a password change made through another worker
            await db_session.flush()

            fresh = await client.get(PROTECTED, headers=bearer(application, staff))
            old = await client.get(
                PROTECTED,
                headers={
                    "Authorization": "Bearer "
                    + services_of(application).tokens.issue(staff.id, ["users:admin"]).token
                },
            )

        assert (fresh.status_code, old.status_code) == (200, 401)

    async def test_a_token_never_grants_more_than_the_user_holds(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        staff = await make_user(db_session, permissions=["orders:read"])

        response = await client.get(PROTECTED, headers=bearer(app, staff, ["users:admin"]))

        assert response.status_code == 403

    async def test_a_grant_past_its_expiry_no_longer_counts(
        self, app: FastAPI, client: httpx.AsyncClient, db_session: AsyncSession
    ) -> None:
        from datetime import timedelta

        staff = await make_user(
            db_session, permissions=["users:admin"], expires_at=utcnow() - timedelta(seconds=1)
        )

        response = await client.get(PROTECTED, headers=bearer(app, staff))

        assert response.status_code == 403


class TestAccessCache:
    def test_keeps_a_standing_for_its_ttl_then_forgets_it(self) -> None:
        now = [100.0]
        cache = AccessCache(5, clock=lambda: now[0])
        cache.put(1, UserAccess(True, frozenset({"orders:read"})), until=None)

        now[0] = 104.9
        assert cache.get(1) == (UserAccess(True, frozenset({"orders:read"})),)
        now[0] = 105.0
        assert cache.get(1) is None

    def test_never_keeps_a_standing_past_a_grant_expiry(self) -> None:
        from datetime import timedelta

        now = [100.0]
        cache = AccessCache(60, clock=lambda: now[0])
        cache.put(1, UserAccess(True, frozenset()), until=utcnow() + timedelta(seconds=2))

        now[0] = 103.0
        assert cache.get(1) is None

    def test_remembers_unknown_users_and_forgets_on_demand(self) -> None:
        cache = AccessCache(5)
        cache.put(7, None, until=None)

        assert cache.get(7) == (None,)
        cache.forget(7)
        assert cache.get(7) is None

    def test_zero_ttl_caches_nothing(self) -> None:
        cache = AccessCache(0)
        cache.put(1, UserAccess(True, frozenset()), until=None)

        assert cache.get(1) is None

    async def test_a_change_made_behind_the_api_shows_within_the_ttl(
        self, backend: Backend, database: Database, db_session: AsyncSession
    ) -> None:
        now = [0.0]
        application = create_app(backend.settings)
        use_services(application, database)
        services_of(application).access_cache = AccessCache(5, clock=lambda: now[0])
        staff = await make_user(db_session, permissions=["users:admin"])
        headers = bearer(application, staff)

        async with _client(application) as client:
            assert (await client.get(PROTECTED, headers=headers)).status_code == 200
            staff.active = False
            await db_session.flush()
            still_cached = await client.get(PROTECTED, headers=headers)
            now[0] = 5.0
            refused = await client.get(PROTECTED, headers=headers)

        assert still_cached.status_code == 200
        assert refused.status_code == 401
