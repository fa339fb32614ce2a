"""`make bench-scale` (bench/scale*.py, bench/plans.py) without a server or a load generator:
its arguments, its plan, its request files' composition, its table and issue 18's targets."""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path
from typing import Any

import pytest
from bench.plans import parse_echo, parse_params
from bench.run import command_line, server_env, server_environment
from bench.run import parse_args as bench_args
from bench.scale import (
    SCALE_SCENARIOS,
    database_name,
    parse_args,
    plan,
    seed_comment,
    seed_spec,
    seeded_as,
)
from bench.scale_fixtures import deep_page, edit_bodies, mix_lines, write_share

from bench import report, scale_report

LISTS = scale_report.LIST_SHAPES


def measured(
    rps: float,
    p99: float = 20.0,
    *,
    requests: int = 1000,
    non_2xx: int = 0,
    timeouts: int = 0,
) -> dict[str, Any]:
    return {
        "rps": rps,
        "requests": requests,
        "latency_ms": {"p50": p99 / 2, "p99": p99},
        "errors": {
            "non_2xx": non_2xx,
            "status_5xx": 0,
            "socket": timeouts,
            "timeout": timeouts,
            "total": non_2xx + timeouts,
        },
        "cpu": {"server_cpu_cores": 1.5, "postgres_cpu_cores": 0.3, "other_cpu_cores": 0.1},
        "load_generator": {"cpu_cores": 0.05},
    }


def passing() -> dict[str, Any]:
    """10k and 300k within every target: 300k at 0.9 of 10k, PUTs at 0.6 of lists, p99 50 ms."""
    runs: dict[str, Any] = {}
    for label, factor in (("10k", 1.0), ("300k", 0.9)):
        for cache in ("off", "on"):
            names = ["detail", *LISTS] + (list(scale_report.MIXES) if cache == "on" else [])
            scenarios = {name: measured(1000 * factor, 50.0) for name in names}
            if cache == "on":
                scenarios["lists_put"] = measured(600 * factor, 50.0)
            runs[f"{label}/{cache}"] = {"scenarios": scenarios}
    return {
        "started_at": "2026-11-27T18:00:00+00:00",
        "command": "make bench-scale",
        "total_s": 600.0,
        "config": {"workers": 2, "connections": 32, "duration_s": 10, "warmup_s": 2},
        "sizes": [{"products": 10_000, "label": "10k"}, {"products": 300_000, "label": "300k"}],
        "titles": {s.name: s.title for s in SCALE_SCENARIOS},
        "runs": runs,
    }


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["result"] for t in scale_report.evaluate(results)}


def target(results: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in scale_report.evaluate(results) if t["key"] == key)


