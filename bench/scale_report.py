"""Issue 18's table and targets for `make bench-scale`: each a ratio inside one run.

`results["runs"]` holds one entry per catalog size and cache mode, keyed "<size>/<cache>"
("10k/off", "300k/on"), each with its `scenarios` as bench/run.py's run_scenario reports them
(or `{"skipped": why}` / `{"error": what}`). The targets compare the largest size with the
smallest: a scenario that errored fails its targets, and one whose requests got errors
(non-2xx, socket errors, timeouts) fails them too, whatever its ratio, with the counts shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bench.report import cpu_ms_per_request

Results = dict[str, Any]
START_MARK = "<!-- bench:scale:start -->"
END_MARK = "<!-- bench:scale:end -->"
CACHES = ("off", "on")
# The list shapes of the table, in its order; `detail` is the control.
LIST_SHAPES = (
    "list_first",
    "offset_deep",
    "cursor_deep",
    "search",
    "vendor_title",
    "status_title",
)
MIXES = ("lists_only", "lists_put")
SCENARIO_ORDER = ("detail", *LIST_SHAPES, *MIXES)
OFF_RATIO, ON_RATIO, PUT_RATIO, P99_MS = 0.6, 0.8, 0.5, 100.0


def size_label(products: int) -> str:
    if products >= 1_000 and products % 1_000 == 0:
        return f"{products // 1_000}k"
    return str(products)


def run_key(label: str, cache: str) -> str:
    return f"{label}/{cache}"


def scenario_run(results: Results, label: str, cache: str, name: str) -> dict[str, Any] | None:
    run = results.get("runs", {}).get(run_key(label, cache), {})
    found: dict[str, Any] | None = run.get("scenarios", {}).get(name)
    return found


def _measured(run: dict[str, Any] | None) -> bool:
    return run is not None and "rps" in run


def error_count(run: dict[str, Any] | None) -> int:
    return int(run["errors"]["total"]) if _measured(run) and run else 0


def unanswered(run: dict[str, Any] | None) -> bool:
    """Measured, but not one response came back within the run (wrk's own count is 0 then)."""
    return _measured(run) and run is not None and not run["requests"]


def error_text(run: dict[str, Any] | None) -> str:
    """'-' when clean; else the counts (timeouts apart), or why the scenario has no figures."""
    if run is None:
        return "not run"
    if "error" in run:
        return f"error: {run['error']}"
    if "skipped" in run:
        return f"skipped: {run['skipped']}"
    errors = run["errors"]
    if not run["requests"]:
        return "no response within the run"
    if not errors["total"]:
        return "-"
    parts = [f"{errors['total']} errors"]
    if errors.get("non_2xx"):
        parts.append(f"{errors['non_2xx']} non-2xx")
    if errors.get("timeout"):
        parts.append(f"{errors['timeout']} timeouts")
    other_socket = errors.get("socket", 0) - errors.get("timeout", 0)
    if other_socket > 0:
        parts.append(f"{other_socket} socket")
    return ", ".join(parts)


def p99_ms(run: dict[str, Any]) -> float:
    """wrk's p99, or infinity when it cannot be trusted: no response at all, or more than 1% of
    the requests timed out (wrk leaves responses slower than its timeout out of its histogram,
    so the true p99 is then beyond the timeout; see _latency_cell)."""
    timeouts = int(run["errors"].get("timeout", 0))
    if not run["requests"] or timeouts > 0.01 * max(int(run["requests"]), timeouts):
        return math.inf
    return float(run["latency_ms"]["p99"])


@dataclass(frozen=True)
class Comparison:
    key: str
    description: str
    numerator: tuple[str, str, str]  # (size label, cache, scenario)
    denominator: tuple[str, str, str] | None  # None: an absolute threshold (p99)
    op: str
    threshold: float
    unit: str


def comparisons(small: str, large: str) -> list[Comparison]:
    found: list[Comparison] = []
    for name in LIST_SHAPES:
        found.append(
            Comparison(
                f"{name}_off_{large}_vs_{small}",
                f"{name}, cache off: {large} req/s / {small}",
                (large, "off", name),
                (small, "off", name),
                ">=",
                OFF_RATIO,
                "ratio",
            )
        )
    for name in (*LIST_SHAPES, *MIXES):
        found.append(
            Comparison(
                f"{name}_on_{large}_vs_{small}",
                f"{name}, cache on: {large} req/s / {small}",
                (large, "on", name),
                (small, "on", name),
                ">=",
                ON_RATIO,
                "ratio",
            )
        )
    found.append(
        Comparison(
            f"puts_vs_lists_on_{large}",
            f"lists + 5% PUTs / lists only, cache on, {large}",
            (large, "on", "lists_put"),
            (large, "on", "lists_only"),
            ">=",
            PUT_RATIO,
            "ratio",
        )
    )
    for cache in CACHES:
        for name in SCENARIO_ORDER:
            if cache == "off" and name in MIXES:
                continue
            found.append(
                Comparison(
                    f"{name}_{cache}_{large}_p99",
                    f"{name}, cache {cache}, {large}: p99",
                    (large, cache, name),
                    None,
                    "<=",
                    P99_MS,
                    "ms",
                )
            )
    return found


def _value(results: Results, where: tuple[str, str, str], unit: str) -> float | None:
    run = scenario_run(results, *where)
    if not _measured(run) or run is None:
        return None
    if unit == "ms":
        # A scenario that completed no request has no latency to be proud of.
        return p99_ms(run)
    return float(run["rps"])


def _blocker(results: Results, where: tuple[str, str, str]) -> tuple[str, str] | None:
    """(result, note) when a side has no clean figures: errored, skipped, or with errors."""
    run = scenario_run(results, *where)
    label = "/".join(where)
    if run is None:
        return "not run", f"{label} not run"
    if "error" in run:
        return "error", f"{label}: {run['error']}"
    if "skipped" in run:
        return "not run", f"{label} skipped: {run['skipped']}"
    if error_count(run) or unanswered(run):
        return "fail", f"{label}: {error_text(run)}"
    return None


def evaluate(results: Results) -> list[dict[str, Any]]:
    sizes = [size["label"] for size in results.get("sizes", [])]
    if len(sizes) < 2:
        return []
    small, large = sizes[0], sizes[-1]
    evaluated = []
    for comparison in comparisons(small, large):
        sides = [comparison.numerator] + (
            [comparison.denominator] if comparison.denominator else []
        )
        values = [_value(results, side, comparison.unit) for side in sides]
        value: float | None
        if comparison.denominator is None:
            value = values[0]
        else:
            value = None if None in values or not values[1] else values[0] / values[1]  # type: ignore[operator]
        blockers = [b for b in (_blocker(results, side) for side in sides) if b]
        if value is None:
            result = blockers[0][0] if blockers else "not run"
        else:
            met = (
                value >= comparison.threshold
                if comparison.op == ">="
                else value <= comparison.threshold
            )
            result = "pass" if met else "fail"
            if any(b[0] in ("fail", "error") for b in blockers):
                result = "fail"
        evaluated.append(
            {
                "key": comparison.key,
                "description": comparison.description,
                "value": None if value is None or math.isinf(value) else round(value, 3),
                "beyond_timeout": value is not None and math.isinf(value),
                "op": comparison.op,
                "threshold": comparison.threshold,
                "unit": comparison.unit,
                "result": result,
                "notes": [note for _, note in blockers],
            }
        )
    return evaluated


def summary(targets: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for target in targets:
        counts[target["result"]] = counts.get(target["result"], 0) + 1
    return counts


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:,.{digits}f}"


def _latency_cell(run: dict[str, Any], percentile: str, timeout: str) -> str:
    """wrk's percentile, or "> timeout" when at least the requests above it timed out."""
    timeouts = int(run["errors"].get("timeout", 0))
    share_above = 0.5 if percentile == "p50" else 0.01
    if not run["requests"]:
        return "-"
    # wrk counts a late response both as a request and as a timeout, a connection it gave up
    # on as a timeout only: the larger of the two counts is the requests that ended.
    if timeouts and timeouts >= share_above * max(int(run["requests"]), timeouts):
        return f"> {timeout}"
    return _num(float(run["latency_ms"][percentile]), 2)


def _cell(run: dict[str, Any] | None, timeout: str = "timeout") -> tuple[str, str]:
    """(req/s, p99) cells of one scenario run; errors and timeouts are flagged, not hidden."""
    if run is None:
        return "-", "-"
    if "error" in run:
        return "**error**", "-"
    if "skipped" in run:
        return "skipped", "-"
    rps = _num(float(run["rps"]))
    p99 = _num(p99_ms(run), 1)
    if p99 == "inf":
        p99 = f"> {timeout}" if run["requests"] else "-"
    if unanswered(run):
        rps = f"**{rps}, no response**"
    elif error_count(run):
        errors = run["errors"]
        flag = (
            f"{errors['timeout']} timeouts"
            if errors.get("timeout")
            else f"{errors['total']} errors"
        )
        rps = f"**{rps}, {flag}**"
    return rps, p99


def markdown(results: Results, results_path: str) -> str:
    env = results.get("environment", {})
    config = results["config"]
    labels = [size["label"] for size in results.get("sizes", [])]
    lines = [
        f"Run of {results['started_at']} ({results_path}), "
        f"{results.get('total_s', 0):.0f} s in all.",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {env.get('cpus')} CPUs ({env.get('cpu_model', '?')}), PostgreSQL "
        f"{env.get('postgres', '?')} (autovacuum {env.get('postgres_autovacuum', '?')}), "
        f"Redis {env.get('redis', '?')}, {env.get('wrk', 'wrk')}; server: `shopdb serve "
        f"--workers {config['workers']}`; wrk {config['connections']} connections, 1 thread, "
        f"{config.get('wrk_timeout_s', 10)} s timeout, "
        f"{config['duration_s']} s per scenario after {config['warmup_s']} s of warm-up; "
        f"pages of 20; cache on = Redis db per size, flushed before the run.",
        "",
    ]
    header = "| scenario (req/s; p99 ms) | cache | " + " | ".join(
        f"{label} req/s | {label} p99" for label in labels
    )
    if len(labels) >= 2:
        header += f" | {labels[-1]} / {labels[0]}"
    lines += [
        header + " |",
        "|---|---|" + "---:|---:|" * len(labels) + ("---:|" if len(labels) >= 2 else ""),
    ]
    titles = results.get("titles", {})
    timeout = f"{config.get('wrk_timeout_s', 10) * 1000:,}"
    for name in SCENARIO_ORDER:
        for cache in CACHES:
            runs = [scenario_run(results, label, cache, name) for label in labels]
            if all(run is None for run in runs):
                continue
            cells = [" | ".join(_cell(run, timeout)) for run in runs]
            row = f"| {name} | {cache} | " + " | ".join(cells)
            if len(labels) >= 2:
                first, last = runs[0], runs[-1]
                ratio = (
                    float(last["rps"]) / float(first["rps"])
                    if _measured(first) and _measured(last) and first and last and first["rps"]
                    else None
                )
                row += f" | {_num(ratio, 2)}"
            lines.append(row + " |")
    lines += [
        "",
        "Scenarios: "
        + "; ".join(f"`{n}` {titles[n]}" for n in SCENARIO_ORDER if n in titles)
        + ".",
    ]
    lines += [
        "",
        "| run | scenario | req/s | p50 ms | p99 ms | errors | server CPU (cores) "
        "| server CPU ms/req | PostgreSQL CPU (cores) | wrk CPU (cores) | other load (cores) |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for key, run in results.get("runs", {}).items():
        for name, scenario in run.get("scenarios", {}).items():
            if not _measured(scenario):
                lines.append(f"| {key} | {name} | {error_text(scenario)} ||||||||| ")
                continue
            cpu = scenario.get("cpu", {})
            lines.append(
                f"| {key} | {name} | {_num(scenario['rps'])} | "
                f"{_latency_cell(scenario, 'p50', timeout)} | "
                f"{_latency_cell(scenario, 'p99', timeout)} | "
                f"{error_text(scenario)} | {_num(cpu.get('server_cpu_cores'), 2)} | "
                f"{_num(cpu_ms_per_request(scenario), 2)} | "
                f"{_num(cpu.get('postgres_cpu_cores'), 2)} | "
                f"{_num(scenario.get('load_generator', {}).get('cpu_cores'), 2)} | "
                f"{_num(cpu.get('other_cpu_cores'), 2)} |"
            )
    targets = results.get("targets", [])
    counts = summary(targets)
    lines += [
        "",
        f"Targets: {counts.get('pass', 0)} pass, {counts.get('fail', 0)} fail, "
        f"{counts.get('error', 0)} error, {counts.get('not run', 0)} not run.",
        "",
        "| Target | Measured | Needed | Result | Notes |",
        "|---|---:|---:|---|---|",
    ]
    for target in targets:
        value = target["value"]
        if value is None:
            shown = f"> {timeout}" if target.get("beyond_timeout") else "-"
        else:
            shown = f"{value:.2f}" if target["unit"] == "ratio" else f"{value:g}"
        verdict = {"pass": "**pass**", "fail": "**FAIL**", "error": "**FAIL (error)**"}.get(
            target["result"], target["result"]
        )
        unit = "" if target["unit"] == "ratio" else f" {target['unit']}"
        lines.append(
            f"| {target['description']} | {shown} | {target['op']} {target['threshold']:g}{unit} "
            f"| {verdict} | {'; '.join(target['notes'])} |"
        )
    return "\n".join(lines)
