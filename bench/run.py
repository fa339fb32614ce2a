"""`make bench`: PostgreSQL, Redis and wrk up; a fresh seeded database; pgbench; the server;
the scenarios; bench/results/<date>.json and the table in bench/README.md.

    .venv/bin/python -m bench.run [--duration 15] [--scenarios ceiling,product_detail] ...
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import env as machine
from bench import fanout, lifecycle, procs, report
from bench.baseline import run_pgbench
from bench.checker import Checker, FlashSaleRun
from bench.env import ROOT, SetupError, log
from bench.fixtures import Fixtures, build
from bench.lean_http import LeanClient
from bench.scenarios import Scenario, by_name
from bench.server import JobWorkers, Server
from bench.wrk import WrkRun, run_wrk
from shopdb.bench.endpoints import BODY as CEILING_BODY

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
RESULTS_DIR = ROOT / "bench" / "results"
README = ROOT / "bench" / "README.md"
VAR_DIR = ROOT / "var" / "bench"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--locations", type=int, default=2)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--lifecycle-orders",
        type=int,
        default=10_000,
        help="authorized orders seeded for order_lifecycle (it stops when they run out)",
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--mixed-duration", type=int, default=60)
    parser.add_argument(
        "--fanout-duration", type=int, default=30, help="seconds of orders in webhook_fanout"
    )
    parser.add_argument(
        "--fanout-drain",
        type=int,
        default=60,
        help="webhook_fanout: seconds to wait after the load for every delivery to arrive",
    )
    parser.add_argument(
        "--fanout-workers", type=int, default=1, help="`shopdb worker` processes in webhook_fanout"
    )
    parser.add_argument("--warmup", type=int, default=2, help="unrecorded seconds before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--max-requests",
        type=int,
        default=1_000_000,
        help="a scenario also stops after this many requests (a bound besides its duration)",
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database", default="shopdb_bench")
    parser.add_argument("--scenarios", default="", help="comma-separated subset")
    parser.add_argument("--pgbench-duration", type=int, default=15)
    parser.add_argument("--skip-pgbench", action="store_true")
    parser.add_argument(
        "--reuse-database", action="store_true", help="keep the seeded database of a previous run"
    )
    parser.add_argument(
        "--flash-sale-keys",
        choices=("on", "off"),
        default="on",
        help="whether the flash sale's orders carry an Idempotency-Key (as a storefront's do)",
    )
    parser.add_argument("--label", default="", help="results file suffix, for before/after runs")
    # A trial run beside someone else's (tests of the suite itself): its own credentials,
    # request files and results, its own Redis database.
    parser.add_argument("--var-dir", type=Path, default=VAR_DIR, help="keys, bench admin, logs")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--redis-db", type=int, default=0)
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md as is")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="the catalog scenarios (or --scenarios) with the server run without Redis, so "
        "without the cache: what the stored documents alone give; results labelled no-cache",
    )
    parser.add_argument(
        "--render",
        metavar="RESULTS_JSON",
        help="only re-evaluate a results file and redo the table",
    )
    return parser.parse_args(argv)


def command_line(
    argv: list[str], target: str = "bench", variable: str = "BENCH_ARGS", module: str = "bench.run"
) -> str:
    if os.environ.get("MAKELEVEL"):
        extra = os.environ.get(variable, "").strip()
        return f"make {target}" + (f" {variable}={shlex.quote(extra)}" if extra else "")
    return " ".join([f"python -m {module}", *map(shlex.quote, argv)])


def dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def server_environment(database: str, var_dir: Path, redis_url: str | None) -> dict[str, str]:
    """The server's (and `shopdb` commands') environment; `redis_url=None` runs without Redis,
    so without the product cache."""
    env = {
        **os.environ,
        "SHOPDB_ENV": "development",
        "SHOPDB_DATABASE_URL": dsn(database),
        "SHOPDB_VAR_DIR": str(var_dir),
        "SHOPDB_RATE_LIMIT_BURST": "0",
        "SHOPDB_BENCH_ROUTES": "true",
        # As the README recommends for production: one JSON line per request (orjson).
        "SHOPDB_LOG_JSON": "true",
    }
    env.pop("SHOPDB_REDIS_URL", None)
    if redis_url:
        env["SHOPDB_REDIS_URL"] = redis_url
    return env


# What `--no-cache` runs unless told otherwise: the catalog reads and their denominator.
NO_CACHE_SCENARIOS = (
    "ceiling",
    "product_detail",
    "product_list",
    "cursor_first",
    "cursor_deep",
    "search",
    "ceiling_repeat",
)
NO_CACHE_MARKS = ("<!-- bench:no-cache:start -->", "<!-- bench:no-cache:end -->")


def server_env(args: argparse.Namespace) -> dict[str, str]:
    redis_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{getattr(args, 'redis_db', 0)}"
    return server_environment(
        args.database,
        getattr(args, "var_dir", VAR_DIR),
        None if getattr(args, "no_cache", False) else redis_url,
    )


def _output(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    except FileNotFoundError:
        return "?"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "?"
    )


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


async def environment() -> dict[str, Any]:
    import asyncpg
    import redis

    connection = await asyncpg.connect(dsn("postgres"))
    try:
        postgres = await connection.fetchval("SHOW server_version")
        autovacuum = await connection.fetchval("SHOW autovacuum")
    finally:
        await connection.close()
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        redis_version = str(client.info("server")["redis_version"])
    finally:
        client.close()
    status = _output(["git", "status", "--porcelain", "--untracked-files=no"])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / procs.MIB),
        "python": platform.python_version(),
        "postgres": postgres,
        # Off, dead rows and GIN pending-list entries left by the write scenarios (every
        # adjustment rewrites a variant row) stay for the rest of the run: what comes after
        # them (mixed) measures a server that production would have vacuumed meanwhile.
        "postgres_autovacuum": autovacuum,
        "redis": redis_version,
        "wrk": _output(["wrk", "-v"]).split(" [")[0],
        "git_commit": _output(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": status not in ("", "?"),
    }


async def login(base_url: str, var_dir: Path = VAR_DIR) -> str:
    from shopdb.bench.seed import CREDENTIALS_FILE, read_credentials

    email, password = read_credentials(var_dir / CREDENTIALS_FILE)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        response = await client.post(
            "/api/v1/auth/token", json={"email": email, "password": password}
        )
    if response.status_code != 200:
        raise SetupError(f"bench admin login failed: {response.status_code} {response.text[:300]}")
    return str(response.json()["accessToken"])


def seed_spec(args: argparse.Namespace) -> dict[str, int]:
    """What `shopdb bench seed` is given: with the database, what a seeded catalog is."""
    return {
        "products": args.products,
        "variants": args.variants,
        "locations": args.locations,
        "customers": args.customers,
        "seed": args.seed,
        "lifecycle-orders": getattr(args, "lifecycle_orders", 10_000),
    }


def seed_command(spec: dict[str, int]) -> list[str]:
    return ["bench", "seed", *(f"--{name}={value}" for name, value in spec.items())]


async def create_seeded_database(
    database: str, env: dict[str, str], spec: dict[str, int]
) -> dict[str, Any]:
    """A fresh database, migrated and seeded (`env` names it and the var dir for the keys)."""
    log(f"creating database {database}")
    await machine.recreate_database(dsn("postgres"), database)
    machine.shopdb(["migrate"], env)
    seed_started = time.monotonic()
    out = machine.shopdb(seed_command(spec), env)
    log(out.strip().splitlines()[-2] if out.strip() else "seeded")
    return {"seconds": round(time.monotonic() - seed_started, 1)}


async def run_scenario(
    scenario: Scenario,
    fixtures: Fixtures,
    server: Server,
    token: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    missing = [need for need in scenario.needs if not fixtures.has(need)]
    wrk_file = scenario.driver != "wrk" or scenario.requests in fixtures.files
    if missing or not wrk_file:
        reason = "; ".join(f"{n}: {fixtures.capabilities.get(n, 'not probed')}" for n in missing)
        log(f"{scenario.name}: skipped ({reason or 'no request file'})")
        return {"title": scenario.title, "skipped": reason or "no request file"}
    if scenario.driver == "flash_sale":
        return await run_flash_sale(scenario, fixtures, server, token, args)
    if scenario.driver == "order_lifecycle":
        return await run_order_lifecycle(scenario, fixtures, server, token, args)
    if scenario.driver == "webhook_fanout":
        return await run_webhook_fanout(scenario, fixtures, server, token, args)
    duration = args.mixed_duration if scenario.length == "mixed" else args.duration
    run = WrkRun(
        url=server.base_url,
        requests_file=fixtures.files[scenario.requests],
        token=token,
        duration_s=duration,
        connections=scenario.connections or args.connections,
        track_status=scenario.track_status,
        max_requests=args.max_requests,
        # wrk counts a request as timed out only once this passes within the run.
        timeout_s=getattr(args, "wrk_timeout", WrkRun.timeout_s),
    )
    if args.warmup:
        await run_wrk(dataclasses.replace(run, duration_s=args.warmup))
    window = procs.CpuWindow(server.worker_pids())
    window.start()
    checker: Checker | None = None
    result: dict[str, Any]
    if scenario.stale_check:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=30.0
        ) as client:
            checker = Checker(
                client,
                fixtures.checker_product_ids,
                fixtures.location_ids,
                adjust=fixtures.has("inventory_adjust"),
                update=fixtures.has("product_update"),
                seed=args.seed,
                orders=fixtures.orders if fixtures.has("order_create") else None,
            )
            measured = await asyncio.gather(run_wrk(run), checker.run(duration, loops=4))
            result = measured[0]
    else:
        result = await run_wrk(run)
    cpu = window.stop()
    # Whatever else the (shared) machine ran meanwhile: the noise this run's figures carry.
    # CPU per request is what the code costs, whatever else ran: steadier than req/s here.
    _account_cpu(result, cpu)
    result.update(title=scenario.title, cpu=cpu, server=server.memory())
    result["connections"] = run.connections
    if result["requests"] >= args.max_requests:
        result["stopped_at_max_requests"] = True
        # wrk then idles to the end of --duration: its req/s understates the server's.
        log(
            f"{scenario.name}: stopped sending at --max-requests={args.max_requests} before "
            f"{duration} s; its req/s is not a measurement"
        )
    if checker is not None:
        result["checker"] = checker.stats.summary(
            cpu["wall_s"], cpu["runner_cpu_cores"] * cpu["wall_s"]
        )
        result["write_share"] = fixtures.notes.get("mixed", {}).get("write_share", 0.0)
    latency = result["latency_ms"]
    log(
        f"{scenario.name}: {result['rps']:.0f} req/s, p50 {latency['p50']} ms, "
        f"p99 {latency['p99']} ms, errors {result['errors']['total']}, "
        f"wrk {result['load_generator']['cpu_cores']:.2f} cores, "
        f"RSS max {result['server']['rss_mib_max_worker']} MiB"
    )
    return result


def _account_cpu(result: dict[str, Any], cpu: dict[str, Any]) -> None:
    """The CPU of processes outside the benchmark, and the server's CPU per request."""
    accounted = (
        cpu["server_cpu_cores"]
        + cpu["postgres_cpu_cores"]
        + cpu["runner_cpu_cores"]
        + result["load_generator"]["cpu_cores"]
    )
    busy_cores = cpu["machine_busy_share"] * (os.cpu_count() or 1)
    cpu["other_cpu_cores"] = round(max(0.0, busy_cores - accounted), 2)
    if result["rps"]:
        cpu["server_cpu_ms_per_request"] = round(1000 * cpu["server_cpu_cores"] / result["rps"], 2)


