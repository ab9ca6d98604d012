"""Ratios, target checks, charts and the BENCHMARKS.md text of one benchmark run."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

from benchmarks.results import (
    COMPARE_AT,
    PEERS,
    SERVICE,
    Ceiling,
    Level,
    LoadResult,
    Results,
    Stages,
    TargetResult,
    Tuning,
    TuningRow,
    Verdict,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _run(runs: Sequence[TargetResult], name: str) -> TargetResult | None:
    return next((run for run in runs if run.name == name), None)


def _level(run: TargetResult | None, concurrency: int) -> Level | None:
    return None if run is None else run.at(concurrency)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def _peak(run: TargetResult | None) -> float | None:
    return None if run is None else run.peak_rps


def _rps(level: Level | None) -> float | None:
    return None if level is None else level.rps


def _p99(level: Level | None) -> float | None:
    return None if level is None else level.p99_ms


def _cpu(level: Level | None) -> float | None:
    return None if level is None else level.server_cpu_ms_per_request


#: The speed targets: throughput over the original design at COMPARE_AT users (with Cassandra,
#: and recording off), over the faster BentoML-documentation peer (both recording off), p99 at
#: half the peak, server CPU per request (recording off) and what recording to Cassandra costs.
MIN_SPEEDUP = 12.0
MIN_SPEEDUP_OFF = 20.0
MIN_VS_PEER = 2.0
MAX_HALF_LOAD_P99_MS = 50.0
MAX_CPU_MS_OFF = 4.0
MAX_RECORDING_COST = 0.25


def evaluate(
    ceiling: Ceiling, runs: Sequence[TargetResult]
) -> tuple[dict[str, float | None], list[Verdict]]:
    """The ratios the benchmark reports and the pass/fail of each target."""
    service, baseline = _run(runs, SERVICE), _run(runs, "baseline")
    off, sqlite = _run(runs, "service-none"), _run(runs, "service-sqlite")
    s32, b32 = _level(service, COMPARE_AT), _level(baseline, COMPARE_AT)
    o32, p32 = _level(off, COMPARE_AT), faster_peer(runs)
    ratios = {
        f"service_vs_baseline_rps_at_{COMPARE_AT}": _ratio(_rps(s32), _rps(b32)),
        f"service_vs_baseline_p99_at_{COMPARE_AT}": _ratio(_p99(s32), _p99(b32)),
        f"recording_off_vs_baseline_rps_at_{COMPARE_AT}": _ratio(_rps(o32), _rps(b32)),
        f"recording_off_vs_faster_docs_peer_rps_at_{COMPARE_AT}": _ratio(_rps(o32), _rps(p32)),
        f"faster_docs_peer_vs_baseline_rps_at_{COMPARE_AT}": _ratio(_rps(p32), _rps(b32)),
        "service_peak_vs_baseline_peak": _ratio(_peak(service), _peak(baseline)),
        "service_peak_vs_ceiling": _ratio(_peak(service), ceiling.images_per_s),
        "cassandra_vs_off_peak_rps": _ratio(_peak(service), _peak(off)),
        "sqlite_vs_off_peak_rps": _ratio(_peak(sqlite), _peak(off)),
        f"server_cpu_per_request_cassandra_vs_off_at_{COMPARE_AT}": _ratio(_cpu(s32), _cpu(o32)),
        f"cassandra_node_cpu_ms_per_request_at_{COMPARE_AT}": (
            None if s32 is None else s32.cassandra_cpu_ms_per_request
        ),
    }
    return ratios, _targets(runs, ratios, service, s32, b32, o32)


def faster_peer(runs: Sequence[TargetResult]) -> Level | None:
    """The BentoML-documentation peer's level at COMPARE_AT users with the most requests/s."""
    levels = [lv for name in PEERS if (lv := _level(_run(runs, name), COMPARE_AT)) is not None]
    return max(levels, key=lambda level: level.rps, default=None)


