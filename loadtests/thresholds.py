"""Pass/fail thresholds of a load run, and reading Locust's CSV statistics.

Pure functions only: the runner feeds them Locust's ``*_stats.csv`` and the accuracy summary the
locustfile writes, and exits non-zero when any check fails.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RunStats:
    """The aggregated numbers of one load run."""

    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    accuracy: float | None = None
    predictions: int = 0

    @property
    def failure_ratio(self) -> float:
        """Failed requests over all requests (0 when nothing was sent)."""
        return self.failures / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Limits a run must stay within; None disables a check."""

    max_failure_ratio: float | None = 0.0
    max_p95_ms: float | None = 500.0
    max_p99_ms: float | None = 1000.0
    min_accuracy: float | None = 0.95
    min_requests: int | None = 1


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome of one threshold."""

    name: str
    limit: str
    actual: str
    passed: bool

    def line(self) -> str:
        """A log line such as ``PASS p95 312 ms <= 500 ms``."""
        return (
            f"{'PASS' if self.passed else 'FAIL'} {self.name}: {self.actual} (limit {self.limit})"
        )


def evaluate(stats: RunStats, limits: Thresholds) -> list[Check]:
    """Every enabled check of ``limits`` against ``stats``, in a fixed order."""
    checks: list[Check] = []
    if limits.min_requests is not None:
        checks.append(
            Check(
                "requests",
                f">= {limits.min_requests}",
                str(stats.requests),
                stats.requests >= limits.min_requests,
            )
        )
    if limits.max_failure_ratio is not None:
        checks.append(
            Check(
                "failure ratio",
                f"<= {limits.max_failure_ratio:.4f}",
                f"{stats.failure_ratio:.4f} ({stats.failures} of {stats.requests})",
                stats.failure_ratio <= limits.max_failure_ratio,
            )
        )
    for name, value, limit in (
        ("p95", stats.p95_ms, limits.max_p95_ms),
        ("p99", stats.p99_ms, limits.max_p99_ms),
    ):
        if limit is not None:
            checks.append(Check(name, f"<= {limit:g} ms", f"{value:g} ms", value <= limit))
    if limits.min_accuracy is not None:
        checks.append(_accuracy_check(stats, limits.min_accuracy))
    return checks


def _accuracy_check(stats: RunStats, minimum: float) -> Check:
    if stats.accuracy is None or stats.predictions == 0:
        return Check("accuracy", f">= {minimum:.3f}", "no predictions checked", False)
    return Check(
        "accuracy",
        f">= {minimum:.3f}",
        f"{stats.accuracy:.4f} over {stats.predictions} predictions",
        stats.accuracy >= minimum,
    )


def passed(checks: list[Check]) -> bool:
    """True when every check passed."""
    return all(check.passed for check in checks)


def read_locust_stats(stats_csv: Path) -> RunStats:
    """The ``Aggregated`` row of Locust's ``<prefix>_stats.csv``.

    Raises:
        ValueError: the file has no aggregated row (the run never started).
    """
    with stats_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated":
                return RunStats(
                    requests=int(row["Request Count"]),
                    failures=int(row["Failure Count"]),
                    rps=_number(row["Requests/s"]),
                    p50_ms=_number(row["50%"]),
                    p95_ms=_number(row["95%"]),
                    p99_ms=_number(row["99%"]),
                )
    raise ValueError(f"no Aggregated row in {stats_csv}")


def _number(text: str) -> float:
    # Locust writes "N/A" for percentiles of an empty run.
    try:
        return float(text)
    except ValueError:
        return 0.0