class TestArguments:
    def test_defaults_are_the_issue_s_run(self) -> None:
        args = parse_args([])
        assert args.sizes == [10_000, 300_000]
        assert args.caches == ["off", "on"]
        assert args.duration == 10
        assert args.redis_dbs == [9, 10]
        assert args.wrk_timeout == 5 < args.duration
        assert not args.fresh
        assert [s.name for s in args.scenario_list] == [s.name for s in SCALE_SCENARIOS]

    def test_a_quick_pass_and_a_subset(self) -> None:
        args = parse_args(
            ["--duration", "3", "--sizes", "1_000,5000", "--caches", "on", "--scenarios", "search"]
        )
        assert (args.duration, args.sizes, args.caches) == (3, [1_000, 5_000], ["on"])
        assert [s.name for s in args.scenario_list] == ["search"]

    @pytest.mark.parametrize(
        "argv",
        [
            ["--caches", "maybe"],
            ["--sizes", "ten"],
            ["--sizes", "0"],
            ["--sizes", "1,2,3"],  # three sizes, two Redis dbs
            ["--scenarios", "nope"],
        ],
    )
    def test_rejects_what_it_cannot_run(self, argv: list[str]) -> None:
        with pytest.raises(SystemExit):
            parse_args(argv)

    def test_the_command_line_names_the_make_target(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("MAKELEVEL", "1")
        monkeypatch.setenv("BENCH_SCALE_ARGS", "--duration 5")
        line = command_line([], "bench-scale", "BENCH_SCALE_ARGS", "bench.scale")
        assert line == "make bench-scale BENCH_SCALE_ARGS='--duration 5'"
        monkeypatch.delenv("MAKELEVEL")
        assert command_line(["--fresh"], module="bench.scale") == "python -m bench.scale --fresh"


class TestServerEnvironment:
    def test_cache_off_is_no_redis_url_even_if_the_shell_has_one(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("SHOPDB_REDIS_URL", "redis://127.0.0.1:6379/3")
        off = server_environment("shopdb_bench_300k", tmp_path, None)
        assert "SHOPDB_REDIS_URL" not in off
        assert off["SHOPDB_DATABASE_URL"].endswith("/shopdb_bench_300k")
        assert off["SHOPDB_VAR_DIR"] == str(tmp_path)
        assert off["SHOPDB_RATE_LIMIT_BURST"] == "0"
        on = server_environment("shopdb_bench_300k", tmp_path, "redis://127.0.0.1:6379/10")
        assert on["SHOPDB_REDIS_URL"] == "redis://127.0.0.1:6379/10"

    def test_make_bench_keeps_its_redis_and_database(self) -> None:
        env = server_env(bench_args([]))
        assert env["SHOPDB_REDIS_URL"] == "redis://127.0.0.1:6379/0"
        assert env["SHOPDB_DATABASE_URL"].endswith("/shopdb_bench")
        assert env["SHOPDB_VAR_DIR"].endswith("var/bench")


class TestPlan:
    def test_the_mixes_run_with_the_cache_on_only(self) -> None:
        steps = plan(parse_args([]))
        assert [(size, cache) for size, cache, _ in steps] == [
            (10_000, "off"),
            (10_000, "on"),
            (300_000, "off"),
            (300_000, "on"),
        ]
        off, on = [s.name for s in steps[0][2]], [s.name for s in steps[1][2]]
        assert off == ["detail", *LISTS]
        assert on == ["detail", *LISTS, "lists_only", "lists_put"]

    def test_a_mix_alone_with_the_cache_off_is_no_step(self) -> None:
        steps = plan(parse_args(["--scenarios", "lists_put"]))
        assert [(cache, [s.name for s in chosen]) for _, cache, chosen in steps] == [
            ("on", ["lists_put"]),
            ("on", ["lists_put"]),
        ]


class TestSeedReuse:
    def test_databases_are_named_by_size(self) -> None:
        assert database_name("shopdb_bench", 10_000) == "shopdb_bench_10k"
        assert database_name("shopdb_bench", 300_000) == "shopdb_bench_300k"
        assert database_name("x", 1_500) == "x_1500"

    def test_a_database_is_reused_only_with_the_same_seed(self) -> None:
        args = parse_args([])
        spec = seed_spec(args, 300_000)
        comment = seed_comment(spec)
        assert seeded_as(comment, dict(reversed(list(spec.items()))))
        assert not seeded_as(comment, {**spec, "seed": 43})
        assert not seeded_as(comment, seed_spec(args, 10_000))
        assert not seeded_as(None, spec)


class TestRequestFiles:
    def test_the_deep_pages_start_at_the_same_position(self) -> None:
        assert deep_page() == 498
        assert (deep_page() - 1) * 20 == 9_940
        with pytest.raises(ValueError, match="multiple"):
            deep_page(9_950, 20)

    def test_five_percent_puts_and_equal_shares_of_the_list_shapes(self) -> None:
        reads = {name: [f"GET\t/{name}?{i}" for i in range(3)] for name in LISTS}
        puts = [f'PUT\t/api/v1/products/{i}\t{{"bodyHtml":"x"}}' for i in range(10)]
        lines = mix_lines(reads, puts, random.Random(1), total=2_000, write_share=0.05)
        assert write_share(lines) == 0.05
        for name in LISTS:
            assert sum(1 for line in lines if line.startswith(f"GET\t/{name}?")) == 316
        assert write_share(mix_lines(reads, [], random.Random(1))) == 0.0

    def test_empty_pools_are_left_out(self) -> None:
        lines = mix_lines({"a": ["GET\t/a"], "b": []}, [], random.Random(1), total=10)
        assert lines == ["GET\t/a"] * 10
        assert mix_lines({"a": []}, ["PUT\t/x\t{}"], random.Random(1)) == []

    def test_puts_edit_the_body_only(self) -> None:
        detail = {
            "title": "Alpine Tote",
            "handle": "alpine-tote",
            "bodyHtml": "<p>seeded</p>",
            "vendor": "Acme",
            "productType": "Bags",
            "status": "active",
            "tags": "eco",
            "options": [{"name": "Size", "values": ["S"]}],
            "variants": [{"id": 7, "price": "10.00", "option1": "S"}],
        }
        first, second = edit_bodies(detail)
        assert first["bodyHtml"] != second["bodyHtml"] != detail["bodyHtml"]
        for body in (first, second):
            kept = {k: v for k, v in body.items() if k != "bodyHtml"}
            assert kept == {k: v for k, v in detail.items() if k != "bodyHtml"}


class TestTargets:
    def test_a_run_within_every_target_passes_them_all(self) -> None:
        found = verdicts(passing())
        # 6 shapes off, 8 (with the mixes) on, the PUT ratio, p99 of 7 + 9 scenarios at 300k.
        assert len(found) == 6 + 8 + 1 + 16
        assert set(found.values()) == {"pass"}

    def test_each_ratio_against_its_threshold(self) -> None:
        results = passing()
        runs = results["runs"]
        runs["300k/off"]["scenarios"]["list_first"]["rps"] = 590.0  # 0.59 x 10k
        runs["300k/on"]["scenarios"]["search"]["rps"] = 790.0  # 0.79 x 10k
        runs["300k/on"]["scenarios"]["lists_put"]["rps"] = 440.0  # 0.49 x lists only (900)
        runs["300k/on"]["scenarios"]["vendor_title"]["latency_ms"]["p99"] = 100.5
        found = verdicts(results)
        assert found.pop("list_first_off_300k_vs_10k") == "fail"
        assert found.pop("search_on_300k_vs_10k") == "fail"
        assert found.pop("puts_vs_lists_on_300k") == "fail"
        assert found.pop("lists_put_on_300k_vs_10k") == "fail"  # 440 / 600
        assert found.pop("vendor_title_on_300k_p99") == "fail"
        assert set(found.values()) == {"pass"}
        assert target(results, "list_first_off_300k_vs_10k")["value"] == 0.59

    def test_errors_and_timeouts_fail_a_ratio_that_would_pass(self) -> None:
        results = passing()
        results["runs"]["300k/on"]["scenarios"]["status_title"] = measured(
            3.8, 9_000.0, requests=40, timeouts=120
        )
        results["runs"]["10k/off"]["scenarios"]["search"] = measured(1000, non_2xx=3)
        found = target(results, "search_off_300k_vs_10k")
        assert found["value"] == 0.9
        assert found["result"] == "fail"
        assert found["notes"] == ["10k/off/search: 3 errors, 3 non-2xx"]
        timed_out = target(results, "status_title_on_300k_vs_10k")
        assert timed_out["result"] == "fail"
        assert "120 timeouts" in timed_out["notes"][0]

    def test_an_errored_scenario_is_reported_not_dropped(self) -> None:
        results = passing()
        results["runs"]["300k/off"]["scenarios"]["cursor_deep"] = {"error": "wrk failed (1)"}
        found = target(results, "cursor_deep_off_300k_vs_10k")
        assert (found["result"], found["value"]) == ("error", None)
        assert found["notes"] == ["300k/off/cursor_deep: wrk failed (1)"]
        assert verdicts(results)["cursor_deep_off_300k_p99"] == "error"
        results["targets"] = scale_report.evaluate(results)
        table = scale_report.markdown(results, "bench/results/x.json")
        assert "| cursor_deep | off | 1,000.0 | 50.0 | **error** | - | - |" in table
        assert "**FAIL (error)**" in table

    def test_skipped_and_missing_scenarios_are_not_run(self) -> None:
        results = passing()
        results["runs"]["300k/on"]["scenarios"]["lists_put"] = {"skipped": "PUT answered 404"}
        del results["runs"]["10k/on"]["scenarios"]["lists_only"]
        found = verdicts(results)
        assert found["puts_vs_lists_on_300k"] == "not run"
        assert found["lists_only_on_300k_vs_10k"] == "not run"
        assert found["lists_put_on_300k_p99"] == "not run"

    def test_no_request_answered_fails_its_targets_and_says_so(self) -> None:
        results = passing()
        # wrk's own figures when every request was still in flight at the end: no error.
        results["runs"]["300k/on"]["scenarios"]["search"] = measured(0.0, 0.0, requests=0)
        found = target(results, "search_on_300k_p99")
        assert (found["result"], found["value"]) == ("fail", None)
        ratio = target(results, "search_on_300k_vs_10k")
        assert (ratio["result"], ratio["value"]) == ("fail", 0.0)
        assert ratio["notes"] == ["300k/on/search: no response within the run"]
        results["targets"] = scale_report.evaluate(results)
        table = scale_report.markdown(results, "x.json")
        assert "| search | on | 1,000.0 | 50.0 | **0.0, no response** | - | 0.00 |" in table

    def test_a_p99_hidden_by_timeouts_is_beyond_the_timeout(self) -> None:
        results = passing()
        results["config"]["wrk_timeout_s"] = 5
        # wrk leaves responses slower than its timeout out of its histogram: p99 reads 0.
        results["runs"]["300k/off"]["scenarios"]["list_first"] = measured(
            3.2, 0.0, requests=32, timeouts=32
        )
        found = target(results, "list_first_off_300k_p99")
        assert (found["result"], found["value"], found["beyond_timeout"]) == ("fail", None, True)
        results["targets"] = scale_report.evaluate(results)
        table = scale_report.markdown(results, "x.json")
        assert "| list_first | off | 1,000.0 | 50.0 | **3.2, 32 timeouts** | > 5,000 |" in table
        assert "| list_first, cache off, 300k: p99 | > 5,000 | <= 100 ms | **FAIL** |" in table
        assert "| 300k/off | list_first | 3.2 | > 5,000 | > 5,000 | 32 errors, 32 timeouts |" in (
            table
        )

    def test_one_size_has_no_targets(self) -> None:
        results = passing()
        results["sizes"] = results["sizes"][:1]
        assert scale_report.evaluate(results) == []


class TestTable:
    def test_the_issue_s_table_with_failures_shown(self) -> None:
        results = passing()
        results["runs"]["300k/on"]["scenarios"]["status_title"] = measured(
            3.8, 9_000.0, requests=40, timeouts=120
        )
        results["targets"] = scale_report.evaluate(results)
        table = scale_report.markdown(results, "bench/results/2026-11-27-scale.json")
        assert "| scenario (req/s; p99 ms) | cache | 10k req/s | 10k p99 | 300k req/s |" in table
        assert (
            "| status_title | on | 1,000.0 | 50.0 | **3.8, 120 timeouts** | > 10,000 | 0.00 |"
            in (table)
        )
        assert "| lists_put | on | 600.0 | 50.0 | 540.0 | 50.0 | 0.90 |" in table
        assert "| lists_put | off |" not in table
        assert "Targets: 29 pass, 2 fail, 0 error, 0 not run." in table
        assert "| status_title, cache on, 300k: p99 | > 10,000 | <= 100 ms | **FAIL** |" in table

    def test_the_readme_block_has_its_own_marks(self, tmp_path: Path) -> None:
        readme = tmp_path / "README.md"
        readme.write_text(f"# Bench\n{report.START_MARK}\nlatest\n{report.END_MARK}\n")
        report.update_readme(readme, "scale", scale_report.START_MARK, scale_report.END_MARK)
        report.update_readme(readme, "scale 2", scale_report.START_MARK, scale_report.END_MARK)
        text = readme.read_text()
        assert f"{report.START_MARK}\nlatest\n{report.END_MARK}" in text
        assert text.endswith(f"{scale_report.START_MARK}\nscale 2\n{scale_report.END_MARK}\n")

    def test_results_survive_a_round_trip_through_json(self) -> None:
        results = passing()
        again = json.loads(json.dumps(results))
        assert scale_report.evaluate(again) == scale_report.evaluate(results)


ECHO = """\
2026-11-27 18:19:10,337 INFO sqlalchemy.engine.Engine BEGIN (implicit)
2026-11-27 18:19:10,339 INFO sqlalchemy.engine.Engine SELECT users.id, users.email \n\
FROM users \n\
WHERE users.email = $1::VARCHAR
2026-11-27 18:19:10,339 INFO sqlalchemy.engine.Engine [generated in 0.00019s] ('a@b.c',)
2026-11-27 18:19:10,400 INFO sqlalchemy.engine.Engine SELECT products.id, count(*) OVER () \
AS total \n\
FROM products \n\
WHERE products.vendor = $1::VARCHAR AND products.updated_at < $2::TIMESTAMP WITH TIME ZONE \
ORDER BY products.title LIMIT $3::INTEGER
2026-11-27 18:19:10,401 INFO sqlalchemy.engine.Engine [cached since 3.2s ago] \
('Acme', datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc), 20)
2026-11-27T18:19:10.611251Z [info     ] request  duration_ms=12.0 status=200
2026-11-27 18:19:10,500 INFO sqlalchemy.engine.Engine SELECT products.id FROM products \
WHERE products.id = ANY ($1::BIGINT[])
2026-11-27 18:19:10,500 INFO sqlalchemy.engine.Engine [generated in 0.0001s] ([1, 2, 3],)
2026-11-27 18:19:10,606 INFO sqlalchemy.engine.Engine COMMIT
"""


class TestEcho:
    def test_reads_the_catalog_statements_and_their_parameters(self) -> None:
        statements = parse_echo(ECHO)
        assert len(statements) == 2
        first, second = statements
        assert first.sql.startswith("SELECT products.id, count(*) OVER () AS total")
        assert first.sql.endswith("LIMIT $3::INTEGER")
        assert first.params == (
            "Acme",
            datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
            20,
        )
        assert second.params == ([1, 2, 3],)

    def test_parameters_of_one_value(self) -> None:
        assert parse_params("(5,)") == (5,)
        assert parse_params("()") == ()