async def run_flash_sale(
    scenario: Scenario,
    fixtures: Fixtures,
    server: Server,
    token: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """No warm-up (it would sell the stock): the rounds of bench/checker.py's FlashSaleRun."""
    orders, flash = fixtures.orders, fixtures.orders.flash if fixtures.orders else None
    if orders is None or flash is None:
        return {"title": scenario.title, "skipped": "no variant set aside for the flash sale"}
    window = procs.CpuWindow(server.worker_pids())
    window.start()
    sale = FlashSaleRun(
        server.base_url,
        token,
        dsn(args.database),
        orders,
        flash,
        seed=args.seed,
        buyers=scenario.connections or 200,
        idempotency_keys=getattr(args, "flash_sale_keys", "on") == "on",
    )
    result = await sale.run()
    cpu = window.stop()
    # The runner is the load generator here: counted once, as the load generator.
    cpu["runner_cpu_cores"] = 0.0
    _account_cpu(result, cpu)
    result.update(title=scenario.title, cpu=cpu, server=server.memory())
    result["connections"] = sale.buyers
    rounds = result["flash_sale"]["rounds"]
    latency = result["latency_ms"]
    log(
        f"{scenario.name}: sold {[r['sold'] for r in rounds]} of {result['flash_sale']['stock']} "
        f"per round, statuses {result['statuses']}, p50 {latency['p50']} ms, "
        f"p99 {latency['p99']} ms, socket errors {result['errors']['socket']}"
    )
    return result


async def run_order_lifecycle(
    scenario: Scenario,
    fixtures: Fixtures,
    server: Server,
    token: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """bench/lifecycle.py's workers for the warm-up (unrecorded, but its orders are
    reconciled too) and --duration, then the reconciliation of every order they touched."""
    orders = fixtures.lifecycle_orders
    connections = scenario.connections or 16
    engine = lifecycle.engine_for(dsn(args.database))
    try:
        async with engine.connect() as connection:
            before = await lifecycle.snapshot(connection, orders)
        async with LeanClient(
            server.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
            max_connections=connections,
        ) as client:
            run = lifecycle.LifecycleRun(client, orders, connections=connections)
            if args.warmup:
                await run.drive(args.warmup)
            window = procs.CpuWindow(server.worker_pids())
            window.start()
            cpu_before = lifecycle.cpu_seconds()
            recorder, wall, begun = await run.drive(args.duration)
            runner_cpu = lifecycle.cpu_seconds() - cpu_before
            cpu = window.stop()
        result = lifecycle.summarise(recorder, wall, begun, runner_cpu, connections)
        async with engine.connect() as connection:
            reconciled = await lifecycle.reconcile(connection, run.outcomes, before)
    finally:
        await engine.dispose()
    # The runner is the load generator here: counted once, as the load generator.
    cpu["runner_cpu_cores"] = 0.0
    _account_cpu(result, cpu)
    result.update(title=scenario.title, cpu=cpu, server=server.memory())
    result["connections"] = connections
    details = result["lifecycle"]
    details["reconciliation"] = reconciled.summary()
    details["orders_touched"] = len(run.outcomes)
    details["orders_completed"] = sum(1 for o in run.outcomes if o.complete)
    if len(run.outcomes) == len(orders):
        details["ran_out_of_orders"] = True
        log(
            f"{scenario.name}: all {len(orders)} seeded lifecycle orders were used before the "
            "end: seed more (--lifecycle-orders) for a full measurement"
        )
    latency = result["latency_ms"]
    log(
        f"{scenario.name}: {result['rps']:.0f} ops/s ({details['orders_per_s']:.1f} orders/s), "
        f"p50 {latency['p50']} ms, p99 {latency['p99']} ms, statuses {result['statuses']}, "
        f"errors {result['errors']['total']}; reconciled {reconciled.reconciled} of "
        f"{reconciled.orders} orders, {reconciled.levels_reconciled} of {reconciled.levels} "
        "levels"
    )
    return result


async def _work_off_backlog(
    engine: AsyncEngine, workers: JobWorkers, seconds: float = 120.0
) -> tuple[float, int]:
    """Wait until the workers have run the jobs earlier scenarios queued (order_place's
    confirmation emails), so that the measured window sees this scenario's work only."""
    started = time.monotonic()
    left = 0
    while time.monotonic() - started < seconds:
        if not workers.alive():
            raise SetupError("shopdb worker exited early; see its log")
        async with engine.connect() as connection:
            left = await fanout.jobs_due(connection)
        if not left:
            break
        await asyncio.sleep(0.5)
    return round(time.monotonic() - started, 1), left


async def _mark(engine: AsyncEngine) -> fanout.Mark:
    async with engine.connect() as connection:
        return await fanout.mark(connection)


async def run_webhook_fanout(
    scenario: Scenario,
    fixtures: Fixtures,
    server: Server,
    token: str,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """order_place's requests through wrk (warm-up, then --fanout-duration) with
    fanout.SUBSCRIPTIONS subscriptions to orders/create on the runner's receiver and
    --fanout-workers `shopdb worker` processes sending; then up to --fanout-drain seconds for
    the outbox to drain, and the tally of what arrived against what the database holds."""
    run = WrkRun(
        url=server.base_url,
        requests_file=fixtures.files[scenario.requests],
        token=token,
        duration_s=args.fanout_duration,
        connections=scenario.connections or args.connections,
        track_status=True,
        max_requests=args.max_requests,
        timeout_s=getattr(args, "wrk_timeout", WrkRun.timeout_s),
    )
    # Development allows private addresses already; said explicitly, the receiver is local.
    workers_env = {**server_env(args), "SHOPDB_WEBHOOK_ALLOW_PRIVATE": "true"}
    workers = JobWorkers(workers_env, args.fanout_workers, args.var_dir / "worker.log")
    receiver = fanout.Receiver()
    await receiver.start()
    engine = lifecycle.engine_for(dsn(args.database))
    subscriptions: list[fanout.Subscription] = []
    async with httpx.AsyncClient(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
    ) as client:
        try:
            state = await fanout.probe(client)
            if state == "ok":
                try:
                    subscriptions = await fanout.subscribe(client, receiver, fanout.SUBSCRIPTIONS)
                except fanout.FanoutUnavailable as exc:
                    state = str(exc)
            if state != "ok":
                log(f"{scenario.name}: skipped ({state})")
                return {"title": scenario.title, "skipped": state}
            workers.start()
            backlog_s, backlog_left = await _work_off_backlog(engine, workers)
            log(f"{scenario.name}: workers ready after {backlog_s} s ({backlog_left} jobs left)")
            await fanout.settle(lambda: _mark(engine))  # order_place's last placements
            since = await _mark(engine)
            if args.warmup:
                await run_wrk(dataclasses.replace(run, duration_s=args.warmup))
            window = procs.CpuWindow(server.worker_pids())
            window.start()
            worker_cpu = workers.cpu_seconds()
            result = await run_wrk(run)
            cpu = window.stop()
            cpu["webhook_worker_cpu_cores"] = round(
                (workers.cpu_seconds() - worker_cpu) / cpu["wall_s"], 3
            )
            stopped = time.time()
            settled = await fanout.settle(lambda: _mark(engine))
            async with engine.connect() as connection:
                expected = await fanout.expected_deliveries(connection, since, subscriptions)
                # The jobs (confirmation emails) the workers left for later: they wait while
                # deliveries are behind. Their work is reported, not left out.
                jobs_at_end = await fanout.jobs_due(connection)
            waited = await fanout.wait_for(receiver, expected, args.fanout_drain)
            tally = fanout.tally(expected, receiver.first_arrivals())
            async with engine.connect() as connection:
                statuses = await fanout.delivery_statuses(connection, subscriptions)
            jobs_cpu = workers.cpu_seconds()
            jobs_drain_s, jobs_left = await _work_off_backlog(engine, workers)
            jobs_cpu = workers.cpu_seconds() - jobs_cpu
            worker_rss = workers.rss_mib()
            workers_survived = workers.alive()
        finally:
            # In a thread: the loop must keep answering the sends the workers finish.
            await asyncio.to_thread(workers.stop)
            await fanout.unsubscribe(client, subscriptions)
            await receiver.close()
            await engine.dispose()
    _account_cpu(result, cpu)
    # The workers are part of what is measured, not other load.
    cpu["other_cpu_cores"] = round(
        max(0.0, cpu["other_cpu_cores"] - cpu["webhook_worker_cpu_cores"]), 2
    )
    result.update(title=scenario.title, cpu=cpu, server=server.memory())
    result["connections"] = run.connections
    result["fanout"] = {
        "subscriptions": len(subscriptions),
        "topic": fanout.TOPIC,
        "workers": args.fanout_workers,
        "worker_rss_mib_max": worker_rss,
        "workers_survived": workers_survived,
        "backlog_s": backlog_s,
        "backlog_left": backlog_left,
        "orders": expected.orders,
        "events": len(expected.events),
        **tally.summary(),
        "bad_signatures": receiver.bad_signatures,
        "duplicates": receiver.duplicates,
        "malformed": receiver.malformed,
        "requests_received": receiver.requests,
        "settled_s": settled,
        "drain_limit_s": args.fanout_drain,
        "waited_s": waited,
        "last_arrival_after_load_s": round(max(0.0, receiver.last_arrival - stopped), 2),
        "deliveries_by_status": statuses,
        "jobs_due_at_end": jobs_at_end,
        "jobs_drain_s": jobs_drain_s,
        "jobs_drain_cpu_s": round(jobs_cpu, 2),
        "jobs_left": jobs_left,
    }
    details, latency = result["fanout"], result["latency_ms"]
    log(
        f"{scenario.name}: {result['rps']:.0f} orders/s, p99 {latency['p99']} ms, "
        f"statuses {result['statuses']}; {details['delivered']} of {details['expected']} "
        f"deliveries ({details['orders']} orders x {len(subscriptions)}), delivery p50 "
        f"{details['latency_ms']['p50']} ms, p99 {details['latency_ms']['p99']} ms, "
        f"{receiver.bad_signatures} bad signatures, {receiver.duplicates} duplicates, "
        f"worker {cpu['webhook_worker_cpu_cores']} cores"
    )
    return result


def results_path(directory: Path, day: str, label: str) -> Path:
    """<day>[-label].json, or -2, -3 ... after it: a second run the same day keeps the first."""
    stem = f"{day}-{label}" if label else day
    path, number = directory / f"{stem}.json", 2
    while path.exists():
        path, number = directory / f"{stem}-{number}.json", number + 1
    return path


def render(path: Path, *, update: bool) -> int:
    results = json.loads(path.read_text())
    results["targets"] = report.evaluate(results)
    report.write_results(results, path)
    table = report.markdown(results, str(path.resolve().relative_to(ROOT)))
    if update:
        no_cache = results.get("config", {}).get("cache") == "off"
        report.update_readme(README, table, *(NO_CACHE_MARKS if no_cache else ()))
    print(table)
    return 0


async def main_async(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.render:
        return render(Path(args.render), update=not args.no_readme)
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    chosen = [n for n in args.scenarios.split(",") if n]
    if args.no_cache:
        chosen = chosen or list(NO_CACHE_SCENARIOS)
        args.label = args.label or "no-cache"
    scenarios = by_name(chosen)
    machine.ensure_postgres(PG_HOST, PG_PORT)
    machine.ensure_redis(REDIS_HOST, REDIS_PORT)
    machine.ensure_tool("wrk", "wrk")
    if not args.skip_pgbench:
        machine.ensure_tool("pgbench", "postgresql-client")
    env = server_env(args)
    results: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": command_line(argv),
        "config": {
            "products": args.products,
            "variants": args.variants,
            "locations": args.locations,
            "customers": args.customers,
            "seed": args.seed,
            "lifecycle_orders": args.lifecycle_orders,
            "duration_s": args.duration,
            "mixed_s": args.mixed_duration,
            "fanout_s": args.fanout_duration,
            "fanout_drain_s": args.fanout_drain,
            "fanout_workers": args.fanout_workers,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "max_requests": args.max_requests,
            "workers": args.workers,
            "cache": "off" if args.no_cache else "on",
        },
        "environment": await environment(),
    }
    if results["environment"]["postgres_autovacuum"] != "on":
        log(
            "PostgreSQL runs with autovacuum off: rows the write scenarios leave dead stay "
            "until the end of the run (production vacuums them)"
        )
    if not args.reuse_database:
        results["seed"] = await create_seeded_database(args.database, env, seed_spec(args))
    if not args.skip_pgbench:
        pgbench_db = f"{args.database}_pgbench"
        await machine.recreate_database(dsn("postgres"), pgbench_db)
        results["pgbench"] = run_pgbench(
            PG_HOST,
            PG_PORT,
            PG_USER,
            pgbench_db,
            scale=10,
            clients=8,
            duration_s=args.pgbench_duration,
        )
    server = Server(env, "127.0.0.1", args.port, args.workers, args.var_dir / "server.log")
    server.start()
    try:
        token = await login(server.base_url, args.var_dir)
        fixtures = await build(
            args.var_dir / "requests", server.base_url, token, dsn(args.database), args.seed, 100
        )
        results["capabilities"] = fixtures.capabilities
        results["fixtures"] = fixtures.notes
        results["ceiling_body_bytes"] = len(CEILING_BODY)
        results["scenarios"] = {}
        for scenario in scenarios:
            results["scenarios"][scenario.name] = await run_scenario(
                scenario, fixtures, server, token, args
            )
    finally:
        server.stop()
    results["total_s"] = round(time.monotonic() - clock, 1)
    results["targets"] = report.evaluate(results)
    path = results_path(args.results_dir, started_at.date().isoformat(), args.label)
    report.write_results(results, path)
    shown = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    log(f"results in {shown}")
    table = report.markdown(results, shown)
    if not args.no_readme:
        report.update_readme(README, table, *(NO_CACHE_MARKS if args.no_cache else ()))
        log(f"table updated in {README.relative_to(ROOT)}")
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
