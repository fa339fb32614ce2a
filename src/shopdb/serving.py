"""`shopdb serve` with several workers: one SO_REUSEPORT listening socket per worker.

uvicorn's own multi-worker mode shares one listening socket between its workers, and whichever
worker wakes first accepts a burst of new connections: a client opening 32 keep-alive
connections at once often had 25 or more on one worker, which then ran at 100% CPU while the
other idled (seen in the benchmark as half the throughput and four times the p99 of the same
run minutes earlier). With a socket per worker bound with SO_REUSEPORT, the kernel spreads new
connections across the workers evenly.

The supervisor here starts the workers, restarts one that dies, and on SIGINT or SIGTERM asks
them all to stop. On SIGTERM (an orchestrator's stop) each worker first drains for
SHOPDB_SHUTDOWN_DRAIN_SECONDS: readiness answers 503 and every response closes its connection
while requests are still served (health/draining.py), so the load balancer moves traffic away
before anything is refused. Then it stops accepting, finishes the requests in flight (at most
SHOPDB_SHUTDOWN_GRACE_SECONDS) and runs the app's shutdown, which closes the database and Redis
pools. SIGINT (Ctrl-C at a terminal) skips the drain.

With `--with-worker` it also runs one job-queue worker process (`shopdb worker`, see
shopdb.jobs), supervised the same way, so the embedded default (SQLite, `make run`) runs its
queued imports and file deletions with no second command. On stop it gets SIGTERM like the
others and finishes the jobs in hand; one still running after the shutdown timeout is killed,
and its jobs are claimed again when their lease lapses.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

import structlog
import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopdb.config import Settings
from shopdb.health.draining import DRAINING, CloseConnectionsWhileDraining

log = structlog.get_logger(__name__)

# A worker that exits this soon after starting is failing at startup: restarting it would loop.
STARTUP_GRACE_SECONDS = 10.0
SHUTDOWN_TIMEOUT_SECONDS = 30.0


class ShutdownSettings(BaseSettings):
    """How a server process stops on SIGTERM (SHOPDB_SHUTDOWN_DRAIN_SECONDS, _GRACE_SECONDS).

    The drain must outlast the time the balancer takes to notice: a readiness probe's period
    times its failure threshold, plus the endpoint update reaching every node (a few seconds
    on Kubernetes). An orchestrator's kill deadline (terminationGracePeriodSeconds, compose's
    stop_grace_period) must exceed `stop_seconds`.
    """

    model_config = SettingsConfigDict(env_prefix="SHOPDB_SHUTDOWN_", extra="ignore")

    drain_seconds: float = Field(default=5.0, ge=0, le=300)
    grace_seconds: float = Field(default=20.0, gt=0, le=600)

    @property
    def stop_seconds(self) -> float:
        """The longest a worker takes to stop: drain, requests in flight, the app's shutdown."""
        return self.drain_seconds + self.grace_seconds + 5.0


