"""The pass/fail logic of a load run, on hand-made numbers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from loadtests.thresholds import RunStats, Thresholds, evaluate, passed, read_locust_stats

GOOD = RunStats(
    requests=1000, failures=0, rps=50.0, p50_ms=20, p95_ms=80, p99_ms=150,
    accuracy=0.99, predictions=900,
)  # fmt: skip
LIMITS = Thresholds(max_failure_ratio=0.0, max_p95_ms=100, max_p99_ms=200, min_accuracy=0.95)


def _failed(stats: RunStats, limits: Thresholds = LIMITS) -> list[str]:
    return [check.name for check in evaluate(stats, limits) if not check.passed]


def test_a_run_within_every_limit_passes() -> None:
    checks = evaluate(GOOD, LIMITS)
    assert [c.name for c in checks] == ["requests", "failure ratio", "p95", "p99", "accuracy"]
    assert passed(checks)


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({"failures": 1}, ["failure ratio"]),
        ({"p95_ms": 101}, ["p95"]),
        ({"p99_ms": 200.5}, ["p99"]),
        ({"accuracy": 0.94}, ["accuracy"]),
        ({"requests": 0, "failures": 0}, ["requests"]),
        ({"p95_ms": 500, "p99_ms": 900}, ["p95", "p99"]),
    ],
)
def test_each_limit_fails_on_its_own(change: dict[str, float], failing: list[str]) -> None:
    assert _failed(_with(GOOD, change)) == failing


def _with(stats: RunStats, change: dict[str, float | None]) -> RunStats:
    return replace(stats, **change)


def test_limits_are_inclusive() -> None:
    at_limit = _with(GOOD, {"p95_ms": 100, "p99_ms": 200, "accuracy": 0.95})
    assert _failed(at_limit) == []


def test_a_failure_ratio_allows_some_failures() -> None:
    limits = Thresholds(max_failure_ratio=0.01, max_p95_ms=None, max_p99_ms=None)
    assert _failed(_with(GOOD, {"failures": 10}), limits) == []
    assert _failed(_with(GOOD, {"failures": 11}), limits) == ["failure ratio"]


def test_disabled_limits_are_not_checked() -> None:
    limits = Thresholds(None, None, None, None, None)
    assert evaluate(_with(GOOD, {"failures": 999, "p99_ms": 1e6}), limits) == []


def test_no_checked_prediction_fails_the_accuracy_check() -> None:
    assert _failed(_with(GOOD, {"accuracy": None, "predictions": 0})) == ["accuracy"]


def test_check_lines_say_pass_or_fail_with_numbers() -> None:
    lines = [c.line() for c in evaluate(_with(GOOD, {"p95_ms": 120}), LIMITS)]
    assert "FAIL p95: 120 ms (limit <= 100 ms)" in lines
    assert "PASS p99: 150 ms (limit <= 200 ms)" in lines


def test_locust_aggregated_row_is_read(tmp_path: Path) -> None:
    stats_csv = tmp_path / "x_stats.csv"
    header = (
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
        "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,"
        "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%"
    )
    stats_csv.write_text(
        header + "\n"
        "POST,/predict,90,1,20,25,3,400,300,9.0,0.1,20,22,25,30,40,60,80,120,300,400,400\n"
        ",Aggregated,100,2,21,26,3,410,300,10.5,0.2,21,23,26,31,41,61,81,130,310,410,410\n"
    )
    stats = read_locust_stats(stats_csv)
    assert (stats.requests, stats.failures, stats.rps) == (100, 2, 10.5)
    assert (stats.p50_ms, stats.p95_ms, stats.p99_ms) == (21, 61, 130)
    assert stats.failure_ratio == pytest.approx(0.02)


def test_percentiles_of_an_empty_run_read_as_zero(tmp_path: Path) -> None:
    stats_csv = tmp_path / "x_stats.csv"
    stats_csv.write_text(
        "Type,Name,Request Count,Failure Count,Requests/s,50%,95%,99%\n"
        ",Aggregated,0,0,0.0,N/A,N/A,N/A\n"
    )
    stats = read_locust_stats(stats_csv)
    assert (stats.requests, stats.p95_ms, stats.failure_ratio) == (0, 0.0, 0.0)


def test_a_file_without_aggregated_row_is_an_error(tmp_path: Path) -> None:
    stats_csv = tmp_path / "x_stats.csv"
    stats_csv.write_text("Type,Name,Request Count\n")
    with pytest.raises(ValueError, match="Aggregated"):
        read_locust_stats(stats_csv)
