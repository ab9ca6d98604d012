"""Headless load test with thresholds: CSV, HTML and a PNG chart; non-zero exit on failure.

Without ``--host`` it starts its own stack (``bentoml serve`` with an SQLite store under the
output directory) and stops it afterwards.

Usage: python -m loadtests.run --users 20 --spawn-rate 5 --duration 60 --max-p95-ms 500
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from cli import setup_logging
from loadtests.charts import plot_history, read_history
from loadtests.corpus import describe, load_corpus
from loadtests.stack import REPO, bentoml_server, free_port, running
from loadtests.thresholds import Check, RunStats, Thresholds, evaluate, passed, read_locust_stats

log = logging.getLogger("loadtests.run")

LOCUSTFILE = REPO / "loadtests" / "locustfile.py"


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Shape of one Locust run."""

    users: int = 20
    spawn_rate: float = 5.0
    duration_s: int = 60
    corpus_size: int = 400
    corpus_seed: int = 7
    max_upload_bytes: int = 16 * 1024 * 1024
    reads_may_503: bool = False


@dataclass(frozen=True, slots=True)
class RunFiles:
    """Where one run's outputs go."""

    out: Path

    @property
    def csv_prefix(self) -> Path:
        """Prefix of Locust's CSV files."""
        return self.out / "locust"

    @property
    def stats_csv(self) -> Path:
        """Locust's per-endpoint table (with the Aggregated row)."""
        return self.out / "locust_stats.csv"

    @property
    def history_csv(self) -> Path:
        """Locust's time series."""
        return self.out / "locust_stats_history.csv"

    @property
    def html(self) -> Path:
        """Locust's HTML report."""
        return self.out / "report.html"

    @property
    def summary(self) -> Path:
        """Accuracy summary written by the locustfile."""
        return self.out / "accuracy.json"

    @property
    def ids(self) -> Path:
        """Ids of all accepted predictions, one per line."""
        return self.out / "accepted_ids.txt"

    @property
    def chart(self) -> Path:
        """The throughput/latency PNG."""
        return self.out / "loadtest.png"

    @property
    def result(self) -> Path:
        """Stats plus checks, as JSON."""
        return self.out / "result.json"


def run_locust(
    host: str,
    config: LoadConfig,
    files: RunFiles,
    on_tick: Callable[[float], None] | None = None,
) -> int:
    """Run Locust headless against ``host``, printing a progress line every 5 s.

    Args:
        host: Base URL of the service.
        config: Users, spawn rate, duration, corpus.
        files: Output locations.
        on_tick: Called with the elapsed seconds about once a second (scenarios hook in here).

    Returns:
        Locust's exit code (1 when any request failed; thresholds decide the verdict).
    """
    files.out.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--host", host, "-u", str(config.users), "-r", str(config.spawn_rate),
        "-t", f"{config.duration_s}s", "--stop-timeout", "10",
        "--csv", str(files.csv_prefix), "--csv-full-history", "--html", str(files.html),
        "--digits-corpus-size", str(config.corpus_size),
        "--digits-corpus-seed", str(config.corpus_seed),
        "--digits-summary", str(files.summary), "--digits-ids", str(files.ids),
        "--digits-max-upload-bytes", str(config.max_upload_bytes),
    ]  # fmt: skip
    if config.reads_may_503:
        argv.append("--digits-reads-may-503")
    log.info(
        "locust: %d users (spawn %.1f/s) for %d s against %s",
        config.users, config.spawn_rate, config.duration_s, host,
    )  # fmt: skip
    with (files.out / "locust.log").open("wb") as output:
        process = subprocess.Popen(
            argv, cwd=REPO, stdout=output, stderr=subprocess.STDOUT, env=_env()
        )
        started = time.monotonic()
        last_line = started
        while process.poll() is None:
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            if on_tick is not None:
                on_tick(elapsed)
            if time.monotonic() - last_line >= 5:
                last_line = time.monotonic()
                log.info("%s", progress_line(files.stats_csv, elapsed, config.duration_s))
    return int(process.returncode)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def progress_line(stats_csv: Path, elapsed: float, duration: int) -> str:
    """``t=20/60 s  requests=812  failures=0  rps=40.6  p95=120 ms`` from the live CSV."""
    try:
        stats = read_locust_stats(stats_csv)
    except (OSError, ValueError, KeyError):
        return f"t={elapsed:.0f}/{duration} s  (no statistics yet)"
    return (
        f"t={elapsed:.0f}/{duration} s  requests={stats.requests}  failures={stats.failures}  "
        f"rps={stats.rps:.1f}  p95={stats.p95_ms:g} ms  p99={stats.p99_ms:g} ms"
    )


