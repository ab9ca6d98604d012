"""The benchmark's ratios and target verdicts, computed from hand-made results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.results import (
    RESULTS,
    BenchConfig,
    Ceiling,
    Level,
    LoadResult,
    Machine,
    Results,
    TargetResult,
    Tuning,
)

CEILING = Ceiling(
    processes=2,
    batch=64,
    images_per_s=400.0,
    preprocess_ms_per_image=3.0,
    inference_ms_per_image_batched=0.2,
    inference_ms_single=0.8,
    cpu_bound_images_per_s=600.0,
)


def _measured(concurrency: int, rps: float, p99: float, errors: int = 0) -> dict[str, Any]:
    return {
        "mode": "closed", "concurrency": concurrency, "target_rate": None, "duration_s": 15.0,
        "requests": int(rps * 15), "errors": errors, "rps": rps, "p50_ms": p99 / 4,
        "p95_ms": p99 / 2, "p99_ms": p99, "max_ms": p99 * 2, "statuses": {"200": int(rps * 15)},
        "loadgen_cpu_s": 1.0, "all_ok": int(rps * 15), "accuracy": 0.99,
    }  # fmt: skip


def _level(concurrency: int, rps: float, p99: float, errors: int = 0, cpu_ms: float = 3.5) -> Level:
    return Level(
        **_measured(concurrency, rps, p99, errors),
        cores_server=1.0, cores_cassandra=0.0, cores_loadgen=0.1, cores_other=0.1,
        server_cpu_ms_per_request=cpu_ms, cassandra_cpu_ms_per_request=0.0,
    )  # fmt: skip


def _run(name: str, levels: list[Level], **extra: Any) -> TargetResult:
    fields: dict[str, Any] = {
        "name": name, "description": name, "endpoint": "/predict", "levels": levels,
        "half_load": None, "server_peak_rss_mb": 900.0, "cassandra_peak_rss_mb": None,
        "answered": 100, "recorded": 100,
    }  # fmt: skip
    return TargetResult(**(fields | extra))


def _results(
    service_rps: float = 240.0,
    off_rps: float = 310.0,
    peer_rps: float = 100.0,
    off_cpu_ms: float = 3.5,
    sqlite_errors: int = 0,
    peer_errors: int = 0,
    recorded: int = 100,
) -> Results:
    """Good numbers by default: 16x the baseline with Cassandra, 20.7x off, 3.1x the peer."""
    half = LoadResult(**_measured(0, service_rps / 2, 40.0) | {"target_rate": service_rps / 2})
    service = [_level(8, service_rps - 20, 50), _level(32, service_rps, 90)]
    off = [
        _level(8, off_rps - 10, 40, cpu_ms=off_cpu_ms),
        _level(32, off_rps, 80, cpu_ms=off_cpu_ms),
    ]
    runs = [
        _run("service-cassandra", service, half_load=half, cassandra_peak_rss_mb=1100.0,
             recorded=recorded),
        _run("service-sqlite", [_level(8, 150, 60, sqlite_errors), _level(32, 160, 120)]),
        _run("service-none", off, recorded=None),
        _run("baseline", [_level(8, 12, 900), _level(32, 15, 2500)], endpoint="/upload"),
        _run("docs-batching", [_level(8, 70, 200), _level(32, peer_rps, 600, peer_errors)],
             recorded=None),
        _run("docs-predict", [_level(8, 20, 900), _level(32, 21, 3000)], recorded=None),
    ]  # fmt: skip
    ratios, targets = report.evaluate(CEILING, runs)
    machine = Machine(
        cpu="test", cores=2, memory_gb=8.0, os="Linux", python="3.11", load_before=[0.0, 0.0, 0.0]
    )
    return Results(
        generated_at="2026-01-01T00:00:00+00:00", machine=machine, config=BenchConfig(),
        command="python -m benchmarks.run", ceiling=CEILING, runs=runs, elapsed_s=1,
        ratios=ratios, targets=targets,
    )  # fmt: skip


def _verdicts(results: Results) -> dict[str, bool]:
    return {t.target: t.passed for t in results.targets}


def _failed(results: Results) -> list[str]:
    return [t.target for t in results.targets if not t.passed]


def test_ratios_compare_service_baseline_peers_ceiling_and_storage() -> None:
    ratios = _results().ratios
    assert ratios["service_vs_baseline_rps_at_32"] == round(240 / 15, 2)
    assert ratios["service_vs_baseline_p99_at_32"] == round(90 / 2500, 2)
    assert ratios["recording_off_vs_baseline_rps_at_32"] == round(310 / 15, 2)
    assert ratios["recording_off_vs_faster_docs_peer_rps_at_32"] == round(310 / 100, 2)
    assert ratios["faster_docs_peer_vs_baseline_rps_at_32"] == round(100 / 15, 2)
    assert ratios["service_peak_vs_ceiling"] == 0.6
    assert ratios["cassandra_vs_off_peak_rps"] == round(240 / 310, 2)
    assert ratios["sqlite_vs_off_peak_rps"] == round(160 / 310, 2)


def test_the_faster_peer_is_whichever_answers_more_at_32_users() -> None:
    ratios = _results(peer_rps=10.0).ratios  # the batching peer now slower than per-request's 21
    assert ratios["recording_off_vs_faster_docs_peer_rps_at_32"] == round(310 / 21, 2)


def test_all_targets_pass_on_good_numbers() -> None:
    assert _failed(_results()) == []


def test_each_speed_target_fails_on_its_own_shortfall() -> None:
    # 11.3x the baseline (recording then costs 45% too)
    assert "throughput at 32 users >= 12x baseline with Cassandra, lower p99" in _failed(
        _results(service_rps=170.0)
    )
    assert _failed(_results(off_rps=290.0)) == [  # 19.3x
        "throughput at 32 users >= 20x baseline, recording off"
    ]
    assert _failed(_results(peer_rps=160.0)) == [  # 1.94x
        "throughput at 32 users >= 2x the faster BentoML-docs peer (both recording off)"
    ]
    assert _failed(_results(off_cpu_ms=4.2)) == [
        "server CPU <= 4 ms per request at 32 users, recording off"
    ]
    assert _failed(_results(service_rps=240.0, off_rps=330.0)) == [  # costs 27%
        "recording to Cassandra costs <= 25% of throughput"
    ]


def test_a_failed_request_or_a_lost_record_makes_the_run_unclean() -> None:
    assert not report.clean(_results(sqlite_errors=1))
    assert not report.clean(_results(recorded=99))
    assert report.clean(_results())


def test_a_peer_shedding_requests_fails_its_verdict_but_not_the_run() -> None:
    results = _results(peer_errors=3)
    assert _failed(results) == ["the BentoML-docs peers answer every request"]
    assert report.clean(results)


def test_table_has_one_row_per_level_plus_ceiling_and_open_loop() -> None:
    lines = report.table(_results()).splitlines()
    assert len(lines) == 2 + 1 + 12 + 1
    assert "open loop at 120.0 req/s" in report.table(_results())


def test_charts_are_png_files(tmp_path: Path) -> None:
    paths = report.charts(_results(), tmp_path)
    assert [p.name for p in paths] == ["throughput.png", "latency_p99.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)


def test_results_survive_a_round_trip_through_json() -> None:
    results = _results()
    assert Results.from_json(results.to_json()) == results


def test_the_saved_results_read_back_unchanged() -> None:
    latest = (RESULTS / "latest.json").read_text()
    assert Results.from_json(latest).to_json() == latest
    noisy = Results.from_json((RESULTS / "run-20261124T0226-noisy.json").read_text())
    assert (noisy.config.prewarm_s, noisy.config.prewarm_users) == (3.0, 4)  # not saved then
    text = (RESULTS / "tuning.json").read_text()
    tuning = Tuning.from_json(text)
    saved = json.loads(text)["rows"]
    assert [row.inference_threads for row in tuning.rows] == [r["tf_threads"] for r in saved]
    assert Tuning.from_json(tuning.to_json()) == tuning


def test_the_saved_ratios_and_verdicts_are_what_evaluate_gives() -> None:
    # Archived runs (run-*.json) keep the verdicts of the targets of their day.
    results = Results.from_json((RESULTS / "latest.json").read_text())
    assert report.evaluate(results.ceiling, results.runs) == (results.ratios, results.targets)
