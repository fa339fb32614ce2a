"""`make bench-scale` (issue 18): the list scenarios at 10,000 and 300,000 products, cache off
and on, in one run; bench/results/<date>-scale[-label].json and issue 18's table and targets.

    .venv/bin/python -m bench.scale [--duration 10] [--sizes 10000,300000] [--fresh] ...

Each size has its own database (`shopdb_bench_10k`, `shopdb_bench_300k`) and var dir
(var/bench/<database>: the bench admin's password and the PII keys of that seed), reused when
it holds the same seed (its spec is the database's comment) unless `--fresh`. For each size the
server starts twice as `make bench` starts it (bench/run.py, bench/server.py): without
SHOPDB_REDIS_URL (cache off), then with a Redis db of its own, flushed first (cache on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

from bench import env as machine
from bench import plans, report, scale_report
from bench.env import ROOT, SetupError, log
from bench.fixtures import Fixtures
from bench.run import (
    PG_HOST,
    PG_PORT,
    README,
    REDIS_HOST,
    REDIS_PORT,
    RESULTS_DIR,
    VAR_DIR,
    command_line,
    create_seeded_database,
    dsn,
    environment,
    login,
    results_path,
    run_scenario,
    server_environment,
)
from bench.scale_fixtures import DEEP_POSITION, PAGE_SIZE, build_scale, deep_page
from bench.scenarios import Scenario
from bench.server import Server
from bench.wrk import WrkError

SEED_MARK = "shopdb bench seed "
CACHE_ON_ONLY = frozenset(scale_report.MIXES)

SCALE_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "detail", "GET /products/{id}, random ids (the control)", "detail", ("product_detail",)
    ),
    Scenario("list_first", "GET /products?pageSize=20, page 1", "list_first", ("product_list",)),
    Scenario(
        "offset_deep",
        f"page {deep_page()} of 20 (position {DEEP_POSITION:,})",
        "offset_deep",
        ("product_list",),
    ),
    Scenario(
        "cursor_deep",
        f"the cursor page at position {DEEP_POSITION:,}",
        "cursor_deep",
        ("product_cursor",),
    ),
    Scenario("search", "q=<word with hits>", "search", ("product_search",)),
    Scenario("vendor_title", "vendor=<one of 20>&sortBy=title", "vendor_title", ("product_list",)),
    Scenario("status_title", "status=active&sortBy=title", "status_title", ("product_list",)),
    Scenario(
        "lists_only",
        "the six list shapes above in equal shares (cache on only)",
        "lists",
        ("product_list",),
        track_status=True,
    ),
    Scenario(
        "lists_put",
        "the same with 5% product PUTs (bodyHtml edits; cache on only)",
        "lists_put",
        ("product_list", "product_update"),
        track_status=True,
    ),
)


def _ints(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from exc
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"need positive integers: {text!r}")
    return values


def _caches(text: str) -> list[str]:
    caches = [part.strip() for part in text.split(",") if part.strip()]
    if not caches or any(c not in scale_report.CACHES for c in caches):
        raise argparse.ArgumentTypeError(f"caches are 'off', 'on' or 'off,on', not {text!r}")
    return [c for c in scale_report.CACHES if c in caches]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.scale", description=__doc__)
    parser.add_argument(
        "--sizes", type=_ints, default=[10_000, 300_000], help="products per catalog"
    )
    parser.add_argument("--caches", type=_caches, default=["off", "on"])
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--locations", type=int, default=2)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--duration", type=int, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=2, help="unrecorded seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--timeout",
        dest="wrk_timeout",
        type=int,
        default=5,
        help="wrk's request timeout in seconds: counted as an error once it passes within the "
        "run, so keep it below --duration",
    )
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--database-prefix", default="shopdb_bench")
    parser.add_argument(
        "--redis-dbs",
        type=_ints,
        default=[9, 10],
        help="Redis db of each size's cache-on runs, flushed before each",
    )
    parser.add_argument("--scenarios", default="", help="comma-separated subset")
    parser.add_argument("--fresh", action="store_true", help="seed again even if a seed matches")
    parser.add_argument("--skip-plans", action="store_true", help="no EXPLAIN of the largest size")
    parser.add_argument("--label", default="", help="results file suffix, for before/after runs")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md as is")
    parser.add_argument("--render", metavar="RESULTS_JSON", help="only re-evaluate a results file")
    args = parser.parse_args(argv)
    args.mixed_duration = args.duration  # run_scenario's knob for `mixed`, unused here
    if len(args.redis_dbs) < len(args.sizes):
        parser.error("--redis-dbs needs one Redis db per size")
    args.scenario_list = select([n for n in args.scenarios.split(",") if n])
    return args


def select(names: list[str]) -> list[Scenario]:
    if not names:
        return list(SCALE_SCENARIOS)
    known = {s.name for s in SCALE_SCENARIOS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; known: {sorted(known)}")
    return [s for s in SCALE_SCENARIOS if s.name in names]


def plan(args: argparse.Namespace) -> list[tuple[int, str, list[Scenario]]]:
    """(size, cache, scenarios) in the order they run; the mixes only with the cache on."""
    steps = []
    for size in args.sizes:
        for cache in args.caches:
            chosen = [s for s in args.scenario_list if cache == "on" or s.name not in CACHE_ON_ONLY]
            if chosen:
                steps.append((size, cache, chosen))
    return steps


def database_name(prefix: str, products: int) -> str:
    return f"{prefix}_{scale_report.size_label(products)}"


def seed_spec(args: argparse.Namespace, products: int) -> dict[str, int]:
    return {
        "products": products,
        "variants": args.variants,
        "locations": args.locations,
        "customers": args.customers,
        "seed": args.seed,
    }


def seed_comment(spec: dict[str, int]) -> str:
    return SEED_MARK + json.dumps(spec, sort_keys=True)


def seeded_as(comment: str | None, spec: dict[str, int]) -> bool:
    return comment == seed_comment(spec)


async def database_comment(database: str) -> str | None:
    connection = await asyncpg.connect(dsn("postgres"))
    try:
        comment: str | None = await connection.fetchval(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            database,
        )
    finally:
        await connection.close()
    return comment


async def mark_seeded(database: str, spec: dict[str, int]) -> None:
    connection = await asyncpg.connect(dsn("postgres"))
    try:
        quoted = seed_comment(spec).replace("'", "''")
        await connection.execute(f"COMMENT ON DATABASE \"{database}\" IS '{quoted}'")
    finally:
        await connection.close()


async def ensure_seeded(
    args: argparse.Namespace, database: str, var_dir: Path, spec: dict[str, int]
) -> dict[str, Any]:
    from shopdb.bench.seed import CREDENTIALS_FILE

    env = server_environment(database, var_dir, None)
    comment = await database_comment(database)
    if not args.fresh and seeded_as(comment, spec) and (var_dir / CREDENTIALS_FILE).exists():
        log(f"reusing {database} ({comment})")
        machine.shopdb(["migrate"], env)  # the code may have moved on since the seed
        machine.shopdb(["bench", "store-documents"], env)  # a store reads them after a load
        return {"reused": True}
    _make_dir(var_dir)
    done = await create_seeded_database(database, env, spec)
    await mark_seeded(database, spec)
    return {"reused": False, **done}


def _make_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


async def product_ids(database: str) -> list[int]:
    connection = await asyncpg.connect(dsn(database))
    try:
        rows = await connection.fetch(
            "SELECT id FROM products WHERE deleted_at IS NULL ORDER BY id"
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


def flush_redis(db: int) -> None:
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db)
    try:
        client.flushdb()
    finally:
        client.close()


async def measure(
    scenario: Scenario, fixtures: Fixtures, server: Server, token: str, args: argparse.Namespace
) -> dict[str, Any]:
    """run_scenario's figures, or the scenario's failure: never dropped from the results."""
    try:
        return await run_scenario(scenario, fixtures, server, token, args)
    except (WrkError, OSError) as exc:
        log(f"{scenario.name}: error: {exc}")
        return {"title": scenario.title, "error": str(exc)[:500]}


async def run_size(
    args: argparse.Namespace,
    products: int,
    redis_db: int,
    steps: list[tuple[str, list[Scenario]]],
    results: dict[str, Any],
) -> None:
    label = scale_report.size_label(products)
    database = database_name(args.database_prefix, products)
    var_dir = VAR_DIR / database
    fixtures: Fixtures | None = None
    for cache, scenarios in steps:
        redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}" if cache == "on" else None
        if redis_url:
            flush_redis(redis_db)
        env = server_environment(database, var_dir, redis_url)
        log_path = VAR_DIR / "scale" / f"server-{label}-{cache}.log"
        server = Server(env, "127.0.0.1", args.port, args.workers, log_path)
        key = scale_report.run_key(label, cache)
        run: dict[str, Any] = {"database": database, "redis_url": redis_url, "scenarios": {}}
        results["runs"][key] = run
        log(f"{key}: starting the server ({f'Redis db {redis_db}' if redis_url else 'no Redis'})")
        try:
            server.start()
            token = await login(server.base_url, var_dir)
        except (SetupError, httpx.HTTPError) as exc:
            # Recorded against every scenario of the run, so its targets say why.
            log(f"{key}: the server did not start or refused the bench admin: {exc}")
            server.stop()
            for scenario in scenarios:
                run["scenarios"][scenario.name] = {"title": scenario.title, "error": str(exc)[:500]}
            continue
        try:
            if fixtures is None:
                started = time.monotonic()
                try:
                    fixtures = await build_scale(
                        VAR_DIR / "scale" / "requests" / label,
                        server.base_url,
                        token,
                        await product_ids(database),
                        args.seed,
                    )
                except httpx.HTTPError as exc:
                    log(f"{key}: building the request files failed: {exc!r}")
                    for scenario in scenarios:
                        run["scenarios"][scenario.name] = {
                            "title": scenario.title,
                            "error": f"request files: {exc!r}"[:500],
                        }
                    continue
                results["fixtures"][label] = {
                    **fixtures.notes,
                    "capabilities": fixtures.capabilities,
                    "seconds": round(time.monotonic() - started, 1),
                }
            for scenario in scenarios:
                run["scenarios"][scenario.name] = await measure(
                    scenario, fixtures, server, token, args
                )
        finally:
            server.stop()


def render(path: Path, *, update: bool) -> int:
    results = json.loads(path.read_text())
    results["targets"] = scale_report.evaluate(results)
    report.write_results(results, path)
    table = scale_report.markdown(results, str(path.resolve().relative_to(ROOT)))
    if update:
        report.update_readme(README, table, scale_report.START_MARK, scale_report.END_MARK)
    print(table)
    return 0


async def main_async(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.render:
        return render(Path(args.render), update=not args.no_readme)
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    machine.ensure_postgres(PG_HOST, PG_PORT)
    machine.ensure_redis(REDIS_HOST, REDIS_PORT)
    machine.ensure_tool("wrk", "wrk")
    results: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": command_line(argv, "bench-scale", "BENCH_SCALE_ARGS", "bench.scale"),
        "config": {
            "sizes": args.sizes,
            "caches": args.caches,
            "variants": args.variants,
            "locations": args.locations,
            "customers": args.customers,
            "seed": args.seed,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "wrk_timeout_s": args.wrk_timeout,
            "workers": args.workers,
            "page_size": PAGE_SIZE,
            "deep_position": DEEP_POSITION,
        },
        "environment": await environment(),
        "sizes": [],
        "titles": {s.name: s.title for s in SCALE_SCENARIOS},
        "seed": {},
        "fixtures": {},
        "runs": {},
    }
    for products in args.sizes:
        database = database_name(args.database_prefix, products)
        spec = seed_spec(args, products)
        results["sizes"].append(
            {"products": products, "label": scale_report.size_label(products), "database": database}
        )
        results["seed"][database] = await ensure_seeded(args, database, VAR_DIR / database, spec)
    steps = plan(args)
    for products, redis_db in zip(args.sizes, args.redis_dbs, strict=False):
        mine = [(cache, scenarios) for size, cache, scenarios in steps if size == products]
        await run_size(args, products, redis_db, mine, results)
    day = started_at.date().isoformat()
    label = f"scale-{args.label}" if args.label else "scale"
    path = results_path(RESULTS_DIR, day, label)
    if not args.skip_plans:
        largest = max(args.sizes)
        database = database_name(args.database_prefix, largest)
        plans_path = path.with_name(path.stem + "-plans.txt")
        try:
            await plans.capture(
                plans_path,
                database,
                server_environment(database, VAR_DIR / database, None),
                VAR_DIR / database,
                args.port,
            )
            results["plans"] = str(plans_path.relative_to(ROOT))
        except (SetupError, OSError, plans.PlanError) as exc:
            log(f"query plans not captured: {exc}")
            results["plans"] = f"not captured: {exc}"
    results["total_s"] = round(time.monotonic() - clock, 1)
    results["targets"] = scale_report.evaluate(results)
    report.write_results(results, path)
    log(f"results in {path.relative_to(ROOT)}")
    table = scale_report.markdown(results, str(path.relative_to(ROOT)))
    if not args.no_readme:
        report.update_readme(README, table, scale_report.START_MARK, scale_report.END_MARK)
        log(f"scale table updated in {README.relative_to(ROOT)}")
    print(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return asyncio.run(main_async(sys.argv[1:] if argv is None else argv))
    except SetupError as exc:
        log(f"error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
