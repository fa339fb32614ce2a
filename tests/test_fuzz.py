"""Property-based fuzz of the whole API from its OpenAPI document (issue 10, item 8).

schemathesis generates requests for every operation (valid ones and, by default, values the
schema allows but a database may not: NUL characters, huge integers, deep nesting) against a
real `shopdb serve` on a seeded database, as an administrator, and checks that no answer is a
server error and that every documented answer matches its schema.

The number of examples per operation (8) is bounded so the run takes well under a minute per
backend in `make test`; `make fuzz` runs many more (SHOPDB_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from shopdb.auth.permissions import PERMISSIONS
from shopdb.config import Settings
from shopdb.db import Database
from shopdb.keys import load_signing_keys
from shopdb.models import User
from tests.fixtures.database import (
    BACKENDS,
    NO_POSTGRES,
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
    redis_url_for_tests,
)

EXAMPLES = int(os.environ.get("SHOPDB_FUZZ_EXAMPLES", "8"))
STARTUP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env=env, check=True, capture_output=True, timeout=180)  # noqa: S603


async def _admin_id(settings: Settings) -> int:
    database = Database.from_settings(settings)
    try:
        async with database.session() as session:
            admin = User(email=f"fuzz-{uuid.uuid4().hex[:8]}@example.com", role="admin")
            session.add(admin)
        return admin.id
    finally:
        await database.dispose()


class Server:
    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url = url
        self.headers = headers


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`shopdb serve` over a migrated database holding the demo store."""
    var_dir = tmp_path_factory.mktemp("fuzz")
    database_url = f"sqlite:///{var_dir / 'fuzz.sqlite3'}"
    if request.param == "postgresql":
        if postgres_admin_url() is None:
            pytest.skip(NO_POSTGRES)
        database_url = asyncio.run(create_postgres_database(f"fuzz_{uuid.uuid4().hex[:6]}"))
    env = {
        **os.environ,
        "SHOPDB_DATABASE_URL": database_url,
        "SHOPDB_VAR_DIR": str(var_dir),
        "SHOPDB_RATE_LIMIT_BURST": "0",
        "SHOPDB_LOGIN_FAILURES_PER_EMAIL": "0",
        "SHOPDB_LOGIN_FAILURES_PER_ADDRESS": "0",
        "SHOPDB_LOG_LEVEL": "WARNING",
        "SHOPDB_REDIS_URL": redis_url_for_tests() or "",
    }
    shopdb = str(Path(sys.executable).with_name("shopdb"))
    _run([shopdb, "migrate"], env)
    _run([shopdb, "seed-demo"], env)
    settings = Settings(database_url=database_url, var_dir=var_dir)
    admin_id = asyncio.run(_admin_id(settings))
    signer = load_signing_keys(settings)
    from shopdb.auth.tokens import TokenService

    tokens = TokenService(
        signer,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_seconds=settings.jwt_ttl_seconds,
    )
    token = tokens.issue(admin_id, PERMISSIONS).token
    port = _free_port()
    log = (var_dir / "server.log").open("wb")
    server = subprocess.Popen(  # noqa: S603
        [shopdb, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("shopdb serve did not start: " + (var_dir / "server.log").read_text())
            time.sleep(0.2)
        yield Server(url, {"Authorization": f"Bearer {token}"})
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        if request.param == "postgresql":
            asyncio.run(drop_postgres_database(settings.database_url))


def _fuzz_operation(operation: Any, mode: GenerationMode, server: Server) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=os.environ.get("SHOPDB_FUZZ_RANDOM") is None,
        database=None,
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=server.url,
            headers=server.headers,
            checks=[not_a_server_error, response_schema_conformance],
            timeout=30,
        )

    run()


def test_no_server_errors_and_documented_answers(fuzz_server: Server) -> None:
    """Every operation, valid and invalid inputs; all failures listed at once."""
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz_operation(operation, mode, fuzz_server)
            except Unsatisfiable:
                pass  # nothing invalid to send (an operation without parameters or body)
            except Exception as exc:  # every failure is reported below, not only the first
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:2000])
    assert operations > 50
    assert not failures, f"{len(failures)} operations failed:\n\n" + "\n\n".join(failures)
