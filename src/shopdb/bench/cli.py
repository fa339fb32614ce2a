"""`shopdb bench ...`: commands the benchmark suite (bench/run.py) drives."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

import typer

bench_app = typer.Typer(help="Benchmark support: load a large deterministic data set.")


@bench_app.command("seed")
def seed(
    products: Annotated[int, typer.Option(min=0, help="Products to create.")] = 10_000,
    variants: Annotated[int, typer.Option(min=1, max=24, help="Variants per product.")] = 3,
    locations: Annotated[int, typer.Option(min=1, help="Stock locations.")] = 2,
    customers: Annotated[int, typer.Option(min=0, help="Customers to create.")] = 1_000,
    images: Annotated[int, typer.Option(min=0, help="Images per product.")] = 1,
    orders: Annotated[int, typer.Option(min=0, help="Historical orders to create.")] = 20_000,
    lifecycle_orders: Annotated[
        int,
        typer.Option(
            min=0, help="Authorized, unfulfilled orders with committed stock (order_lifecycle)."
        ),
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 42,
) -> None:
    """Bulk-load products, variants, inventory, customers and orders into an empty, migrated
    database.

    Also creates the bench admin user; its password goes to var/bench-admin.json (mode 0600).
    """
    from shopdb.bench.seed import CREDENTIALS_FILE, SeedResult, SeedSpec, write_credentials
    from shopdb.config import get_settings
    from shopdb.errors import ShopdbError

    settings = get_settings()
    spec = SeedSpec(
        products=products,
        variants=variants,
        locations=locations,
        customers=customers,
        images=images,
        seed=seed,
        orders=orders,
        lifecycle_orders=lifecycle_orders,
    )
    started = time.perf_counter()
    with typer.progressbar(length=products + customers, label="Seeding") as bar:

        async def work() -> SeedResult:
            from shopdb.bench.seed import seed_bench, vacuum_analyze
            from shopdb.catalog.read_model.stored import store_all_documents
            from shopdb.db import create_engine
            from shopdb.keys import field_cipher
            from shopdb.orders.stored import store_all_order_documents

            engine = create_engine(settings.database_url, settings)
            try:
                async with engine.begin() as connection:
                    result = await seed_bench(
                        connection, field_cipher(settings), spec, progress=bar.update
                    )
                await vacuum_analyze(engine)
                # As the first reads of the catalog and of the orders would.
                await store_all_documents(engine)
                await store_all_order_documents(engine)
                return result
            finally:
                await engine.dispose()

        try:
            result = asyncio.run(work())
        except ShopdbError as exc:
            typer.echo(f"\nerror: {exc.message}", err=True)
            raise typer.Exit(code=1) from exc
    credentials = settings.var_dir / CREDENTIALS_FILE
    write_credentials(credentials, result.admin_email, result.admin_password)
    counts = result.counts
    typer.echo(
        f"Seeded {counts.get('products', 0)} products, {counts.get('product_variants', 0)} "
        f"variants, {counts.get('inventory_levels', 0)} inventory levels at {locations} "
        f"location(s), {counts.get('customers', 0)} customers, {counts.get('orders', 0)} orders "
        f"({lifecycle_orders} of them authorized for the lifecycle benchmark) "
        f"in {time.perf_counter() - started:.1f} s (seed {seed})."
    )
    typer.echo(f"Bench admin {result.admin_email}: password in {credentials} (mode 0600).")


@bench_app.command("store-documents")
def store_documents() -> None:
    """Build and store every product's and every placed order's documents that are not
    current (PostgreSQL): what the first reads after a bulk load or an upgrade would do one by
    one."""
    from shopdb.catalog.read_model.stored import store_all_documents
    from shopdb.config import get_settings
    from shopdb.db import create_engine
    from shopdb.orders.stored import store_all_order_documents

    settings = get_settings()

    async def work() -> tuple[int, int]:
        engine = create_engine(settings.database_url, settings)
        try:
            return await store_all_documents(engine), await store_all_order_documents(engine)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    products, orders = asyncio.run(work())
    typer.echo(
        f"Read {products} products' and {orders} orders' documents in "
        f"{time.perf_counter() - started:.1f} s."
    )
