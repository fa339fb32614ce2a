"""The machine the suite needs: PostgreSQL, Redis and wrk up, a fresh database, shopdb commands."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REDIS_START = [
    "redis-server",
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "-::1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    "/var/lib/redis",
    "--logfile",
    "/var/log/redis/ci.log",
]


class SetupError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.5)
    return False


def ensure_postgres(host: str, port: int) -> None:
    if port_open(host, port):
        return
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        raise SetupError(f"PostgreSQL is not answering on {host}:{port} and is not installed")
    version = sorted(os.listdir("/etc/postgresql"), key=lambda v: [int(p) for p in v.split(".")])
    log(f"starting PostgreSQL {version[-1]}")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version[-1], "main", "start"], check=False
    )
    if not wait_for_port(host, port, 30):
        raise SetupError(f"PostgreSQL did not come up on {host}:{port}")


def ensure_redis(host: str, port: int) -> None:
    if port_open(host, port):
        return
    if shutil.which("redis-server") is None:
        raise SetupError(f"Redis is not answering on {host}:{port} and is not installed")
    log("starting Redis")
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(REDIS_START, check=False)
    if not wait_for_port(host, port, 15):
        raise SetupError(f"Redis did not come up on {host}:{port}")


def ensure_tool(command: str, package: str) -> str:
    """The tool's path, installing its Debian package when missing (the suite runs as root)."""
    found = shutil.which(command)
    if found:
        return found
    log(f"installing {package} (apt-get)")
    install = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(install, check=False, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(install, check=False, capture_output=True)
    found = shutil.which(command)
    if not found:
        raise SetupError(f"{command} is missing and `apt-get install {package}` did not provide it")
    return found


async def recreate_database(admin_dsn: str, name: str) -> None:
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def shopdb(args: list[str], env: dict[str, str]) -> str:
    """Run the `shopdb` command of this virtualenv; its output, or SetupError with it."""
    completed = subprocess.run(
        [str(BIN / "shopdb"), *args], env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SetupError(
            f"shopdb {' '.join(args)} failed ({completed.returncode}):\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    return completed.stdout
