"""The `shopdb` command: migrate, serve, worker, seed-demo, user management."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from shopdb.bench.cli import bench_app
from shopdb.catalog.imports.cli import products_app
from shopdb.compliance.cli import retention_app
from shopdb.config import Environment, Settings, get_settings

app = typer.Typer(help="shopdb: a self-hosted, Shopify-compatible commerce backend.")
user_app = typer.Typer(help="Manage staff users.")
app.add_typer(user_app, name="user")
app.add_typer(bench_app, name="bench")
app.add_typer(products_app, name="products")
app.add_typer(retention_app, name="retention")

T = TypeVar("T")


def _run(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(work(get_settings()))


@app.command()
def migrate(revision: Annotated[str, typer.Argument()] = "heads") -> None:
    """Bring the database schema up to date, make sure the permission rows exist, encrypt any
    order email still stored in plaintext, and drop personal data from old user events."""
    from shopdb.schema import run_migrations

    settings = get_settings()
    run_migrations(settings, revision)

    async def bootstrap(settings: Settings) -> tuple[int, int, int, int]:
        from shopdb.db import Database
        from shopdb.gift_cards.service import hash_plaintext_codes
        from shopdb.keys import field_cipher
        from shopdb.schema import scrub_user_events, seal_plaintext_order_emails
        from shopdb.users.service import ensure_permissions

        database = Database.from_settings(settings)
        try:
            async with database.session() as session:
                added = await ensure_permissions(session)
            sealed = scrubbed = hashed = 0
            if revision == "heads":  # an older revision may not have the columns yet
                sealed = await seal_plaintext_order_emails(database.primary, field_cipher(settings))
                scrubbed = await scrub_user_events(database.primary)
                async with database.session() as session:
                    hashed = await hash_plaintext_codes(session)
            return added, sealed, scrubbed, hashed
        finally:
            await database.dispose()

    added, sealed, scrubbed, hashed = _run(bootstrap)
    typer.echo(f"Database at revision {revision}; {added} permission(s) added.")
    if sealed:
        typer.echo(f"Encrypted {sealed} order email(s) stored in plaintext.")
    if scrubbed:
        typer.echo(f"Removed personal data from {scrubbed} user event(s).")
    if hashed:
        typer.echo(f"Replaced {hashed} gift card code(s) stored in plaintext by their hash.")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--with-worker",
            help="Also run one job-queue worker process (`shopdb worker`), supervised alike.",
        ),
    ] = False,
) -> None:
    """Serve the API with uvicorn (uvloop + httptools), several worker processes."""
    import uvicorn

    from shopdb.serving import (
        check_port_free,
        job_worker_process,
        serve_workers,
        stop_process,
        supports_reuse_port,
        uvicorn_options,
    )

    settings = get_settings()
    # Refused here for every mode, with the option that picks another port.
    check_port_free(host, port)
    _prepare_metrics_dir(settings.var_dir, port)
    options = uvicorn_options(settings)
    if not reload and supports_reuse_port():
        # A listening socket per worker (see serving.py), not uvicorn's shared one; with one
        # worker too, so that SIGTERM drains it.
        serve_workers(host, port, workers, options, job_workers=1 if with_worker else 0)
        return
    # uvicorn runs the API here (reloading, or a single process): the job worker runs beside
    # it, stopped when uvicorn returns.
    job_worker = job_worker_process() if with_worker else None
    try:
        uvicorn.run(
            host=host, port=port, workers=None if reload else workers, reload=reload, **options
        )
    finally:
        if job_worker is not None:
            stop_process(job_worker)


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Jobs run at once (default SHOPDB_WORKER_CONCURRENCY, 2)."),
    ] = None,
    poll_interval: Annotated[
        float | None,
        typer.Option(
            min=0.01, help="Seconds between looks for due jobs (default SHOPDB_JOB_POLL_SECONDS)."
        ),
    ] = None,
) -> None:
    """Run queued jobs (imports, emails, file deletions) and send webhook deliveries until SIGTERM.

    Run as many as you like on PostgreSQL (they claim with SKIP LOCKED); on SQLite one is
    enough. On SIGTERM the jobs in hand are finished, then it exits 0; a worker killed outright
    loses nothing: its jobs are claimed again when their lease lapses.
    """
    from shopdb.worker import main

    main(concurrency=concurrency, poll_seconds=poll_interval)


def _prepare_metrics_dir(var_dir: Path, port: int) -> None:
    """A clean folder where every worker writes its Prometheus counts, for /metrics to sum.

    It must be in the environment before any worker imports prometheus_client.
    """
    folder = var_dir / f"prometheus-{port}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


@app.command("seed-demo")
def seed_demo() -> None:
    """Load the demo store once (idempotent). In development, also create an admin login."""

    async def work(settings: Settings) -> None:
        from shopdb.demo.seed import seed_demo as load
        from shopdb.keys import field_cipher
        from shopdb.wiring import command_database

        async with command_database(settings) as database, database.session() as session:
            result = await load(
                session,
                field_cipher(settings),
                create_admin=settings.env is Environment.DEVELOPMENT,
            )
        if not result.created:
            typer.echo("Demo store already loaded; nothing to do.")
            return
        typer.echo(
            f"Demo store loaded: {result.products} products, {result.customers} customers, "
            f"{result.orders} orders."
        )
        if result.admin_email:
            typer.echo("Admin login (shown once, keep it):")
            typer.echo(f"  email:    {result.admin_email}")
            typer.echo(f"  password: {result.admin_password}")

    _run(work)


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="Login email.")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password."),
    ],
    role: Annotated[str, typer.Option(help="admin or staff.")] = "staff",
    first_name: Annotated[str | None, typer.Option()] = None,
    last_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Create a staff user. The password is hashed with argon2id and never printed."""

    async def work(settings: Settings) -> int:
        from shopdb.db import Database
        from shopdb.users.service import create_user

        database = Database.from_settings(settings)
        try:
            async with database.session() as session:
                user = await create_user(
                    session,
                    email=email,
                    password=password,
                    role=role,
                    first_name=first_name,
                    last_name=last_name,
                )
                return user.id
        finally:
            await database.dispose()

    user_id = _run_or_exit(work)
    typer.echo(f"Created user {user_id} <{email.strip().lower()}> with role {role}.")


