"""Prometheus metrics of the Cassandra store (served on the service's ``/metrics``).

Created on first use, not at import: BentoML workers set ``PROMETHEUS_MULTIPROC_DIR`` after the
service module is imported, and ``prometheus_client`` must see it to share values across workers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

_lock = threading.Lock()
_metrics: StoreMetrics | None = None


@dataclass(frozen=True)
class StoreMetrics:
    """The counters, gauges and histogram named ``digits_store_*``."""

    written: Counter
    spooled: Counter
    replayed: Counter
    failed: Counter
    spool_corrupt: Counter
    spool_depth: Gauge
    spool_bytes: Gauge
    write_seconds: Histogram


def store_metrics() -> StoreMetrics:
    """The process-wide metrics (registered once)."""
    global _metrics
    with _lock:
        if _metrics is None:
            _metrics = _create()
        return _metrics


def _create() -> StoreMetrics:
    from prometheus_client import Counter, Gauge, Histogram

    return StoreMetrics(
        written=Counter("digits_store_written", "Records acknowledged by Cassandra on first try."),
        spooled=Counter("digits_store_spooled", "Records put in the durable spool instead."),
        replayed=Counter("digits_store_replayed", "Spooled records later written to Cassandra."),
        failed=Counter(
            "digits_store_failed",
            "Records neither written nor spooled (spool full or disk error): refused.",
        ),
        spool_corrupt=Counter(
            "digits_store_spool_corrupt_lines",
            "Spool lines found corrupt during replay (kept in *.corrupt, not replayed).",
        ),
        spool_depth=Gauge(
            "digits_store_spool_depth",
            "Records waiting in the spool.",
            multiprocess_mode="livemax",
        ),
        spool_bytes=Gauge(
            "digits_store_spool_bytes",
            "Bytes in the spool directory.",
            multiprocess_mode="livemax",
        ),
        write_seconds=Histogram(
            "digits_store_write_seconds",
            "Time to write one record to Cassandra (all its tables).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        ),
    )
