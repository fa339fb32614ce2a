"""What the machine is doing, from /proc: CPU time of processes and of the machine, memory."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may contain spaces; fields follow the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one live process (0 when it has gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def all_pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in all_pids():
        parent = parent_of(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def pids_named(name: str) -> list[int]:
    found = []
    for pid in all_pids():
        try:
            if (PROC / str(pid) / "comm").read_text().strip() == name:
                found.append(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    values = [int(v) for v in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # guest time is already counted in user
    return total - idle, total


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuWindow:
    """CPU used between start() and stop(), by the machine and by chosen processes."""

    server_pids: list[int]
    started: float = 0.0
    machine: tuple[int, int] = (0, 0)
    server: float = 0.0
    postgres: dict[int, float] | None = None
    runner: float = 0.0

    def start(self) -> None:
        self.started = time.monotonic()
        self.machine = machine_ticks()
        self.server = sum(cpu_seconds(pid) for pid in self.server_pids)
        self.postgres = {pid: cpu_seconds(pid) for pid in pids_named("postgres")}
        self.runner = self_cpu_seconds()

    def stop(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.started, 1e-9)
        busy0, total0 = self.machine
        busy1, total1 = machine_ticks()
        server = sum(cpu_seconds(pid) for pid in self.server_pids) - self.server
        # Backends that lived through the window; a connection opened and closed inside it is lost,
        # which the pooled server connections never are.
        postgres = sum(
            cpu_seconds(pid) - before
            for pid, before in (self.postgres or {}).items()
            if cpu_seconds(pid) > 0
        )
        return {
            "wall_s": round(wall, 2),
            "machine_busy_share": round((busy1 - busy0) / max(total1 - total0, 1), 3),
            "server_cpu_cores": round(server / wall, 3),
            "postgres_cpu_cores": round(postgres / wall, 3),
            "runner_cpu_cores": round((self_cpu_seconds() - self.runner) / wall, 3),
        }
