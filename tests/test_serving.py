"""`shopdb serve --workers N`: a socket per worker, every worker serving, a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopdb.config import Settings
from shopdb.serving import check_port_free, listening_socket, supports_reuse_port, uvicorn_options

pytestmark = pytest.mark.skipif(not supports_reuse_port(), reason="needs SO_REUSEPORT")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def worker_pids(parent: int) -> list[int]:
    """Children of `parent` started by multiprocessing's spawn, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent_pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent_pid == parent and b"spawn_main" in command:
            found.append(int(entry.name))
    return found


def test_workers_share_a_port_and_a_busy_port_is_refused() -> None:
    port = free_port()
    first = listening_socket("127.0.0.1", port, reuse_port=True)
    second = listening_socket("127.0.0.1", port, reuse_port=True)
    try:
        with pytest.raises(SystemExit, match="cannot listen") as refused:
            check_port_free("127.0.0.1", port)
        # The message names the way out: the option, and the Makefile variable.
        assert f"`shopdb serve --port {port + 1}`" in str(refused.value)
        assert f"`make run PORT={port + 1}`" in str(refused.value)
    finally:
        first.close()
        second.close()


def test_serve_answers_from_every_worker_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SHOPDB_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
        "SHOPDB_VAR_DIR": str(tmp_path),
        "SHOPDB_REDIS_URL": "",
        # Stopped at once: these tests are not about the drain (test_graceful_shutdown.py).
        "SHOPDB_SHUTDOWN_DRAIN_SECONDS": "0",
        "SHOPDB_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "shopdb.cli", "serve", "--workers", "2", "--port", str(port)]
    server = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - our CLI
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline, "the server did not answer within 60 s"
            time.sleep(0.2)
        # The kernel spreads new connections over both workers' sockets: a client's fresh
        # connections all get answers, and two worker processes exist to give them.
        for _ in range(20):
            with httpx.Client(timeout=5) as client:  # a new connection each time
                assert client.get(f"http://127.0.0.1:{port}/health").status_code == 200
        assert len(worker_pids(server.pid)) == 2
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0


async def _client_address_seen(settings: Settings, peer: str, forwarded_for: str) -> str:
    """The client address an app sees behind uvicorn configured as `shopdb serve` does."""
    import uvicorn

    async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = str(scope["client"][0]).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    options = {**uvicorn_options(settings), "app": echo, "factory": False}
    config = uvicorn.Config(**options)
    config.load()
    transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/", headers={"X-Forwarded-For": forwarded_for})
    return response.text


class TestForwardedFor:
    """X-Forwarded-For is believed from SHOPDB_TRUSTED_PROXIES only (uvicorn's default trusts
    127.0.0.1, so a local client rotating the header escaped the per-address limits)."""

    async def test_ignored_without_trusted_proxies_even_from_localhost(
        self, tmp_path: Path
    ) -> None:
        settings = Settings(var_dir=tmp_path)

        seen = await _client_address_seen(settings, "127.0.0.1", "203.0.113.9")

        assert seen == "127.0.0.1"
        assert uvicorn_options(settings)["proxy_headers"] is False

    async def test_believed_from_a_trusted_proxy(self, tmp_path: Path) -> None:
        settings = Settings(var_dir=tmp_path, trusted_proxies=["10.0.0.0/8"])

        from_proxy = await _client_address_seen(settings, "10.1.2.3", "203.0.113.9")
        from_elsewhere = await _client_address_seen(settings, "127.0.0.1", "203.0.113.9")

        assert (from_proxy, from_elsewhere) == ("203.0.113.9", "127.0.0.1")


def test_serve_with_worker_runs_queued_jobs_and_stops_on_sigterm(tmp_path: Path) -> None:
    """`make run`'s mode: the API workers plus one job worker, one command."""
    import asyncio

    from shopdb.db import Database, create_engine
    from shopdb.jobs import enqueue
    from shopdb.jobs.kinds import FILES_DELETE
    from shopdb.schema import upgrade

    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    doomed = tmp_path / "storage" / "products" / "1" / "old.png"
    doomed.parent.mkdir(parents=True)
    doomed.write_bytes(b"png")

    async def prepare() -> None:
        settings = Settings(database_url=url, var_dir=tmp_path)
        engine = create_engine(settings.database_url, settings)
        await upgrade(engine)
        async with Database(engine).session() as session:
            await enqueue(session, FILES_DELETE, {"key": "products/1/old.png"})
        await engine.dispose()

    asyncio.run(prepare())
    port = free_port()
    env = {
        **os.environ,
        "SHOPDB_DATABASE_URL": url,
        "SHOPDB_VAR_DIR": str(tmp_path),
        "SHOPDB_REDIS_URL": "",
        # Stopped at once: these tests are not about the drain (test_graceful_shutdown.py).
        "SHOPDB_SHUTDOWN_DRAIN_SECONDS": "0",
        "SHOPDB_LOG_LEVEL": "WARNING",
        "SHOPDB_JOB_POLL_SECONDS": "0.2",
    }
    command = [
        *(sys.executable, "-m", "shopdb.cli", "serve", "--workers", "2", "--with-worker"),
        *("--port", str(port)),
    ]
    server = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603 - our CLI
    try:
        deadline = time.monotonic() + 60
        while doomed.exists():
            assert server.poll() is None, "the server exited while starting"
            assert time.monotonic() < deadline, "the queued job did not run within 60 s"
            time.sleep(0.2)
        # Two API workers and the job worker, all supervised. The job may run before the API
        # workers finish starting, so the API is polled rather than asked once.
        assert len(worker_pids(server.pid)) == 3
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the API did not answer within 60 s"
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=40) == 0
