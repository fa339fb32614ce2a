"""`shopdb retention run [--dry-run]`: apply the enabled data retention policies now."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from shopdb.config import Settings, get_settings

if TYPE_CHECKING:
    from shopdb.compliance.retention import PolicyOutcome

retention_app = typer.Typer(help="Apply data retention policies.")

_DONE = {"hard_delete": "deleted", "soft_delete": "soft-deleted", "archive": "archived"}


def describe(outcome: PolicyOutcome) -> str:
    head = (
        f"policy {outcome.policy_id} {outcome.entity_type} ({outcome.deletion_policy}, "
        f"older than {outcome.retention_period_days} days, before {outcome.cutoff.isoformat()})"
    )
    if outcome.skipped is not None:
        return f"{head}: skipped: {outcome.skipped}"
    done = _DONE[outcome.deletion_policy]
    if outcome.dry_run:
        return f"{head}: would be {done}: {outcome.count}"
    line = f"{head}: {done}: {outcome.count} in {outcome.batches} batch(es)"
    if outcome.archive_keys:
        line += f"; archive files: {', '.join(outcome.archive_keys)}"
    if outcome.incomplete:
        line += "; more rows are due (run again)"
    return line


@retention_app.command("run")
def run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what each policy would remove; change nothing.")
    ] = False,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction.")] = 500,
) -> None:
    """Apply every enabled policy to the records older than its period (as the worker does
    hourly), in batches; print each policy's count. Disabled policies are not touched."""

    async def work(settings: Settings) -> list[PolicyOutcome]:
        from shopdb.compliance.retention import run_retention
        from shopdb.storage import storage_from_settings
        from shopdb.wiring import command_database

        async with command_database(settings) as database:
            return await run_retention(
                database,
                storage_from_settings(settings),
                dry_run=dry_run,
                batch_size=batch_size,
            )

    outcomes = asyncio.run(work(get_settings()))
    if not outcomes:
        typer.echo("No enabled data retention policy; nothing to do.")
        return
    for outcome in outcomes:
        typer.echo(describe(outcome))
    total = sum(o.count for o in outcomes if o.skipped is None)
    summary = "would be affected (dry run: nothing changed)" if dry_run else "affected"
    typer.echo(f"{total} record(s) {summary}.")
