"""The benchmark's ratios and target verdicts, computed from hand-made results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks import report


def _level(concurrency: int, rps: float, p99: float, errors: int = 0) -> dict[str, Any]:
    return {
        "concurrency": concurrency, "rps": rps, "p50_ms": p99 / 4, "p95_ms": p99 / 2,
        "p99_ms": p99, "errors": errors, "target_rate": None,
    }  # fmt: skip


def _run(name: str, levels: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": name, "description": name, "endpoint": "/predict", "levels": levels,
        "peak_rps": max(level["rps"] for level in levels), "half_load": None,
        "server_peak_rss_mb": 900.0, "cassandra_peak_rss_mb": None, "answered": 100,
        "recorded": 100, **extra,
    }  # fmt: skip


def _results(service_rps: float = 200.0, off_rps: float = 210.0) -> dict[str, Any]:
    half = _level(0, service_rps / 2, 60.0) | {"target_rate": service_rps / 2}
    service = [_level(8, service_rps - 20, 50), _level(32, service_rps, 90)]
    return {
        "ceiling": {"images_per_s": 400.0, "processes": 2, "batch": 64},
        "runs": [
            _run("service-cassandra", service, half_load=half, cassandra_peak_rss_mb=1100.0),
            _run("service-sqlite", [_level(8, 150, 60), _level(32, 160, 120)]),
            _run("service-none", [_level(8, off_rps - 10, 40), _level(32, off_rps, 80)],
                 recorded=None),
            _run("baseline", [_level(8, 12, 900), _level(32, 15, 2500)], endpoint="/upload"),
        ],
    }  # fmt: skip


def _verdicts(results: dict[str, Any]) -> dict[str, bool]:
    _, targets = report.evaluate(results)
    return {t["target"]: t["passed"] for t in targets}


def test_ratios_compare_service_baseline_ceiling_and_storage() -> None:
    ratios, _ = report.evaluate(_results())
    assert ratios["service_vs_baseline_rps_at_32"] == round(200 / 15, 2)
    assert ratios["service_vs_baseline_p99_at_32"] == round(90 / 2500, 2)
    assert ratios["service_peak_vs_ceiling"] == 0.5
    assert ratios["cassandra_vs_off_peak_rps"] == round(200 / 210, 2)
    assert ratios["sqlite_vs_off_peak_rps"] == round(160 / 210, 2)


def test_all_targets_pass_on_good_numbers() -> None:
    assert all(_verdicts(_results()).values())


def test_speedup_below_ten_fails_the_baseline_target() -> None:
    verdicts = _verdicts(_results(service_rps=140.0, off_rps=145.0))
    assert not verdicts["throughput at 32 users >= 10x baseline, lower p99"]


def test_storage_costing_more_than_ten_percent_fails() -> None:
    verdicts = _verdicts(_results(service_rps=200.0, off_rps=230.0))
    assert not verdicts["recording to Cassandra costs <= 10% of throughput"]


def test_a_failed_request_or_a_lost_record_makes_the_run_unclean() -> None:
    failed = _results()
    failed["runs"][1]["levels"][0]["errors"] = 1
    failed["ratios"], failed["targets"] = report.evaluate(failed)
    assert not report.clean(failed)
    lost = _results()
    lost["runs"][0]["recorded"] = 99
    lost["ratios"], lost["targets"] = report.evaluate(lost)
    assert not report.clean(lost)
    good = _results()
    good["ratios"], good["targets"] = report.evaluate(good)
    assert report.clean(good)


def test_table_has_one_row_per_level_plus_ceiling_and_open_loop() -> None:
    lines = report.table(_results()).splitlines()
    assert len(lines) == 2 + 1 + 8 + 1
    assert "open loop at 100.0 req/s" in report.table(_results())


def test_charts_are_png_files(tmp_path: Path) -> None:
    paths = report.charts(_results(), tmp_path)
    assert [p.name for p in paths] == ["throughput.png", "latency_p99.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