class DrainingServer(uvicorn.Server):
    """uvicorn's server, which on SIGTERM drains for `drain_seconds` before its usual stop."""

    def __init__(self, config: uvicorn.Config, *, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.drain_until: float | None = None
        self.drain_logged = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A second SIGTERM, or SIGINT, during the drain stops at once (gracefully).
        if sig == signal.SIGTERM and self.drain_until is None and not self.should_exit:
            if self.drain_seconds > 0:
                DRAINING.begin()
                self.drain_until = time.monotonic() + self.drain_seconds
                return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        # Called every 0.1 s by uvicorn's main loop; logging here, not in the signal handler.
        if self.drain_until is not None:
            if not self.drain_logged:
                self.drain_logged = True
                log.info("draining", pid=os.getpid(), seconds=self.drain_seconds)
            if time.monotonic() >= self.drain_until:
                self.should_exit = True
        return await super().on_tick(counter)


def supports_reuse_port() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def check_port_free(host: str, port: int) -> None:
    """Fail now if another process listens there: with SO_REUSEPORT, a second server of the
    same user would otherwise quietly share the port with the first."""
    try:
        listening_socket(host, port, reuse_port=False).close()
    except OSError as exc:
        raise SystemExit(
            f"cannot listen on {host}:{port}: {exc.strerror}. Is another server running there? "
            f"Pick another port: `shopdb serve --port {port + 1}` (or `make run PORT={port + 1}`)."
        ) from exc


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for `shopdb serve`, one place for every serving mode.

    X-Forwarded-For is believed only from SHOPDB_TRUSTED_PROXIES. uvicorn's default trusts
    127.0.0.1, so anything on the host (or a client behind a local proxy that passes the
    header through) could name any address, and escape the per-address rate limits and the
    login throttle by rotating it.
    """
    options: dict[str, Any] = {
        "app": "shopdb.app:create_app",
        "factory": True,
        "loop": "uvloop",
        "http": "httptools",
        "proxy_headers": bool(settings.trusted_proxies),
        "access_log": False,  # shopdb logs each request itself, with its request id
        "log_level": settings.log_level.lower(),
        # Requests still running this long after the server stopped accepting are cancelled,
        # so that the app's shutdown (closing the pools) runs before the orchestrator kills.
        "timeout_graceful_shutdown": ShutdownSettings().grace_seconds,
    }
    if settings.trusted_proxies:
        options["forwarded_allow_ips"] = list(settings.trusted_proxies)
    return options


def _run_worker(host: str, port: int, options: dict[str, Any], drain_seconds: float) -> None:
    sock = listening_socket(host, port, reuse_port=True)
    config = uvicorn.Config(host=host, port=port, **options)
    config.load()
    config.loaded_app = CloseConnectionsWhileDraining(config.loaded_app)
    server = DrainingServer(config, drain_seconds=drain_seconds)
    server.run(sockets=[sock])
    # uvicorn logs "Application shutdown complete" once the lifespan closed the pools.
    log.info("server_stopped", pid=os.getpid(), requests=server.server_state.total_requests)
    _forget_metrics_of(os.getpid())


def _forget_metrics_of(pid: int | None) -> None:
    """A worker that is gone takes its live gauges (active_connections) out of the sum that
    /metrics reports across workers (prometheus_client's multiprocess mode)."""
    if pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def _run_job_worker() -> None:
    from shopdb.worker import main

    main()


def job_worker_process() -> Any:
    """A started `shopdb worker` process (spawned: nothing of this process's state leaks in)."""
    process = multiprocessing.get_context("spawn").Process(
        target=_run_job_worker, name="shopdb-job-worker"
    )
    process.start()
    return process


def stop_process(process: Any, timeout: float = SHUTDOWN_TIMEOUT_SECONDS) -> None:
    if process.is_alive():
        process.terminate()
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join()


def serve_workers(
    host: str,
    port: int,
    workers: int,
    options: dict[str, Any],
    *,
    job_workers: int = 0,
    shutdown: ShutdownSettings | None = None,
) -> None:
    """Run `workers` uvicorn servers on host:port, and `job_workers` job-queue workers,
    until SIGINT or SIGTERM."""
    check_port_free(host, port)
    shutdown = shutdown or ShutdownSettings()
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start(index: int) -> tuple[Any, float]:
        if index >= workers:
            return job_worker_process(), time.monotonic()
        process = context.Process(
            target=_run_worker, args=(host, port, options, shutdown.drain_seconds)
        )
        process.start()
        return process, time.monotonic()

    def request_stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    running = [start(index) for index in range(workers + job_workers)]
    log.info(
        "serving",
        host=host,
        port=port,
        workers=workers,
        job_workers=job_workers,
        pids=[p.pid for p, _ in running],
    )
    failed = False
    while not stopping:
        for index, (process, started) in enumerate(running):
            if process.is_alive():
                continue
            if time.monotonic() - started < STARTUP_GRACE_SECONDS:
                log.error("worker_failed_at_startup", pid=process.pid, exitcode=process.exitcode)
                failed = stopping = True
                break
            log.warning("worker_died", pid=process.pid, exitcode=process.exitcode)
            _forget_metrics_of(process.pid)
            running[index] = start(index)
        time.sleep(0.2)
    for process, _ in running:
        if process.is_alive():
            process.terminate()  # SIGTERM: drain, then uvicorn's graceful shutdown
    deadline = time.monotonic() + max(SHUTDOWN_TIMEOUT_SECONDS, shutdown.stop_seconds)
    for process, _ in running:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
    if failed:
        sys.exit(1)
