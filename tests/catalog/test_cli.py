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
    assert "2 created, 0 updated, 0 unchanged, 0 failed of 2 products." in imported.output

    target = tmp_path / "out.csv"
    exported = runner.invoke(app, ["products", "export", "--output", str(target)])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["Handle"] for r in rows] == ["linen-shirt"] * 3 + ["mug"]
    assert [r["Variant Inventory Qty"] for r in rows] == ["4", "6", "", "10"]

    again = runner.invoke(app, ["products", "import", str(target)])
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 2 unchanged, 0 failed of 2 products." in again.output


def test_bad_rows_exit_non_zero_with_line_numbers(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    bad = dict(MUG[0], **{"Variant SKU": "9.78E+12"})
    source.write_text(csv_text(bad), encoding="utf-8")
    result = CliRunner().invoke(app, ["products", "import", str(source)])
    assert result.exit_code == 2
    assert "line 2 (mug): Variant SKU: '9.78E+12' looks like a number" in result.output
    assert "0 created, 0 updated, 0 unchanged, 1 failed of 1 products." in result.output


def test_warnings_are_listed_and_do_not_fail_the_import(database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "template.csv"
    source.write_text(csv_text(dict(MUG[0], **{"Variant Barcode": "9.78E+12"})), encoding="utf-8")
    result = CliRunner().invoke(app, ["products", "import", str(source)])
    assert result.exit_code == 0, result.output
    assert "line 2 (mug): warning: Variant Barcode: '9.78E+12' looks like a number" in (
        result.output
    )
    assert "1 created, 0 updated, 0 unchanged, 0 failed of 1 products." in result.output


def add_location(url: str, name: str) -> int:
    async def add() -> int:
        settings = Settings(database_url=url)
        engine = create_engine(settings.database_url, settings)
        try:
            async with Database(engine).session() as session:
                location = Location(name=name)
                session.add(location)
                await session.flush()
                return location.id
        finally:
            await engine.dispose()

    return asyncio.run(add())


def quantities(path: Path) -> list[str]:
    rows = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))
    return [r["Variant Inventory Qty"] for r in rows]


def test_export_holds_the_stock_of_the_location_asked_for(
    database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(csv_text(*SHIRT, *MUG), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["products", "import", str(source)]).exit_code == 0
    shop = add_location(database_url, "Shop")

    at_shop = tmp_path / "shop.csv"
    exported = runner.invoke(
        app, ["products", "export", "-o", str(at_shop), "--location-id", str(shop)]
    )

    assert exported.exit_code == 0, exported.output
    # Nothing is stocked at the shop: empty cells, which an import leaves alone.
    assert quantities(at_shop) == ["", "", "", ""]
    again = runner.invoke(app, ["products", "import", str(at_shop), "--location-id", str(shop)])
    assert "0 created, 0 updated, 2 unchanged, 0 failed of 2 products." in again.output
    default = tmp_path / "default.csv"
    assert runner.invoke(app, ["products", "export", "-o", str(default)]).exit_code == 0
    assert quantities(default) == ["4", "6", "", "10"]
    unknown = runner.invoke(app, ["products", "export", "--location-id", "999"])
    assert unknown.exit_code == 1
    assert "error: Location 999 not found" in unknown.output
