"""`shopdb retention run [--dry-run]` as an operator runs it, against a migrated database of each
backend: the dry run's counts, nothing changed; then the real run's, the same counts, the
rows gone and the archive files written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from shopdb.cli import app
from shopdb.config import get_settings
from shopdb.db import Database, create_engine
from shopdb.models import Checkout, DataRetentionPolicy, Event
from shopdb.schema import upgrade
from tests.compliance.conftest import add_checkout, add_events, add_policy
from tests.fixtures.database import BACKENDS, drop_postgres_database, fresh_database_url
from tests.fixtures.database import test_settings as make_settings

OLD_EVENTS = Event.topic == "products/update"


def said(output: str) -> list[str]:
    """The command's own lines (the log's, unconfigured here, go to the same stream)."""
    return [line for line in output.splitlines() if "retention_policy_" not in line]


async def _prepare(url: str, tmp_path: Path) -> None:
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    await upgrade(engine)
    async with Database(engine).session() as session:
        await add_policy(session, "events", "hard_delete", days=30)
        await add_policy(session, "checkouts", "archive", days=60)
        await add_policy(session, "orders", "hard_delete", days=1, enabled=False)
        await add_events(session, [31, 45, 400, 2])
        for age in (61, 70):
            await add_checkout(session, age)
        await add_checkout(session, 10)
    await engine.dispose()


async def _state(url: str, tmp_path: Path) -> tuple[int, int, list[bool]]:
    settings = make_settings(url, tmp_path)
    engine = create_engine(settings.database_url, settings)
    try:
        async with Database(engine).session() as session:
            events = await session.scalar(select(func.count(Event.id)).where(OLD_EVENTS))
            checkouts = await session.scalar(select(func.count(Checkout.id)))
            cleaned = await session.scalars(
                select(DataRetentionPolicy.last_cleanup_date).order_by(DataRetentionPolicy.id)
            )
            return int(events or 0), int(checkouts or 0), [d is not None for d in cleaned]
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    url = asyncio.run(fresh_database_url(request.param, tmp_path, "retention_cli"))
    asyncio.run(_prepare(url, tmp_path))
    monkeypatch.setenv("SHOPDB_DATABASE_URL", url)
    monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("SHOPDB_REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    if request.param == "postgresql":
        asyncio.run(drop_postgres_database(url))


def test_dry_run_then_run(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()

    dry = runner.invoke(app, ["retention", "run", "--dry-run"])

    assert dry.exit_code == 0, dry.output
    lines = said(dry.output)
    assert lines[0].startswith("policy 1 events (hard_delete, older than 30 days, before ")
    assert lines[0].endswith(": would be deleted: 3")
    assert lines[1].endswith(": would be archived: 2")
    assert lines[2] == "5 record(s) would be affected (dry run: nothing changed)."
    assert len(lines) == 3  # the disabled policy is not run
    assert asyncio.run(_state(database_url, tmp_path)) == (4, 3, [False, False, False])
    assert not (tmp_path / "storage").exists()

    real = runner.invoke(app, ["retention", "run", "--batch-size", "1"])

    assert real.exit_code == 0, real.output
    lines = said(real.output)
    assert lines[0].endswith(": deleted: 3 in 3 batch(es)")
    assert ": archived: 2 in 2 batch(es); archive files: retention/checkouts/" in lines[1]
    assert lines[2] == "5 record(s) affected."
    assert asyncio.run(_state(database_url, tmp_path)) == (1, 1, [True, True, False])
    files = sorted((tmp_path / "storage" / "retention" / "checkouts").iterdir())
    archived = [json.loads(f.read_text()) for f in files]
    assert [a["entityType"] for a in archived] == ["checkouts", "checkouts"]

    again = runner.invoke(app, ["retention", "run", "--dry-run"])
    assert said(again.output)[-1] == ("0 record(s) would be affected (dry run: nothing changed).")