@user_app.command("set-password")
def user_set_password(
    email: Annotated[str, typer.Option(help="The user's login email.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="The new password."
        ),
    ],
) -> None:
    """Give a user a new password (same rules as create). Their existing tokens stop working."""

    async def work(settings: Settings) -> int:
        from shopdb.auth.access import AccessCache
        from shopdb.auth.invalidation import AccessInvalidation
        from shopdb.db import Database
        from shopdb.users.service import set_password

        database = Database.from_settings(settings)
        redis: Any = None
        if settings.redis_url:
            from redis.asyncio import Redis

            redis = Redis.from_url(settings.redis_url)
        # With Redis, the servers forget the user's cached standing at once; without it,
        # within SHOPDB_AUTH_CACHE_SECONDS.
        cache = AccessCache(0)
        database.after_commit.append(AccessInvalidation(lambda: cache, redis).after_commit)
        try:
            async with database.session() as session:
                user = await set_password(session, email, password)
                return user.id
        finally:
            if redis is not None:
                await redis.aclose()
            await database.dispose()

    user_id = _run_or_exit(work)
    typer.echo(f"New password set for user {user_id}; the tokens issued before no longer work.")


def _run_or_exit(work: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    """Run `work`; a refusal (ShopdbError) is printed to stderr and exits with code 1."""
    from shopdb.errors import ShopdbError

    try:
        return _run(work)
    except ShopdbError as exc:
        detail = "; ".join(f"{d['field']}: {d['message']}" for d in exc.details)
        typer.echo(f"error: {exc.message}{' (' + detail + ')' if detail else ''}", err=True)
        raise typer.Exit(code=1) from exc


if __name__ == "__main__":
    app()
