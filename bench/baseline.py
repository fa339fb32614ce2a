"""pgbench on the same PostgreSQL, in its own database: what the database alone can do."""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any

from bench import procs
from bench.env import SetupError, log

BUILTINS = ("select-only", "tpcb-like", "simple-update")
_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)
_LATENCY = re.compile(r"^latency average = ([0-9.]+) ms", re.MULTILINE)
_FAILED = re.compile(r"^number of failed transactions: (\d+)", re.MULTILINE)


def parse_pgbench(output: str) -> dict[str, float]:
    tps = _TPS.search(output)
    if tps is None:
        raise SetupError("pgbench printed no tps line:\n" + output[-2000:])
    latency = _LATENCY.search(output)
    failed = _FAILED.search(output)
    return {
        "tps": round(float(tps.group(1)), 1),
        "latency_avg_ms": float(latency.group(1)) if latency else 0.0,
        "failed": float(failed.group(1)) if failed else 0.0,
    }


def run_pgbench(
    host: str, port: int, user: str, database: str, *, scale: int, clients: int, duration_s: int
) -> dict[str, Any]:
    connection = ["-h", host, "-p", str(port), "-U", user]
    log(f"pgbench: initialising scale {scale} in {database}")
    started = time.monotonic()
    init = subprocess.run(
        ["pgbench", *connection, "-i", "-q", "-s", str(scale), database],
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise SetupError(f"pgbench -i failed: {init.stderr[-2000:]}")
    results: dict[str, Any] = {
        "scale": scale,
        "clients": clients,
        "duration_s": duration_s,
        "init_s": round(time.monotonic() - started, 1),
    }
    for builtin in BUILTINS:
        cpu_before = procs.children_cpu_seconds()
        wall_before = time.monotonic()
        run = subprocess.run(
            [
                "pgbench",
                *connection,
                "-b",
                builtin,
                "-c",
                str(clients),
                "-j",
                "2",
                "-T",
                str(duration_s),
                database,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            raise SetupError(f"pgbench {builtin} failed: {run.stderr[-2000:]}")
        wall = time.monotonic() - wall_before
        parsed: dict[str, Any] = dict(parse_pgbench(run.stdout))
        parsed["load_generator_cpu_cores"] = round(
            (procs.children_cpu_seconds() - cpu_before) / wall, 3
        )
        results[builtin] = parsed
        log(f"pgbench {builtin}: {parsed['tps']} tps, {parsed['latency_avg_ms']} ms average")
    return results
