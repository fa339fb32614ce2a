"""EXPLAIN (ANALYZE, BUFFERS) of the SQL the server sends for a few list requests.

The statements are the server's own: a one-worker `shopdb serve` without Redis (so every
request reaches PostgreSQL) runs with SHOPDB_DATABASE_ECHO=true; after each request the runner
reads the statements and parameters SQLAlchemy logged for it and explains the ones that read
the catalog, with the same parameters, in a transaction that is rolled back.
"""

from __future__ import annotations

import ast
import datetime
import decimal
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.env import log
from bench.fixtures import PRODUCTS
from bench.run import dsn, login
from bench.server import Server
from shopdb.bench import words

ENGINE_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO sqlalchemy\.engine\.Engine (.*)$"
)
PARAMS_LINE = re.compile(r"^\[(?:generated in|cached since|raw sql|dialect)[^\]]*\] (.*)$")
NEW_RECORD = re.compile(r"^(\d{4}-\d\d-\d\d[ T]|INFO:|WARNING:|ERROR:)")
CATALOG_TABLES = re.compile(r"\b(products|product_\w+|option_values|inventory_\w+)\b")
SKIPPED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


class PlanError(RuntimeError):
    pass


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]


def parse_params(text: str) -> tuple[Any, ...]:
    """The parameter tuple SQLAlchemy logs (its repr), back to values."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        namespace = {"__builtins__": {}, "datetime": datetime, "Decimal": decimal.Decimal}
        value = eval(text, namespace)  # noqa: S307 - our own server's log, reprs of values
    if isinstance(value, dict):
        raise PlanError("named parameters are not supported")
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def parse_echo(text: str) -> list[Statement]:
    """Statements and their parameters from the lines of SQLAlchemy's echo."""
    statements: list[Statement] = []
    current: list[str] | None = None
    for line in text.splitlines():
        match = ENGINE_LINE.match(line)
        if match:
            body = match.group(1)
            params = PARAMS_LINE.match(body)
            if params and current is not None:
                statements.append(
                    Statement("\n".join(current).strip(), parse_params(params.group(1)))
                )
                current = None
            elif not params:
                current = [body]
            continue
        if NEW_RECORD.match(line):
            current = None
        elif current is not None:
            current.append(line)
    return [
        s
        for s in statements
        if s.sql.upper().startswith(("SELECT", "WITH")) and CATALOG_TABLES.search(s.sql)
    ]


async def explain(database: str, statement: Statement) -> str:
    connection = await asyncpg.connect(dsn(database))
    try:
        transaction = connection.transaction()
        await transaction.start()
        try:
            rows = await connection.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, *statement.params
            )
        finally:
            await transaction.rollback()
    finally:
        await connection.close()
    return "\n".join(row[0] for row in rows)


def requests_to_explain() -> list[tuple[str, dict[str, Any]]]:
    word = words.search_words()[0].lower()
    return [
        ("list page 1", {"pageSize": 20}),
        ("vendor + title", {"pageSize": 20, "vendor": words.VENDORS[0], "sortBy": "title"}),
        ("search", {"pageSize": 20, "q": word}),
    ]


async def capture(path: Path, database: str, env: dict[str, str], var_dir: Path, port: int) -> None:
    env = {**env, "SHOPDB_DATABASE_ECHO": "true", "SHOPDB_LOG_JSON": "false"}
    env.pop("SHOPDB_REDIS_URL", None)
    log_path = var_dir.parent / "scale" / "server-plans.log"
    server = Server(env, "127.0.0.1", port, 1, log_path)
    server.start()
    sections: list[str] = [
        f"EXPLAIN (ANALYZE, BUFFERS) in {database}, cache off, one request at a time.\n"
    ]
    try:
        token = await login(server.base_url, var_dir)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=300
        ) as client:
            for title, params in requests_to_explain():
                offset = log_path.stat().st_size
                response = await client.get(PRODUCTS, params=params)
                statements = parse_echo(log_path.read_bytes()[offset:].decode(errors="replace"))
                query = "&".join(f"{k}={v}" for k, v in params.items())
                sections.append(
                    f"{'=' * 78}\n## {title}: GET {PRODUCTS}?{query} -> {response.status_code}, "
                    f"{response.elapsed.total_seconds() * 1000:.0f} ms, "
                    f"{len(statements)} catalog statement(s)\n"
                )
                for number, statement in enumerate(statements, 1):
                    plan = await explain(database, statement)
                    sections.append(
                        f"-- statement {number}\n{statement.sql}\n-- parameters: "
                        f"{statement.params!r}\n\n{plan}\n"
                    )
    finally:
        server.stop()
    _write(path, "\n".join(sections))


def _write(path: Path, text: str) -> None:
    path.write_text(text)
    log(f"query plans in {path}")