def collect(files: RunFiles) -> RunStats:
    """Locust's aggregated stats merged with the locustfile's accuracy summary."""
    stats = read_locust_stats(files.stats_csv)
    if files.summary.exists():
        summary = json.loads(files.summary.read_text())
        stats = replace(stats, accuracy=summary["accuracy"], predictions=summary["predictions"])
    return stats


def report(
    files: RunFiles,
    limits: Thresholds,
    title: str,
    marks: list[tuple[float, str]] | None = None,
    extra: list[Check] | None = None,
) -> bool:
    """Evaluate, chart and log one finished run; True when every check passed."""
    stats = collect(files)
    checks = evaluate(stats, limits) + (extra or [])
    if files.history_csv.exists():
        plot_history(read_history(files.history_csv), files.chart, title, marks)
    files.result.write_text(
        json.dumps(
            {
                "stats": asdict(stats),
                "limits": asdict(limits),
                "checks": [asdict(c) for c in checks],
            },
            indent=2,
        )
    )
    for check in checks:
        log.info("%s", check.line())
    verdict = passed(checks)
    log.info(
        "%s - reports: %s, %s, %s",
        "PASSED" if verdict else "FAILED", files.html, files.stats_csv, files.chart,
    )  # fmt: skip
    return verdict


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of the runner."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="Service URL; default: start a local SQLite stack")
    defaults = LoadConfig()
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--spawn-rate", type=float, default=defaults.spawn_rate)
    parser.add_argument("--duration", type=int, default=defaults.duration_s, help="Seconds")
    parser.add_argument("--corpus-size", type=int, default=defaults.corpus_size)
    parser.add_argument(
        "--max-upload-bytes",
        type=int,
        default=defaults.max_upload_bytes,
        help="The service's DIGITS_MAX_UPLOAD_BYTES (the oversize bad upload exceeds it)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "loadtest")
    add_threshold_args(parser)
    return parser.parse_args(argv)


def add_threshold_args(parser: argparse.ArgumentParser) -> None:
    """The threshold options (shared with the outage scenario); a negative value disables one."""
    defaults = Thresholds()
    parser.add_argument("--max-failure-ratio", type=float, default=defaults.max_failure_ratio)
    parser.add_argument("--max-p95-ms", type=float, default=defaults.max_p95_ms)
    parser.add_argument("--max-p99-ms", type=float, default=defaults.max_p99_ms)
    parser.add_argument("--min-accuracy", type=float, default=defaults.min_accuracy)


def thresholds_from(args: argparse.Namespace) -> Thresholds:
    """Thresholds from parsed options (negative = disabled)."""

    def limit(value: float) -> float | None:
        return None if value < 0 else value

    return Thresholds(
        max_failure_ratio=limit(args.max_failure_ratio),
        max_p95_ms=limit(args.max_p95_ms),
        max_p99_ms=limit(args.max_p99_ms),
        min_accuracy=limit(args.min_accuracy),
    )


def local_stack_env(out: Path, store_url: str | None = None) -> dict[str, str]:
    """``DIGITS_*`` for a throw-away local stack writing under ``out``."""
    out = out.resolve()
    return {
        "DIGITS_STORE_URL": store_url or f"sqlite:///{out / 'predictions.db'}",
        "DIGITS_SPOOL_DIR": str(out / "spool"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the load test; 0 when all thresholds hold."""
    setup_logging()
    args = parse_args(argv)
    config = LoadConfig(
        args.users,
        args.spawn_rate,
        args.duration,
        args.corpus_size,
        max_upload_bytes=args.max_upload_bytes,
    )
    files = RunFiles(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    log.info("corpus: %s", describe(load_corpus(config.corpus_size, config.corpus_seed)))
    with ExitStack() as stack:
        host = args.host
        if host is None:
            (args.out / "predictions.db").unlink(missing_ok=True)
            shutil.rmtree(args.out / "spool", ignore_errors=True)
            server = bentoml_server(
                free_port(), local_stack_env(args.out), log_path=args.out / "server.log"
            )
            host = stack.enter_context(running(server)).url
        run_locust(host, config, files)
    ok = report(files, thresholds_from(args), f"{config.users} users against {host}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