def _targets(
    runs: Sequence[TargetResult],
    ratios: dict[str, float | None],
    service: TargetResult | None,
    s32: Level | None,
    b32: Level | None,
    o32: Level | None,
) -> list[Verdict]:
    at = COMPARE_AT
    speedup = ratios[f"service_vs_baseline_rps_at_{at}"]
    off_speedup = ratios[f"recording_off_vs_baseline_rps_at_{at}"]
    vs_peer = ratios[f"recording_off_vs_faster_docs_peer_rps_at_{at}"]
    lower_p99 = s32 is not None and b32 is not None and s32.p99_ms < b32.p99_ms
    half = service.half_load if service else None
    cost = ratios["cassandra_vs_off_peak_rps"]
    cpu = _cpu(o32)
    targets = [
        _target(
            f"throughput at {at} users >= {MIN_SPEEDUP:g}x baseline with Cassandra, lower p99",
            f"{speedup}x, p99 {_p99(s32)} vs {_p99(b32)} ms",
            speedup is not None and speedup >= MIN_SPEEDUP and lower_p99,
        ),
        _target(
            f"throughput at {at} users >= {MIN_SPEEDUP_OFF:g}x baseline, recording off",
            f"{off_speedup}x",
            off_speedup is not None and off_speedup >= MIN_SPEEDUP_OFF,
        ),
        _target(
            f"throughput at {at} users >= {MIN_VS_PEER:g}x the faster BentoML-docs peer "
            "(both recording off)",
            f"{vs_peer}x" if vs_peer is not None else "not run",
            vs_peer is not None and vs_peer >= MIN_VS_PEER,
        ),
        _target(
            f"p99 < {MAX_HALF_LOAD_P99_MS:g} ms at half the service's peak throughput",
            f"p99 {half.p99_ms} ms at {half.target_rate} req/s" if half else "not run",
            half is not None and half.p99_ms < MAX_HALF_LOAD_P99_MS,
        ),
        _target(
            f"server CPU <= {MAX_CPU_MS_OFF:g} ms per request at {at} users, recording off",
            f"{cpu} ms" if cpu is not None else "not run",
            cpu is not None and cpu <= MAX_CPU_MS_OFF,
        ),
        _target(
            f"recording to Cassandra costs <= {MAX_RECORDING_COST:.0%} of throughput",
            f"{cost} of the recording-off throughput" if cost is not None else "not run",
            cost is not None and cost >= 1 - MAX_RECORDING_COST,
        ),
    ]
    service_runs = [run for run in runs if run.name.startswith("service")]
    failed = sum(_errors(run) for run in service_runs)
    targets.append(_target("zero failed requests (service)", f"{failed} failed", failed == 0))
    peer_runs = [run for run in runs if run.name in PEERS]
    shed = sum(_errors(run) for run in peer_runs)
    if peer_runs:
        targets.append(
            _target("the BentoML-docs peers answer every request", f"{shed} failed", shed == 0)
        )
    lost = {
        run.name: run.answered - run.recorded for run in service_runs if run.recorded is not None
    }
    targets.append(
        _target(
            "zero lost records (answered == recorded)",
            ", ".join(f"{name}: {n} lost" for name, n in lost.items()) or "not run",
            bool(lost) and all(n == 0 for n in lost.values()),
        )
    )
    return targets


def _errors(run: TargetResult) -> int:
    half = run.half_load.errors if run.half_load else 0
    return sum(level.errors for level in run.levels) + half


def _target(name: str, measured: str, ok: bool) -> Verdict:
    return Verdict(target=name, measured=measured, passed=bool(ok))


def clean(results: Results) -> bool:
    """No failed request and no lost record (the hard requirements; speed targets are reported)."""
    return all(t.passed for t in results.targets if t.target.startswith("zero"))


def table(results: Results) -> str:
    """The main table as Markdown."""
    lines = [
        "| configuration | users | req/s | p50 ms | p95 ms | p99 ms | errors | accuracy "
        "| peak RSS server MB "
        "| peak RSS Cassandra MB | cores: server / Cassandra / generator / other "
        "| CPU ms per request: server / Cassandra |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
        f"| ceiling (in-process, {results.ceiling.processes} processes, batch "
        f"{results.ceiling.batch}) | - | {results.ceiling.images_per_s:.0f} images/s "
        "| | | | | | | | | |",
    ]
    for run in results.runs:
        cassandra = run.cassandra_peak_rss_mb
        for level in run.levels:
            lines.append(
                f"| {run.description} | {level.concurrency} | {level.rps:.1f} "
                f"| {level.p50_ms:.1f} | {level.p95_ms:.1f} | {level.p99_ms:.1f} "
                f"| {level.errors} | {_accuracy(level)} | {run.server_peak_rss_mb:.0f} "
                f"| {'' if cassandra is None else f'{cassandra:.0f}'} | {_cores(level)} "
                f"| {_cpu_cost(level)} |"
            )
        half = run.half_load
        if half:
            lines.append(
                f"| {run.description}, open loop at {half.target_rate} req/s | - "
                f"| {half.rps:.1f} | {half.p50_ms:.1f} | {half.p95_ms:.1f} "
                f"| {half.p99_ms:.1f} | {half.errors} | {_accuracy(half)} | | | | |"
            )
    return "\n".join(lines)


