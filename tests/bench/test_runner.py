"""The runner's arithmetic and bookkeeping (bench/*.py), without a server or a load generator."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from bench.baseline import parse_pgbench
from bench.fixtures import Fixtures, _mixed_lines, get_line, post_line
from bench.run import results_path
from bench.scenarios import SCENARIOS, by_name
from bench.wrk import WrkError, parse_output, summarise

from bench import procs, report

WRK_LINE = "BENCH_RESULT " + json.dumps(
    {
        "duration_us": 10_000_000,
        "requests": 5000,
        "bytes": 10_000_000,
        "errors": {"connect": 0, "read": 1, "write": 0, "status": 3, "timeout": 2},
        "latency_us": {
            "min": 900,
            "max": 80_000,
            "mean": 6_000,
            "stdev": 2_000,
            "percentiles": {"50": 5_000, "75": 7_000, "90": 9_000, "95": 12_000, "99": 30_000},
        },
        "statuses": {"200": 4990, "409": 6, "503": 4},
        "tracked": True,
    }
)


def scenario(
    rps: float, p50: float = 5.0, p99: float = 20.0, requests: int = 1000
) -> dict[str, Any]:
    return {
        "rps": rps,
        "requests": requests,
        "latency_ms": {"p50": p50, "p95": p99, "p99": p99},
        "errors": {"status_5xx": 0, "total": 0},
        "server": {"rss_mib_max_worker": 150.0},
    }


def passing_results() -> dict[str, Any]:
    return {
        "pgbench": {"simple-update": {"tps": 1000.0}, "tpcb-like": {"tps": 800.0}},
        "scenarios": {
            "ceiling": scenario(1000),
            "ceiling_repeat": scenario(1200),
            "product_detail": scenario(600, p99=40),
            "product_list": scenario(300),
            "cursor_first": scenario(300, p50=10),
            "cursor_deep": scenario(290, p50=11),
            "search": scenario(200, p99=90),
            "inventory_adjust": scenario(250),
            "mixed": {
                **scenario(500),
                "checker": {"checks": 40, "stale_reads": 0, "status_5xx": 0},
            },
        },
    }


def results_of(evaluated: list[dict[str, Any]]) -> dict[str, str]:
    return {target["key"]: target["result"] for target in evaluated}


class TestWrkOutput:
    def test_summarises_rate_latency_errors_and_driver_cpu(self) -> None:
        summary = summarise(parse_output("noise\n" + WRK_LINE + "\n"), wall_s=10.0, cpu_s=2.0)

        assert summary["rps"] == 500.0
        assert summary["latency_ms"]["p50"] == 5.0
        assert summary["latency_ms"]["p99"] == 30.0
        assert summary["errors"] == {
            "non_2xx": 10,
            "status_5xx": 4,
            "socket": 3,
            "timeout": 2,
            "total": 13,
        }
        assert summary["bytes_per_response"] == 2000
        assert summary["load_generator"]["cpu_cores"] == 0.2

    def test_untracked_runs_count_wrk_status_errors(self) -> None:
        raw = parse_output(WRK_LINE)
        raw["tracked"] = False
        raw["statuses"] = {}
        summary = summarise(raw, wall_s=10.0, cpu_s=1.0)
        assert summary["errors"]["non_2xx"] == 3
        assert summary["errors"]["status_5xx"] == 0

    def test_missing_result_line_is_an_error(self) -> None:
        with pytest.raises(WrkError, match="no result line"):
            parse_output("Running 10s test @ http://127.0.0.1\n")


class TestTargets:
    def test_all_pass_and_orders_not_run_until_the_scenario_exists(self) -> None:
        verdicts = results_of(report.evaluate(passing_results()))
        order_targets = {
            key for key in verdicts if key.startswith(("order", "flash_sale", "webhook_fanout"))
        }
        assert order_targets == {
            "orders_vs_pgbench",
            "order_place_p99",
            "order_place_errors",
            "order_detail_vs_ceiling",
            "order_list_vs_ceiling",
            "flash_sale_sold",
            "flash_sale_negative",
            "flash_sale_5xx",
            "flash_sale_p99",
            "order_lifecycle_vs_pgbench",
            "order_lifecycle_errors",
            "order_lifecycle_reconciled",
            "webhook_fanout_delivered",
            "webhook_fanout_latency_p50",
            "webhook_fanout_bad_signatures",
            "webhook_fanout_vs_order_place",
            "webhook_fanout_errors",
        }
        assert {verdicts.pop(key) for key in order_targets} == {"not run"}
        assert set(verdicts.values()) == {"pass"}

    def test_order_targets(self) -> None:
        results = passing_results()
        scenarios = results["scenarios"]
        scenarios["order_place"] = scenario(81, p99=150)  # 10.1% of tpcb-like's 800 tps
        scenarios["order_detail"] = scenario(560)  # of the 1100 mean ceiling
        scenarios["order_list"] = scenario(280)
        sale = scenario(300, p99=900)
        sale["flash_sale"] = {
            "stock": 50,
            "rounds": [{"sold": 50, "lowest_level": 0}, {"sold": 50, "lowest_level": 0}],
        }
        sale["errors"]["socket"] = 0
        scenarios["flash_sale"] = sale
        verdicts = results_of(report.evaluate(results))
        lifecycle = {
            k: verdicts.pop(k)
            for k in list(verdicts)
            if k.startswith(("order_lifecycle", "webhook_fanout"))
        }
        assert set(verdicts.values()) == {"pass"}
        assert set(lifecycle.values()) == {"not run"}

        sale["flash_sale"]["rounds"][1] = {"sold": 51, "lowest_level": -1}
        scenarios["order_place"]["errors"]["total"] = 1
        scenarios["order_list"]["rps"] = 270
        verdicts = results_of(report.evaluate(results))
        assert verdicts["flash_sale_sold"] == "fail"
        assert verdicts["flash_sale_negative"] == "fail"
        assert verdicts["order_place_errors"] == "fail"
        assert verdicts["order_list_vs_ceiling"] == "fail"

    def test_order_lifecycle_targets(self) -> None:
        results = passing_results()
        run = scenario(40.5)  # ops/s: 5.06% of tpcb-like's 800 tps
        run["lifecycle"] = {
            "reconciliation": {
                "orders": 250,
                "orders_not_reconciled": 0,
                "levels": 400,
                "levels_not_reconciled": 0,
            }
        }
        results["scenarios"]["order_lifecycle"] = run
        verdicts = results_of(report.evaluate(results))
        assert verdicts["order_lifecycle_vs_pgbench"] == "pass"
        assert verdicts["order_lifecycle_errors"] == "pass"
        assert verdicts["order_lifecycle_reconciled"] == "pass"

        run["rps"] = 39.9
        run["errors"]["total"] = 1
        run["lifecycle"]["reconciliation"]["levels_not_reconciled"] = 1
        verdicts = results_of(report.evaluate(results))
        assert verdicts["order_lifecycle_vs_pgbench"] == "fail"
        assert verdicts["order_lifecycle_errors"] == "fail"
        assert verdicts["order_lifecycle_reconciled"] == "fail"

        # No order touched is no evidence that orders reconcile.
        run["lifecycle"]["reconciliation"] = {"orders": 0, "orders_not_reconciled": 0}
        assert results_of(report.evaluate(results))["order_lifecycle_reconciled"] == "not run"

    def test_the_table_reports_the_lifecycle_by_step_and_its_reconciliation(self) -> None:
        results = passing_results()
        run = scenario(120.0)
        run.update(
            duration_s=15.0,
            cpu={"server_cpu_cores": 1.5},
            load_generator={"cpu_cores": 0.2},
            lifecycle={
                "connections": 16,
                "orders": 600,
                "orders_per_s": 40.0,
                "orders_touched": 680,
                "orders_completed": 679,
                "steps": {
                    step: {"statuses": {"201": 600}, "latency_ms": {"p50": 90.0, "p99": 300.0}}
                    for step in ("capture", "fulfil", "refund")
                },
                "reconciliation": {
                    "orders": 680,
                    "orders_reconciled": 679,
                    "levels": 900,
                    "levels_reconciled": 900,
                    "problems": ["order 5: refunded 3.00 > captured 0"],
                },
            },
        )
        results["scenarios"] = {"order_lifecycle": run}
        results.update(
            started_at="2026-11-28T00:00:00+00:00",
            total_s=60.0,
            command="make bench",
            config={"workers": 2, "connections": 32, "duration_s": 15, "mixed_s": 60},
        )
        results["pgbench"].update(scale=10, clients=8, duration_s=15)
        table = report.markdown(results, "bench/results/x.json")
        assert (
            "Order lifecycle: 16 connections, 120.0 ops/s (5% of tpcb-like: 40.0 ops/s), "
            "one op = one request; 600 orders in the measured 15.0 s (40.0 orders/s)"
        ) in table
        assert "capture p50 90.00 / p99 300.00 ms, {'201': 600}" in table
        assert "Reconciled: 679 of 680 orders, 900 of 900 stock levels" in table
        assert "first problem: order 5: refunded 3.00 > captured 0" in table

    def test_ratios_use_the_mean_of_both_ceiling_runs(self) -> None:
        results = passing_results()
        results["scenarios"]["product_detail"]["rps"] = 540  # 49% of the 1100 mean
        evaluated = {t["key"]: t for t in report.evaluate(results)}
        assert evaluated["detail_vs_ceiling"]["value"] == pytest.approx(0.491, abs=0.001)
        assert evaluated["detail_vs_ceiling"]["result"] == "fail"

    def test_reports_the_cpu_normalised_ratio_beside_the_rate_ratio(self) -> None:
        results = passing_results()
        scenarios = results["scenarios"]
        scenarios["ceiling"]["cpu"] = {"server_cpu_ms_per_request": 1.0}
        scenarios["ceiling_repeat"]["cpu"] = {"server_cpu_cores": 1.44}  # 1.2 ms at 1200 req/s
        scenarios["product_detail"]["cpu"] = {"server_cpu_ms_per_request": 2.2}
        evaluated = {t["key"]: t for t in report.evaluate(results)}
        assert evaluated["detail_vs_ceiling"]["cpu_normalised"] == 0.5
        assert evaluated["list_vs_ceiling"]["cpu_normalised"] is None

    def test_a_scenario_without_responses_fails_its_latency_target(self) -> None:
        results = passing_results()
        results["scenarios"]["search"] = scenario(0.0, p99=0.0, requests=0)
        assert results_of(report.evaluate(results))["search_p99"] == "fail"

    def test_mixed_without_any_check_is_not_a_pass(self) -> None:
        results = passing_results()
        results["scenarios"]["mixed"]["checker"] = {"checks": 0, "stale_reads": 0}
        assert results_of(report.evaluate(results))["mixed_stale_reads"] == "not run"

    def test_stale_reads_5xx_and_memory_fail(self) -> None:
        results = passing_results()
        mixed = results["scenarios"]["mixed"]
        mixed["checker"] = {"checks": 40, "stale_reads": 1, "status_5xx": 1}
        mixed["server"]["rss_mib_max_worker"] = 301.0
        verdicts = results_of(report.evaluate(results))
        assert verdicts["mixed_stale_reads"] == "fail"
        assert verdicts["mixed_5xx"] == "fail"
        assert verdicts["rss_after_mixed"] == "fail"

    def test_skipped_scenarios_leave_their_targets_not_run(self) -> None:
        results = passing_results()
        results["scenarios"]["inventory_adjust"] = {"skipped": "404"}
        assert results_of(report.evaluate(results))["adjust_vs_pgbench"] == "not run"


class TestReadme:
    def test_replaces_only_the_latest_block(self, tmp_path: Path) -> None:
        readme = tmp_path / "README.md"
        readme.write_text(
            f"# Bench\nintro\n{report.START_MARK}\nold table\n{report.END_MARK}\nhistory\n"
        )
        report.update_readme(readme, "new table")
        assert readme.read_text() == (
            f"# Bench\nintro\n{report.START_MARK}\nnew table\n{report.END_MARK}\nhistory\n"
        )

    def test_appends_the_block_when_missing(self, tmp_path: Path) -> None:
        readme = tmp_path / "README.md"
        readme.write_text("# Bench\n")
        report.update_readme(readme, "table")
        assert readme.read_text().endswith(f"{report.START_MARK}\ntable\n{report.END_MARK}\n")


class TestResultsPath:
    def test_a_second_run_the_same_day_keeps_the_first(self, tmp_path: Path) -> None:
        first = results_path(tmp_path, "2026-11-26", "")
        assert first.name == "2026-11-26.json"
        first.write_text("{}")
        assert results_path(tmp_path, "2026-11-26", "").name == "2026-11-26-2.json"
        assert results_path(tmp_path, "2026-11-26", "after").name == "2026-11-26-after.json"


class TestPgbenchOutput:
    def test_reads_tps_and_latency(self) -> None:
        output = (
            "number of failed transactions: 0 (0.000%)\n"
            "latency average = 6.512 ms\n"
            "initial connection time = 12.001 ms\n"
            "tps = 1228.456789 (without initial connection time)\n"
        )
        assert parse_pgbench(output) == {"tps": 1228.5, "latency_avg_ms": 6.512, "failed": 0.0}


class TestMixedComposition:
    def test_nine_reads_to_one_write(self, tmp_path: Path) -> None:
        fixtures = Fixtures(tmp_path)
        fixtures.capabilities = {"inventory_adjust": "ok", "product_create": "ok"}
        reads = [get_line(f"/api/v1/products/{i}") for i in range(50)]
        writes = [post_line("/api/v1/inventory-levels/adjust", {"n": i}) for i in range(50)]
        lines = _mixed_lines(fixtures, random.Random(1), reads, reads, reads, writes)
        assert len(lines) == 10_000
        assert fixtures.notes["mixed"]["write_share"] == 0.1
        assert sum(1 for line in lines if line.startswith("POST\t/api/v1/products\t")) == 300

    def test_one_in_ten_is_an_order_placement_when_orders_answer(self, tmp_path: Path) -> None:
        fixtures = Fixtures(tmp_path)
        fixtures.capabilities = {"inventory_adjust": "ok", "product_create": "ok"}
        reads = [get_line(f"/api/v1/products/{i}") for i in range(50)]
        writes = [post_line("/api/v1/inventory-levels/adjust", {"n": i}) for i in range(50)]
        orders = [post_line("/api/v1/orders", {"n": i}, fresh_key=True) for i in range(50)]
        lines = _mixed_lines(fixtures, random.Random(1), reads, reads, reads, writes, orders)
        assert len(lines) == 10_000
        assert fixtures.notes["mixed"]["order_share"] == 0.1
        assert fixtures.notes["mixed"]["write_share"] == 0.2
        assert all(line.endswith("\tK") for line in lines if "/api/v1/orders\t" in line)


class TestScenarios:
    def test_names_are_unique_and_selectable(self) -> None:
        names = [s.name for s in SCENARIOS]
        assert len(names) == len(set(names))
        assert [s.name for s in by_name(["search", "ceiling"])] == ["ceiling", "search"]
        (lifecycle,) = by_name(["order_lifecycle"])
        assert (lifecycle.driver, lifecycle.connections) == ("order_lifecycle", 16)
        with pytest.raises(ValueError, match="unknown scenarios"):
            by_name(["nope"])


class TestProcessAccounting:
    def test_reads_this_process(self) -> None:
        assert procs.rss_bytes(os.getpid()) > 10 * procs.MIB
        assert procs.cpu_seconds(os.getpid()) > 0
        assert procs.parent_of(os.getpid()) == os.getppid()
        busy, total = procs.machine_ticks()
        assert 0 <= busy <= total
