"""`shopdb products import FILE.csv` and `shopdb products export`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from shopdb.config import Settings, get_settings

if TYPE_CHECKING:
    from shopdb.catalog.imports.service import ImportReport

products_app = typer.Typer(help="Import and export products as Shopify product CSV.")


@products_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    location_id: Annotated[
        int | None, typer.Option(help="Where Variant Inventory Qty goes (default: first active).")
    ] = None,
) -> None:
    """Create or update products from a Shopify product CSV, with a progress bar.

    The import runs here, as a job of the queue leased to this command: if the command is
    interrupted, `shopdb worker` finishes it once the lease lapses.
    """
    from shopdb.catalog.imports.csv_format import CsvFormatError, parse_products
    from shopdb.errors import ShopdbError

    raw = file.read_bytes()
    try:
        products = parse_products(raw.decode("utf-8-sig"))
    except (CsvFormatError, UnicodeDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc

    try:
        report = asyncio.run(_import(get_settings(), raw, len(products), location_id))
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


async def _import(
    settings: Settings, raw: bytes, total: int, location_id: int | None
) -> ImportReport:
    from shopdb.catalog.imports import jobs
    from shopdb.jobs.runner import JobContext, Worker, WorkerOptions, worker_name
    from shopdb.storage import storage_from_settings
    from shopdb.wiring import command_database

    async with command_database(settings) as database:
        storage = storage_from_settings(settings)
        options = WorkerOptions.from_settings(settings, concurrency=1)
        # This process is the job's worker: its heartbeat renews the lease, its writes are
        # fenced on it, and a failure is retried (later, by `shopdb worker`) like any other.
        worker = Worker(
            JobContext(database, storage, settings), [jobs.IMPORT], options, name=worker_name()
        )
        async with database.session() as session:
            job = await jobs.start_local_import(
                session,
                storage,
                raw,
                total,
                location_id=location_id,
                owner=worker.name,
                lease_seconds=options.lease_seconds,
            )
        with typer.progressbar(length=total, label="Importing") as bar:
            done = 0

            def advance(processed: int) -> None:
                nonlocal done
                bar.update(processed - done)
                done = processed

            job.on_progress = advance
            outcome = await worker.run_claimed(job)
    if outcome != "completed":
        typer.echo(
            f"error: {jobs.JOB_FAILED} (job {job.id}: {outcome}"
            + ("; `shopdb worker` will try it again)" if outcome == "retry" else ")"),
            err=True,
        )
        raise typer.Exit(code=1)
    return jobs.report_from(job.result, total=total, processed=job.processed)


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
    from shopdb.catalog.imports.exporter import export_csv as chunks
    from shopdb.catalog.imports.service import default_location
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
