"""`shopdb products import/export` against a real SQLite file, as an operator runs them."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shopdb.cli import app
from shopdb.config import Settings, get_settings
from shopdb.db import Database, create_engine
from shopdb.models import Location
from shopdb.schema import upgrade
from tests.catalog.test_csv import MUG, SHIRT, csv_text


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    settings = Settings(database_url=url, var_dir=tmp_path)

    async def prepare() -> None:
        engine = create_engine(settings.database_url, settings)
        await upgrade(engine)
        async with Database(engine).session() as session:
            session.add(Location(name="Warehouse"))
        await engine.dispose()

    asyncio.run(prepare())
    monkeypatch.setenv("SHOPDB_DATABASE_URL", url)
    monkeypatch.setenv("SHOPDB_VAR_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_import_then_export_round_trips(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(csv_text(*SHIRT, *MUG), encoding="utf-8")
    runner = CliRunner()

    imported = runner.invoke(app, ["products", "import", str(source)])
    assert imported.exit_code == 0, imported.output
    assert "2 created, 0 updated, 0 failed of 2 products." in imported.output

    target = tmp_path / "out.csv"
    exported = runner.invoke(app, ["products", "export", "--output", str(target)])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["Handle"] for r in rows] == ["linen-shirt"] * 3 + ["mug"]
    assert [r["Variant Inventory Qty"] for r in rows] == ["4", "6", "", "10"]

    again = runner.invoke(app, ["products", "import", str(target)])
    assert again.exit_code == 0, again.output
    assert "0 created, 2 updated, 0 failed" in again.output


def test_bad_rows_exit_non_zero_with_line_numbers(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    bad = dict(MUG[0], **{"Variant Barcode": "9.78E+12"})
    source.write_text(csv_text(bad), encoding="utf-8")
    result = CliRunner().invoke(app, ["products", "import", str(source)])
    assert result.exit_code == 2
    assert "line 2 (mug): Variant Barcode" in result.output