def _cores(level: Level) -> str:
    cores = (level.cores_server, level.cores_cassandra, level.cores_loadgen, level.cores_other)
    return " / ".join(f"{value:.2f}" for value in cores)


def _accuracy(level: LoadResult) -> str:
    return "" if level.accuracy is None else f"{level.accuracy:.1%}"


def _cpu_cost(level: Level) -> str:
    cassandra = level.cassandra_cpu_ms_per_request
    shown = f"{cassandra:.1f}" if cassandra else "-"
    return f"{level.server_cpu_ms_per_request:.1f} / {shown}"


def charts(results: Results, out: Path) -> list[Path]:
    """Throughput and p99 latency against concurrency, one line per configuration."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, ylabel, name, log_scale in (
        ("rps", "requests/s", "throughput.png", False),
        ("p99_ms", "p99 latency (ms)", "latency_p99.png", True),
    ):
        fig, axis = plt.subplots(figsize=(8, 4.5))
        for run in results.runs:
            xs = [level.concurrency for level in run.levels]
            ys = [getattr(level, key) for level in run.levels]
            axis.plot(xs, ys, marker="o", label=run.name)
        if key == "rps":
            axis.axhline(
                results.ceiling.images_per_s, color="black", linestyle="--", label="ceiling"
            )
        axis.set_xscale("log", base=2)
        if log_scale:
            axis.set_yscale("log")
        axis.set_xlabel("concurrent users (closed loop)")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3, which="both")
        axis.legend()
        axis.set_title(f"{ylabel} by concurrency")
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        paths.append(out / name)
    return paths


def tuning_table(rows: Sequence[TuningRow], concurrency: int) -> str:
    """The tuning sweep as Markdown."""
    lines = [
        f"| workers | threads | inference threads | req/s at {concurrency} | p50 ms | p99 ms "
        "| errors "
        "| server CPU ms/request | server cores | other cores | peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row.workers} | {row.threads} | {row.inference_threads} | {row.rps} "
            f"| {row.p50_ms} | {row.p99_ms} | {row.errors} "
            f"| {row.server_cpu_ms_per_request} | {row.cores_server} "
            f"| {row.cores_other} | {row.server_peak_rss_mb:.0f} |"
        )
    return "\n".join(lines)


def _tuning_section(path: Path) -> list[str]:
    if not path.exists():
        return []
    tuning = Tuning.from_json(path.read_text())
    return [
        "## Tuning sweep",
        "",
        f"`python -m benchmarks.tune` (recording off, {tuning.concurrency} users, "
        f"{tuning.duration_s:g} s per configuration, a separate run):",
        "",
        tuning_table(tuning.rows, tuning.concurrency),
        "",
    ]


def stages_table(stages: Stages) -> str:
    """The per-stage CPU table as Markdown."""
    lines = ["| stage | CPU ms per request |", "|---|---:|"]
    lines += [f"| {row.name} | {row.cpu_ms:.2f} |" for row in stages.steps]
    lines += [f"| **{row.name}** | **{row.cpu_ms:.2f}** |" for row in stages.totals]
    lines += [
        f"| {row.name}, added when recording | {row.cpu_ms:.2f} |" for row in stages.recording
    ]
    return "\n".join(lines)


def _stages_section(path: Path) -> list[str]:
    if not path.exists():
        return []
    stages = Stages.from_json(path.read_text())
    return [
        "## Where a request's CPU goes",
        "",
        f"`python -m benchmarks.stages` (run by `make bench` after the HTTP runs): each stage "
        f"measured on its own over the {stages.corpus_size} corpus images ({stages.repeat} "
        "passes, CPU time, one thread); the app in-process is the service's ASGI app called "
        "directly as a server calls it (no HTTP, no client), recording off; the HTTP rows take "
        f"the server CPU per request of the recording-off run at {COMPARE_AT} users above "
        "(the service settings above, under load: contention is in it, and not in the rows "
        "above it).",
        "",
        stages_table(stages),
        "",
    ]


def markdown(results: Results, chart_paths: list[Path], repo: Path) -> str:
    """The whole BENCHMARKS.md."""
    machine, config = results.machine, results.config
    ceiling = results.ceiling
    pinned = config.loadgen_cpus
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{results.command.strip()}` (what `make bench` runs) at "
        f"{results.generated_at} (took {results.elapsed_s} s). Raw numbers: "
        "`benchmarks/results/latest.json`. Do not edit by hand: run `make bench` again.",
        "",
        "## Machine and method",
        "",
        f"- {machine.cpu}, **{machine.cores} logical cores**, {machine.memory_gb} GB RAM, "
        f"{machine.os}, Python {machine.python}; load average before the run "
        f"{machine.load_before}.",
        "- **The load generator, the server under test and the Cassandra node share these cores.** "
        + (
            f"The generator (one single-threaded gevent process) is pinned to CPU {pinned}; the "
            "servers and Cassandra are not pinned. "
            if pinned
            else "Nothing is pinned. "
        )
        + "Its CPU use per level is in the JSON (`loadgen_cpu_s`). Every configuration gets the "
        "same generator, the same images, the same levels and the same durations.",
        f"- Closed loop: N connections each sending the next request as soon as the answer "
        f"arrives, {config.duration_s:g} s measured after {config.warmup_s:g} s warm-up per "
        f"level; before its first level each configuration gets {config.prewarm_s:g} s "
        f"of unmeasured load at {config.prewarm_users} users (caches, pools, the "
        "Cassandra JVM's JIT). The open-loop row sends at a fixed rate (half the "
        "peak) and measures latency from the scheduled start, so queueing is not hidden.",
        f"- Images: {config.corpus_size} real MNIST test digits as PNG/JPEG from 28x28 to "
        "1600x1200 photo-like (`loadtests/corpus.py`), sent round-robin.",
        "- The service is measured on `POST /predict` (full JSON answer, record written before "
        "the answer); the baseline on its `POST /upload` (text answer). The Cassandra node "
        "(one, 512 MB heap) stays up during the SQLite and recording-off runs too.",
        "- The BentoML-documentation peers (`benchmarks/baselines/bentoml_docs.py`) are this "
        "model served the way BentoML's guides teach: a `PIL.Image` parameter, the Keras model "
        "from the store, `model.predict` per request (`docs-predict`) or per adaptive batch "
        "(`docs-batching`, `batchable=True`, a latency budget high enough to shed nothing); "
        "naive resize, nothing recorded, the service's worker count. They are compared with "
        "the service with recording off.",
        f"- Service settings: {config.service_env or 'defaults from settings.py'}.",
        "",
        "## Results",
        "",
        table(results),
        "",
        f"Ceiling breakdown (one process, one inference thread, CPU time): preprocessing "
        f"{ceiling.preprocess_ms_per_image} ms/image, inference "
        f"{ceiling.inference_ms_per_image_batched} ms/image in batches of {ceiling.batch}, "
        f"{ceiling.inference_ms_single} ms for a batch of one; with the cores to itself the "
        f"pipeline would do {ceiling.cpu_bound_images_per_s:.0f} images/s.",
        "",
        "## Ratios",
        "",
        "| ratio | value |",
        "|---|---:|",
        *(f"| {name.replace('_', ' ')} | {value} |" for name, value in results.ratios.items()),
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        *(
            f"| {t.target} | {t.measured} | {'PASS' if t.passed else 'FAIL'} |"
            for t in results.targets
        ),
        "",
        "## Records",
        "",
        "| configuration | answered (200) | recorded in the store |",
        "|---|---:|---:|",
        *(
            f"| {run.name} | {run.answered} | {'-' if run.recorded is None else run.recorded} |"
            for run in results.runs
        ),
        "",
        "## Charts",
        "",
        *(f"![{p.stem}]({p.relative_to(repo)})" for p in chart_paths),
        "",
    ]
    lines += _stages_section(repo / "benchmarks" / "results" / "stages.json")
    lines += _tuning_section(repo / "benchmarks" / "results" / "tuning.json")
    analysis = repo / "benchmarks" / "analysis.md"
    if analysis.exists():
        lines += [analysis.read_text().rstrip(), ""]
    return "\n".join(lines)
