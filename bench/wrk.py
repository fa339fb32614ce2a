"""Running wrk with bench/lua/requests.lua and reading the JSON line its done() prints."""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procs

LUA_DIR = Path(__file__).resolve().parent / "lua"
RESULT_MARK = "BENCH_RESULT "


class WrkError(RuntimeError):
    pass


@dataclass(frozen=True)
class WrkRun:
    url: str
    requests_file: Path
    token: str
    duration_s: int
    connections: int
    threads: int = 1
    track_status: bool = False
    timeout_s: int = 10
    max_requests: int = 1_000_000  # a bound besides the duration, should a scenario run away


def parse_output(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith(RESULT_MARK):
            parsed: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return parsed
    raise WrkError("wrk printed no result line:\n" + stdout[-2000:])


def summarise(raw: dict[str, Any], wall_s: float, cpu_s: float) -> dict[str, Any]:
    """req/s, latency in ms, errors (non-2xx and socket errors) and the load generator's CPU."""
    duration_s = raw["duration_us"] / 1e6
    latency = raw["latency_us"]
    errors = raw["errors"]
    statuses = {str(k): int(v) for k, v in raw.get("statuses", {}).items()}
    socket_errors = sum(int(errors.get(k, 0)) for k in ("connect", "read", "write", "timeout"))
    if raw.get("tracked"):
        non_2xx = sum(count for status, count in statuses.items() if not status.startswith("2"))
    else:
        non_2xx = int(errors.get("status", 0))  # wrk counts responses with status >= 400
    requests = int(raw["requests"])
    return {
        "requests": requests,
        "duration_s": round(duration_s, 2),
        "rps": round(requests / duration_s, 1) if duration_s else 0.0,
        "latency_ms": {
            "p50": round(latency["percentiles"]["50"] / 1000, 2),
            "p75": round(latency["percentiles"]["75"] / 1000, 2),
            "p90": round(latency["percentiles"]["90"] / 1000, 2),
            "p95": round(latency["percentiles"]["95"] / 1000, 2),
            "p99": round(latency["percentiles"]["99"] / 1000, 2),
            "max": round(latency["max"] / 1000, 2),
            "mean": round(latency["mean"] / 1000, 2),
        },
        "errors": {
            "non_2xx": non_2xx,
            "status_5xx": sum(c for s, c in statuses.items() if s.startswith("5")),
            "socket": socket_errors,
            "timeout": int(errors.get("timeout", 0)),  # of the socket errors: no answer in time
            "total": non_2xx + socket_errors,
        },
        "statuses": statuses,
        "bytes_per_response": round(int(raw["bytes"]) / requests) if requests else 0,
        "load_generator": {
            "cpu_cores": round(cpu_s / wall_s, 3),
            "machine_share": round(cpu_s / wall_s / (os.cpu_count() or 1), 3),
        },
    }


async def run_wrk(run: WrkRun) -> dict[str, Any]:
    """One wrk process, waited for here, so RUSAGE_CHILDREN's growth is its CPU time alone."""
    env = {
        **os.environ,
        "BENCH_REQUESTS": str(run.requests_file),
        "BENCH_TOKEN": run.token,
        "BENCH_TRACK_STATUS": "1" if run.track_status else "0",
        "BENCH_MAX_REQUESTS_PER_THREAD": str(-(-run.max_requests // run.threads)),
    }
    command = [
        "wrk",
        f"--threads={run.threads}",
        f"--connections={run.connections}",
        f"--duration={run.duration_s}s",
        f"--timeout={run.timeout_s}s",
        f"--script={LUA_DIR / 'requests.lua'}",
        run.url,
    ]
    cpu_before = procs.children_cpu_seconds()
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    wall = time.monotonic() - started
    cpu = procs.children_cpu_seconds() - cpu_before
    if process.returncode != 0:
        raise WrkError(f"wrk failed ({process.returncode}): {stderr.decode()[-2000:]}")
    return summarise(parse_output(stdout.decode()), wall, cpu)
