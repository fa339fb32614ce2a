"""Targets as ratios within one run, the results file, and the table in bench/README.md."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Results = dict[str, Any]
START_MARK = "<!-- bench:latest:start -->"
END_MARK = "<!-- bench:latest:end -->"
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}


def _scenario(results: Results, name: str) -> dict[str, Any] | None:
    found = results.get("scenarios", {}).get(name)
    return found if found and "rps" in found else None


def ceiling_rps(results: Results) -> float | None:
    runs = [_scenario(results, n) for n in ("ceiling", "ceiling_repeat")]
    rates = [run["rps"] for run in runs if run]
    return sum(rates) / len(rates) if rates else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _rps(name: str) -> Callable[[Results], float | None]:
    def measure(results: Results) -> float | None:
        run = _scenario(results, name)
        return None if run is None else float(run["rps"])

    return measure


def _latency(name: str, percentile: str) -> Callable[[Results], float | None]:
    def measure(results: Results) -> float | None:
        run = _scenario(results, name)
        if run is None:
            return None
        # A scenario that completed no request has no latency to be proud of.
        return float(run["latency_ms"][percentile]) if run["requests"] else math.inf

    return measure


def _vs_ceiling(name: str) -> Callable[[Results], float | None]:
    return lambda results: _ratio(_rps(name)(results), ceiling_rps(results))


def _vs_pgbench(name: str, builtin: str) -> Callable[[Results], float | None]:
    def measure(results: Results) -> float | None:
        baseline = results.get("pgbench", {}).get(builtin, {}).get("tps")
        return _ratio(_rps(name)(results), baseline)

    return measure


def _cursor_ratio(results: Results) -> float | None:
    return _ratio(_latency("cursor_deep", "p50")(results), _latency("cursor_first", "p50")(results))


def _mixed(field: str) -> Callable[[Results], float | None]:
    def measure(results: Results) -> float | None:
        run = _scenario(results, "mixed")
        if run is None:
            return None
        checker = run.get("checker") or {}
        if field == "stale_reads":
            # No check made is no evidence: report it as not measured rather than as zero.
            return float(checker["stale_reads"]) if checker.get("checks") else None
        return float(run["errors"]["status_5xx"] + checker.get("status_5xx", 0))

    return measure


def _errors(name: str) -> Callable[[Results], float | None]:
    """Non-2xx responses and socket errors (for the flash sale, its 409 sold-out answers
    are not counted: every buyer ends with one)."""

    def measure(results: Results) -> float | None:
        run = _scenario(results, name)
        return None if run is None else float(run["errors"]["total"])

    return measure


def _flash_sale(field: str) -> Callable[[Results], float | None]:
    def measure(results: Results) -> float | None:
        run = _scenario(results, "flash_sale")
        if run is None:
            return None
        sale = run.get("flash_sale") or {}
        rounds = sale.get("rounds") or []
        if field == "sold":
            if not rounds:
                return None
            # The round furthest from the stock it started with: one bad round fails it.
            stock = sale.get("stock", 0)
            return float(max((r["sold"] for r in rounds), key=lambda sold: abs(sold - stock)))
        if field == "negative":
            return float(sum(1 for r in rounds if r["lowest_level"] < 0))
        return float(run["errors"]["status_5xx"] + run["errors"]["socket"])

    return measure


def _lifecycle_unreconciled(results: Results) -> float | None:
    """Touched orders and stock levels that do not reconcile; no order touched is no evidence
    (not run rather than a pass)."""
    run = _scenario(results, "order_lifecycle")
    if run is None:
        return None
    reconciliation = (run.get("lifecycle") or {}).get("reconciliation") or {}
    if not reconciliation.get("orders"):
        return None
    return float(
        reconciliation["orders_not_reconciled"] + reconciliation.get("levels_not_reconciled", 0)
    )


def _fanout(field: str) -> Callable[[Results], float | None]:
    """webhook_fanout's deliveries. A run that expected none (no order placed) is no
    evidence: not run rather than a pass."""

    def measure(results: Results) -> float | None:
        run = _scenario(results, "webhook_fanout")
        details = (run or {}).get("fanout") or {}
        if not details.get("expected"):
            return None
        if field == "missing":
            # Orders whose event is missing never became expected deliveries: missing too.
            without_event = details["orders"] * details["subscriptions"] - details["expected"]
            return float(details["missing"] + max(0, without_event))
        if field == "latency_p50":
            return float(details["latency_ms"]["p50"]) if details["delivered"] else math.inf
        return float(details[field])

    return measure


def _fanout_vs_order_place(results: Results) -> float | None:
    return _ratio(_rps("webhook_fanout")(results), _rps("order_place")(results))


def _rss_after_mixed(results: Results) -> float | None:
    run = _scenario(results, "mixed")
    return None if run is None else float(run["server"]["rss_mib_max_worker"])


def cpu_ms_per_request(run: dict[str, Any]) -> float | None:
    cpu = run.get("cpu", {})
    if cpu.get("server_cpu_ms_per_request") is not None:
        return float(cpu["server_cpu_ms_per_request"])
    if run.get("rps") and cpu.get("server_cpu_cores") is not None:
        return round(1000 * float(cpu["server_cpu_cores"]) / float(run["rps"]), 2)
    return None


def _cpu_ms(results: Results, name: str) -> float | None:
    run = _scenario(results, name)
    return None if run is None else cpu_ms_per_request(run)


def _cpu_vs_ceiling(name: str) -> Callable[[Results], float | None]:
    """The ceiling's server CPU per request over the scenario's: the req/s ratio the two would
    have on a machine to themselves. Shown beside the target, which stays on req/s."""

    def measure(results: Results) -> float | None:
        costs = [_cpu_ms(results, n) for n in ("ceiling", "ceiling_repeat")]
        known = [c for c in costs if c]
        ceiling = sum(known) / len(known) if known else None
        return _ratio(ceiling, _cpu_ms(results, name))

    return measure


@dataclass(frozen=True)
class Target:
    key: str
    description: str
    measure: Callable[[Results], float | None]
    op: str
    threshold: float
    unit: str
    cpu_normalised: Callable[[Results], float | None] | None = None


TARGETS: tuple[Target, ...] = (
    Target(
        "detail_vs_ceiling",
        "product detail req/s >= 50% of the ceiling",
        _vs_ceiling("product_detail"),
        ">=",
        0.50,
        "ratio",
        _cpu_vs_ceiling("product_detail"),
    ),
    Target(
        "detail_p99",
        "product detail p99 <= 50 ms",
        _latency("product_detail", "p99"),
        "<=",
        50,
        "ms",
    ),
    Target(
        "list_vs_ceiling",
        "product list req/s >= 25% of the ceiling",
        _vs_ceiling("product_list"),
        ">=",
        0.25,
        "ratio",
        _cpu_vs_ceiling("product_list"),
    ),
    Target(
        "cursor_deep_vs_first",
        "cursor page at 9,950: p50 within 1.2x of page 1",
        _cursor_ratio,
        "<=",
        1.2,
        "ratio",
    ),
    Target("search_p99", "search p99 <= 100 ms", _latency("search", "p99"), "<=", 100, "ms"),
    Target(
        "adjust_vs_pgbench",
        "inventory adjust req/s >= 20% of pgbench simple-update tps",
        _vs_pgbench("inventory_adjust", "simple-update"),
        ">=",
        0.20,
        "ratio",
    ),
    Target(
        "mixed_stale_reads",
        "mixed: no stale read after a write",
        _mixed("stale_reads"),
        "==",
        0,
        "reads",
    ),
    Target("mixed_5xx", "mixed: no 5xx", _mixed("status_5xx"), "==", 0, "responses"),
    Target(
        "rss_after_mixed",
        "server RSS after the mixed run <= 300 MiB per worker",
        _rss_after_mixed,
        "<=",
        300,
        "MiB",
    ),
    Target(
        "orders_vs_pgbench",
        "order placement req/s >= 10% of pgbench tpcb-like tps",
        _vs_pgbench("order_place", "tpcb-like"),
        ">=",
        0.10,
        "ratio",
    ),
    Target(
        "order_place_p99",
        "order placement p99 <= 200 ms",
        _latency("order_place", "p99"),
        "<=",
        200,
        "ms",
    ),
    Target(
        "order_place_errors",
        "order placement: no error (in-stock lines: a 409 counts too)",
        _errors("order_place"),
        "==",
        0,
        "responses",
    ),
    Target(
        "order_detail_vs_ceiling",
        "order detail req/s >= 50% of the ceiling",
        _vs_ceiling("order_detail"),
        ">=",
        0.50,
        "ratio",
        _cpu_vs_ceiling("order_detail"),
    ),
    Target(
        "order_list_vs_ceiling",
        "order list req/s >= 25% of the ceiling",
        _vs_ceiling("order_list"),
        ">=",
        0.25,
        "ratio",
        _cpu_vs_ceiling("order_list"),
    ),
    Target(
        "order_lifecycle_vs_pgbench",
        "order lifecycle ops/s (capture, fulfil or refund requests) >= 5% of pgbench tpcb-like tps",
        _vs_pgbench("order_lifecycle", "tpcb-like"),
        ">=",
        0.05,
        "ratio",
    ),
    Target(
        "order_lifecycle_errors",
        "order lifecycle: no error (non-2xx, failed transaction, socket error)",
        _errors("order_lifecycle"),
        "==",
        0,
        "responses",
    ),
    Target(
        "order_lifecycle_reconciled",
        "order lifecycle: every touched order and stock level reconciles",
        _lifecycle_unreconciled,
        "==",
        0,
        "not reconciled",
    ),
    Target(
        "webhook_fanout_delivered",
        "webhook fanout: every delivery arrives (orders x 10 subscriptions, after the drain)",
        _fanout("missing"),
        "==",
        0,
        "missing",
    ),
    Target(
        "webhook_fanout_latency_p50",
        "webhook fanout: median event-to-delivery latency <= 1 s",
        _fanout("latency_p50"),
        "<=",
        1000,
        "ms",
    ),
    Target(
        "webhook_fanout_bad_signatures",
        "webhook fanout: no bad signature",
        _fanout("bad_signatures"),
        "==",
        0,
        "requests",
    ),
    Target(
        "webhook_fanout_vs_order_place",
        "webhook fanout: order placement req/s >= 80% of order_place's (no subscription)",
        _fanout_vs_order_place,
        ">=",
        0.80,
        "ratio",
    ),
    Target(
        "webhook_fanout_errors",
        "webhook fanout: no order placement error",
        _errors("webhook_fanout"),
        "==",
        0,
        "responses",
    ),
    Target(
        "flash_sale_sold",
        "flash sale: exactly 50 units sold in every round",
        _flash_sale("sold"),
        "==",
        50,
        "units",
    ),
    Target(
        "flash_sale_negative",
        "flash sale: no stock level below zero",
        _flash_sale("negative"),
        "==",
        0,
        "rounds",
    ),
    Target(
        "flash_sale_5xx",
        "flash sale: no 5xx, no failed connection",
        _flash_sale("5xx"),
        "==",
        0,
        "responses",
    ),
    Target(
        "flash_sale_p99",
        "flash sale p99 <= 1 s",
        _latency("flash_sale", "p99"),
        "<=",
        1000,
        "ms",
    ),
)


def evaluate(results: Results) -> list[dict[str, Any]]:
    evaluated = []
    for target in TARGETS:
        value = target.measure(results)
        normalised = target.cpu_normalised(results) if target.cpu_normalised else None
        evaluated.append(
            {
                "key": target.key,
                "description": target.description,
                "value": None if value is None else round(value, 3),
                "op": target.op,
                "threshold": target.threshold,
                "unit": target.unit,
                "cpu_normalised": None if normalised is None else round(normalised, 3),
                "result": "not run"
                if value is None
                else ("pass" if _OPS[target.op](value, target.threshold) else "fail"),
            }
        )
    return evaluated


def write_results(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    temporary.replace(path)


def _cell(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(results: Results, results_path: str) -> str:
    env = results.get("environment", {})
    config = results["config"]
    lines = [
        f"Run of {results['started_at']} ({results_path}), {results['total_s']:.0f} s in all.",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {env.get('cpus')} CPUs ({env.get('cpu_model', '?')}), PostgreSQL "
        f"{env.get('postgres', '?')} (autovacuum {env.get('postgres_autovacuum', '?')}), "
        f"Redis {env.get('redis', '?')}, {env.get('wrk', 'wrk')}; "
        f"server: `shopdb serve --workers {config['workers']}` (uvicorn, uvloop, "
        f"httptools); wrk {config['connections']} connections, 1 thread, "
        f"{config['duration_s']} s per scenario ({config['mixed_s']} s mixed).",
        "",
        "Cache: off (the server runs without Redis; documents come from the stored read model)."
        if config.get("cache") == "off"
        else "Cache: on (Redis).",
        "",
        "| Scenario | req/s | p50 ms | p95 ms | p99 ms | errors | max worker RSS MiB "
        "| wrk CPU (cores) | server CPU (cores) | server CPU ms/req | other load (cores) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in results.get("scenarios", {}).items():
        if "rps" not in run:
            lines.append(f"| {name} | skipped: {run.get('skipped', '?')} ||||||||||")
            continue
        latency = run["latency_ms"]
        if run.get("stopped_at_max_requests"):
            name = f"{name} (stopped at --max-requests: req/s understated)"
        lines.append(
            f"| {name} | {_cell(run['rps'])} | {_cell(latency['p50'], 2)} | "
            f"{_cell(latency['p95'], 2)} | {_cell(latency['p99'], 2)} | {run['errors']['total']} | "
            f"{_cell(run['server']['rss_mib_max_worker'])} | "
            f"{_cell(run['load_generator']['cpu_cores'], 2)} | "
            f"{_cell(run['cpu']['server_cpu_cores'], 2)} | "
            f"{_cell(cpu_ms_per_request(run), 2)} | "
            f"{_cell(run['cpu'].get('other_cpu_cores'), 2)} |"
        )
    pgbench = results.get("pgbench")
    if pgbench:
        lines += [
            "",
            f"pgbench (scale {pgbench['scale']}, {pgbench['clients']} clients, "
            f"{pgbench['duration_s']} s each): "
            + ", ".join(
                f"{name} {_cell(pgbench[name]['tps'])} tps"
                for name in ("select-only", "tpcb-like", "simple-update")
                if name in pgbench
            )
            + ".",
        ]
    mixed = results.get("scenarios", {}).get("mixed", {})
    checker = mixed.get("checker")
    if checker:
        orders = results.get("fixtures", {}).get("mixed", {}).get("order_share")
        lines += [
            "",
            f"Mixed run: write share {mixed.get('write_share', 0):.1%} of wrk's requests"
            + (f" (order placements {orders:.1%})" if orders else "")
            + f"; the stale-read checker made {checker['checks']} write-then-read checks "
            f"({checker['inventory_checks']} inventory, {checker['catalog_checks']} catalog, "
            f"{checker.get('order_checks', 0)} order), "
            f"{checker['stale_reads']} stale, using {checker['cpu_cores']:.2f} cores.",
        ]
    placed = results.get("scenarios", {}).get("order_place", {})
    if placed.get("statuses"):
        lines += [
            "",
            f"Order placement: {placed.get('connections', '?')} connections, responses by "
            f"status {placed['statuses']}.",
        ]
    lines += _fanout_lines(results)
    lines += _lifecycle_lines(results)
    sale = results.get("scenarios", {}).get("flash_sale", {}).get("flash_sale")
    if sale:
        rounds = sale["rounds"]
        lines += [
            "",
            f"Flash sale: {sale['buyers']} buyers, {len(rounds)} rounds of {sale['stock']} units; "
            f"sold per round {[r['sold'] for r in rounds]}, lowest level "
            f"{min(r['lowest_level'] for r in rounds) if rounds else '-'}, reservations left "
            f"{sum(r['reservations_left'] for r in rounds)}; responses by status "
            f"{results['scenarios']['flash_sale'].get('statuses')}.",
        ]
    lines += [
        "",
        "| Target | Measured | Needed | Result | CPU-normalised |",
        "|---|---:|---:|---|---:|",
    ]
    for target in results.get("targets", []):
        value = target["value"]
        shown = (
            "-" if value is None else f"{value:.2f}" if target["unit"] == "ratio" else f"{value:g}"
        )
        verdict = {"pass": "**pass**", "fail": "**FAIL**"}.get(target["result"], target["result"])
        lines.append(
            f"| {target['description']} | {shown} | {target['op']} {target['threshold']:g} "
            f"{'' if target['unit'] == 'ratio' else target['unit']} | {verdict} | "
            f"{_cell(target.get('cpu_normalised'), 2)} |"
        )
    lines += [
        "| list: query count independent of page size | - | - | "
        "asserted by the catalog's unit tests, not here | - |",
    ]
    return "\n".join(lines)


def _fanout_lines(results: Results) -> list[str]:
    run = results.get("scenarios", {}).get("webhook_fanout", {})
    details = run.get("fanout")
    if not details:
        return []
    latency = details["latency_ms"]
    base = _rps("order_place")(results)
    versus = f" ({run['rps'] / base:.0%} of order_place's {_cell(base)})" if base else ""
    return [
        "",
        f"Webhook fanout: {details['subscriptions']} subscriptions to {details['topic']}, "
        f"{details['workers']} `shopdb worker` ({run['cpu'].get('webhook_worker_cpu_cores', '-')} "
        f"cores); {run['rps']:,.1f} orders/s{versus}, statuses {run.get('statuses')}; "
        f"{_cell(details['orders'])} orders (warm-up included), {_cell(details['delivered'])} "
        f"of {_cell(details['expected'])} deliveries arrived ({_cell(details['missing'])} "
        f"missing, {_cell(details['duplicates'])} duplicates, "
        f"{_cell(details['bad_signatures'])} bad signatures) "
        f"within {details['waited_s']} s of the load's end (limit {details['drain_limit_s']} s); "
        f"event to delivery p50 {_cell(latency['p50'], 0)} / p90 {_cell(latency['p90'], 0)} / "
        f"p99 {_cell(latency['p99'], 0)} / max {_cell(latency['max'], 0)} ms; outbox by status "
        f"{details['deliveries_by_status']}.{_deferred_jobs(details)}",
    ]


def _deferred_jobs(details: dict[str, Any]) -> str:
    """The jobs (emails) the workers had left for later at the load's end, and their work."""
    if "jobs_due_at_end" not in details:
        return ""
    return (
        f" Jobs due at the load's end (emails wait while deliveries are behind): "
        f"{_cell(details['jobs_due_at_end'])}, worked off {details['jobs_drain_s']} s later "
        f"with {details['jobs_drain_cpu_s']} s of worker CPU ({_cell(details['jobs_left'])} left)."
    )


