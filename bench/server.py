"""`shopdb serve` as production runs it, in its own process group, and what its workers use."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import httpx

from bench import procs
from bench.env import BIN, SetupError, log


class Server:
    def __init__(
        self, env: dict[str, str], host: str, port: int, workers: int, log_path: Path
    ) -> None:
        self.env = env
        self.host = host
        self.port = port
        self.workers = workers
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, ready_timeout: float = 60.0) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        command = [
            str(BIN / "shopdb"),
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.process = subprocess.Popen(
            command,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SetupError(f"shopdb serve exited early; see {self.log_path}")
            try:
                response = httpx.get(f"{self.base_url}/health/ready", timeout=2.0)
                if response.status_code == 200 and len(self.worker_pids()) >= self.workers:
                    log(f"server ready at {self.base_url}: {response.json()['checks']}")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise SetupError(f"shopdb serve was not ready within {ready_timeout:.0f} s")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: uvicorn's spawned workers under the supervisor."""
        if self.process is None:
            return []
        return [
            pid
            for pid in procs.descendants(self.process.pid)
            if "spawn_main" in procs.command_line(pid)
        ] or ([self.process.pid] if self.workers == 1 else [])

    def memory(self) -> dict[str, object]:
        per_worker = [round(procs.rss_bytes(pid) / procs.MIB, 1) for pid in self.worker_pids()]
        return {
            "rss_mib_per_worker": per_worker,
            "rss_mib_max_worker": max(per_worker, default=0.0),
            "rss_mib_total": round(sum(per_worker), 1),
        }

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # The whole group this runner started (supervisor and its workers), by its id.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


class JobWorkers:
    """`shopdb worker` processes (the job queue and the webhook sender), each in its own
    process group, as production runs them beside the API."""

    def __init__(self, env: dict[str, str], count: int, log_path: Path) -> None:
        self.env = env
        self.count = count
        self.log_path = log_path
        self.processes: list[subprocess.Popen[bytes]] = []
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        for _ in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [str(BIN / "shopdb"), "worker"],
                    env=self.env,
                    stdout=self._log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def alive(self) -> bool:
        return bool(self.processes) and all(p.poll() is None for p in self.processes)

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.poll() is None]

    def cpu_seconds(self) -> float:
        return sum(procs.cpu_seconds(pid) for pid in self.pids())

    def rss_mib(self) -> float:
        return round(max((procs.rss_bytes(pid) for pid in self.pids()), default=0) / procs.MIB, 1)

    def stop(self) -> None:
        """SIGTERM (the sends in flight finish), SIGKILL after 20 s; by their own ids."""
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = []
        if self._log is not None:
            self._log.close()
            self._log = None
