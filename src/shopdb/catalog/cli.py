"""`shopdb products import FILE.csv` and `shopdb products export`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shopdb.config import Settings, get_settings

if TYPE_CHECKING:
    from shopdb.catalog.importer import ImportReport

products_app = typer.Typer(help="Import and export products as Shopify product CSV.")


@products_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    location_id: Annotated[
        int | None, typer.Option(help="Where Variant Inventory Qty goes (default: first active).")
    ] = None,
) -> None:
    """Create or update products from a Shopify product CSV, with a progress bar."""
    from shopdb.catalog import jobs
    from shopdb.catalog.cache import database_invalidating_cache
    from shopdb.catalog.csv_format import CsvFormatError, parse_products
    from shopdb.errors import ShopdbError

    try:
        products = parse_products(file.read_text(encoding="utf-8-sig"))
    except (CsvFormatError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc

    async def work(settings: Settings) -> ImportReport:
        async with database_invalidating_cache(settings) as database:
            job_id, _ = await jobs.create_job(
                database, len(products), location_id=location_id, actor="cli"
            )
            with typer.progressbar(length=len(products), label="Importing") as bar:
                done = 0

                def advance(processed: int) -> None:
                    nonlocal done
                    bar.update(processed - done)
                    done = processed

                return await jobs.run_import_job(database, job_id, products, advance)

    try:
        report = asyncio.run(work(get_settings()))
    except ShopdbError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
    for warning in report.warnings:
        typer.echo(
            f"line {warning['line']} ({warning['handle']}): warning: {warning['message']}",
            err=True,
        )
    for error in report.errors:
        typer.echo(f"line {error['line']} ({error['handle']}): {error['message']}", err=True)
    typer.echo(
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.failed} failed of {report.total} products."
    )
    if report.failed:
        raise typer.Exit(code=2)


@products_app.command("export")
def export_csv(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    location_id: Annotated[
        int | None,
        typer.Option(help="Whose stock Variant Inventory Qty holds (default: first active)."),
    ] = None,
) -> None:
    """Write every product as a Shopify product CSV."""
    from shopdb.catalog.exporter import export_csv as chunks
    from shopdb.catalog.importer import default_location
    from shopdb.db import Database
    from shopdb.errors import ShopdbError

    async def work(settings: Settings) -> None:
        database = Database.from_settings(settings)
        try:
            async with database.read_sessionmaker()() as session:
                location = await default_location(session, location_id)
                if output is None:
                    async for chunk in chunks(session, location_id=location):
                        sys.stdout.write(chunk)
                    return
                with output.open("w", encoding="utf-8", newline="") as handle:
                    async for chunk in chunks(session, location_id=location):
                        handle.write(chunk)
        finally:
            await database.dispose()

    try:
        asyncio.run(work(get_settings()))
    except ShopdbError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from exc
