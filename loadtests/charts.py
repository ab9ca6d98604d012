"""A PNG chart of a Locust run: throughput and latency percentiles over time."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PERCENTILES = ("50%", "95%", "99%")


@dataclass
class History:
    """Aggregated time series from Locust's ``<prefix>_stats_history.csv``."""

    seconds: list[float] = field(default_factory=list)
    users: list[int] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    failures_per_s: list[float] = field(default_factory=list)
    latency_ms: dict[str, list[float | None]] = field(
        default_factory=lambda: {p: [] for p in PERCENTILES}
    )


def read_history(history_csv: Path) -> History:
    """The ``Aggregated`` rows of a stats history file, time relative to the first row."""
    history = History()
    start: float | None = None
    with history_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") != "Aggregated":
                continue
            stamp = float(row["Timestamp"])
            start = stamp if start is None else start
            history.seconds.append(stamp - start)
            history.users.append(int(row["User Count"]))
            history.rps.append(_float(row["Requests/s"]) or 0.0)
            history.failures_per_s.append(_float(row["Failures/s"]) or 0.0)
            for percentile in PERCENTILES:
                history.latency_ms[percentile].append(_float(row[percentile]))
    return history


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def plot_history(
    history: History,
    out: Path,
    title: str,
    marks: list[tuple[float, str]] | None = None,
) -> Path:
    """Draw throughput (top) and p50/p95/p99 latency (bottom) over time into ``out``.

    Args:
        history: The series to draw.
        out: PNG path.
        title: Chart title.
        marks: Optional (second, label) events drawn as vertical lines (e.g. an outage).
    """
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    top.plot(history.seconds, history.rps, label="requests/s", color="tab:blue")
    top.plot(history.seconds, history.failures_per_s, label="failures/s", color="tab:red")
    users = top.twinx()
    users.plot(history.seconds, history.users, label="users", color="tab:gray", linestyle=":")
    users.set_ylabel("users")
    top.set_ylabel("requests/s")
    top.legend(loc="upper left")
    top.set_title(title)
    for percentile, color in zip(PERCENTILES, ("tab:green", "tab:orange", "tab:red"), strict=True):
        values = [float("nan") if v is None else v for v in history.latency_ms[percentile]]
        bottom.plot(history.seconds, values, label=f"p{percentile.rstrip('%')}", color=color)
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("seconds since start")
    bottom.legend(loc="upper left")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        for second, label in marks or []:
            axis.axvline(second, color="black", linestyle="--", alpha=0.6)
            if axis is top:
                axis.annotate(label, (second, 0), rotation=90, va="bottom", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