def _lifecycle_lines(results: Results) -> list[str]:
    run = results.get("scenarios", {}).get("order_lifecycle", {})
    details = run.get("lifecycle")
    if not details:
        return []
    steps = "; ".join(
        f"{step} p50 {_cell(data['latency_ms']['p50'], 2)} / p99 "
        f"{_cell(data['latency_ms']['p99'], 2)} ms, {data['statuses']}"
        for step, data in details["steps"].items()
    )
    reconciliation = details.get("reconciliation") or {}
    problems = reconciliation.get("problems") or []
    tpcb = results.get("pgbench", {}).get("tpcb-like", {}).get("tps")
    goal = f" (5% of tpcb-like: {_cell(0.05 * tpcb)} ops/s)" if tpcb else ""
    return [
        "",
        f"Order lifecycle: {details['connections']} connections, {run['rps']:,.1f} ops/s{goal}, "
        f"one op = one request; {details['orders']} orders in the measured "
        f"{run['duration_s']} s ({details['orders_per_s']:,.1f} orders/s), "
        f"{details.get('orders_completed', '?')} of {details.get('orders_touched', '?')} touched "
        f"(warm-up included) captured, fulfilled and partly refunded"
        + (" (ran out of seeded orders)" if details.get("ran_out_of_orders") else "")
        + f". By step: {steps}. Reconciled: {reconciliation.get('orders_reconciled', 0)} of "
        f"{reconciliation.get('orders', 0)} orders, {reconciliation.get('levels_reconciled', 0)} "
        f"of {reconciliation.get('levels', 0)} stock levels"
        + (f"; first problem: {problems[0]}" if problems else "")
        + ".",
    ]


def update_readme(
    readme: Path, table: str, start_mark: str = START_MARK, end_mark: str = END_MARK
) -> None:
    """Replace what is between the two marks (appended at the end when missing)."""
    text = readme.read_text()
    start, end = text.find(start_mark), text.find(end_mark)
    if start < 0 or end < start:
        text = text.rstrip("\n") + f"\n\n{start_mark}\n{end_mark}\n"
        start, end = text.find(start_mark), text.find(end_mark)
    readme.write_text(text[: start + len(start_mark)] + "\n" + table + "\n" + text[end:])
