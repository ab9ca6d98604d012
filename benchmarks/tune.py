"""Tuning sweep: the service with recording off at one concurrency, over worker/thread settings.

Each configuration (``DIGITS_WORKERS`` x ``DIGITS_THREADS`` x ``DIGITS_INFERENCE_THREADS``) gets
a fresh ``bentoml serve`` and one closed-loop level; the table shows throughput, p99, the server's
CPU milliseconds per request and its peak memory. Results go to ``benchmarks/results/tuning.json``,
which ``benchmarks.run`` includes in BENCHMARKS.md.

Usage: python -m benchmarks.tune [--concurrency 32] [--duration 10]
"""

from __future__ import annotations

import argparse
import logging
import sys

from benchmarks.report import tuning_table
from benchmarks.results import COMPARE_AT, RESULTS, TUNE_DURATION_S, BenchConfig, Tuning, TuningRow
from benchmarks.run import WORK, service_target
from cli import setup_logging

log = logging.getLogger("benchmarks.tune")

#: (workers, threads, inference_threads); the first is the settings.py default.
CONFIGS: tuple[tuple[int, int, int], ...] = (
    (1, 8, 1),
    (1, 8, 2),
    (2, 8, 1),
    (2, 4, 1),
    (2, 16, 1),
)


def sweep(concurrency: int, duration: float) -> list[TuningRow]:
    """Measure every configuration of :data:`CONFIGS`."""
    rows = []
    for index, (workers, threads, inference_threads) in enumerate(CONFIGS, start=1):
        env = {
            "DIGITS_WORKERS": str(workers),
            "DIGITS_THREADS": str(threads),
            "DIGITS_INFERENCE_THREADS": str(inference_threads),
        }
        log.info("config %d/%d: %s", index, len(CONFIGS), env)
        config = BenchConfig(
            levels=[concurrency],
            duration_s=duration,
            ceiling_s=0.0,
            service_env=env,
            targets=["service-none"],
        )
        run = service_target("service-none", "none://", config, [])
        level = run.levels[0]
        rows.append(
            TuningRow(
                workers=workers,
                threads=threads,
                inference_threads=inference_threads,
                rps=round(level.rps, 1),
                p50_ms=level.p50_ms,
                p99_ms=level.p99_ms,
                errors=level.errors,
                server_cpu_ms_per_request=level.server_cpu_ms_per_request,
                cores_server=level.cores_server,
                cores_other=level.cores_other,
                server_peak_rss_mb=run.server_peak_rss_mb,
            )
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the sweep, print the table, write ``results/tuning.json``."""
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=COMPARE_AT)
    parser.add_argument("--duration", type=float, default=TUNE_DURATION_S)
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows = sweep(args.concurrency, args.duration)
    tuning = Tuning(concurrency=args.concurrency, duration_s=args.duration, rows=rows)
    (RESULTS / "tuning.json").write_text(tuning.to_json())
    print(tuning_table(rows, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
