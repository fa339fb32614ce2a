"""Users, tokens and API keys for tests of any domain.

    user = await make_user(db_session, permissions=["products:read"])
    response = await client.get("/api/v1/products", headers=bearer(app, user))

Tokens are only honoured for users that exist, are active and still hold the permissions
(shopdb.auth.access), so make the user first; role="admin" holds everything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from shopdb.auth.api_keys import generate_api_key
from shopdb.auth.passwords import hash_password
from shopdb.models import ApiKey, User, UserPermission
from shopdb.services import services_of
from shopdb.users.repository import PermissionRepository

PASSWORD = "correct horse battery staple"
# argon2 is slow on purpose: hash the shared test password once per run.
_PASSWORD_HASH = hash_password(PASSWORD)


async def make_user(
    session: AsyncSession,
    *,
    email: str | None = None,
    role: str = "staff",
    permissions: Iterable[str] = (),
    active: bool = True,
    expires_at: datetime | None = None,
) -> User:
    user = User(
        email=(email or f"staff-{uuid.uuid4().hex[:12]}@example.com").lower(),
        role=role,
        active=active,
        password_hash=_PASSWORD_HASH,
    )
    session.add(user)
    await session.flush()
    for permission in await PermissionRepository(session).get_by_names(set(permissions)):
        session.add(
            UserPermission(user_id=user.id, permission_id=permission.id, expires_at=expires_at)
        )
    await session.flush()
    return user


def token(app: FastAPI, user: User, permissions: Iterable[str] | None = None) -> str:
    """A token as login would issue it; `permissions` defaults to everything (then intersected
    with what the user holds on each request)."""
    from shopdb.auth.permissions import PERMISSIONS

    tokens = services_of(app).tokens
    granted = PERMISSIONS if permissions is None else permissions
    return tokens.issue(user.id, granted, generation=user.token_generation or 0).token


def bearer(app: FastAPI, user: User, permissions: Iterable[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(app, user, permissions)}"}


async def make_api_key(
    session: AsyncSession,
    owner: User,
    scopes: Iterable[str],
    *,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    new = generate_api_key()
    key = ApiKey(
        user_id=owner.id,
        name="test key",
        prefix=new.prefix,
        key_hash=new.key_hash,
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
        revoked_at=revoked_at,
    )
    session.add(key)
    await session.flush()
    return key, new.secret


def bare_app(var_dir: Path, **settings: Any) -> FastAPI:
    """An application over an empty, never-migrated database, for what is decided before any
    query (forged credentials, headers, CORS, size limits): a query would fail with a 500
    (no tables), so a test expecting a 401 or 413 there also proves that no query ran."""
    from shopdb.app import create_app
    from shopdb.config import Settings

    defaults: dict[str, Any] = {
        "database_url": f"sqlite:///{var_dir / f'never-migrated-{uuid.uuid4().hex[:8]}.sqlite3'}",
        "rate_limit_burst": 0,
        "redis_url": None,
    }
    config = Settings(var_dir=var_dir, **{**defaults, **settings})
    return create_app(config)  # its own Services: a Database from these settings


def http_client(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 4000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


_shared_apps: dict[str, FastAPI] = {}


def shared_app(backend_name: str, settings: Any, database: Any) -> FastAPI:
    """The application for one backend, built once per run and reset for each test.

    Building one costs about 0.2 s (its signing key is parsed and checked, and FastAPI wires
    every route on first use): per test that was a third of these suites' time. What a test
    can leave behind lives on app.state and is replaced here: the database (the test's
    rolled-back transaction), the cached standings of users (ids repeat after a rollback) and
    the limiter's buckets: new Services replace them all.
    """
    from shopdb.app import create_app
    from tests.fixtures.services import use_services

    application = _shared_apps.get(backend_name)
    if application is None:
        application = _shared_apps[backend_name] = create_app(settings)
    use_services(application, database)
    return application
