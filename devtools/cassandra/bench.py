"""Benchmark: start-up time of a local Cassandra node and write throughput of the store.

Usage::

    python -m devtools.cassandra.bench [--records 3000] [--threads 8]
        [--json reports/storage-bench.json]

Starts a fresh node in a temporary directory on 127.0.0.31 (a running development node is left
alone), migrates a keyspace, records synthetic predictions from several threads through
:class:`~storage.cassandra.CassandraStore`, measures this process's CPU per record against
the driver's own floor (its smallest prepared insert) and the spool's fsynced append rate for
comparison, prints the numbers and stops the node.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from devtools.cassandra.node import LocalCluster
from settings import Settings
from storage.cassandra import CassandraStore
from storage.migrate import migrate
from storage.records import PredictionRecord, utc_now
from storage.spool import Spool

BENCH_ADDRESS = "127.0.0.31"


def synthetic_record(number: int) -> PredictionRecord:
    """A realistic record (784-byte image, 10 probabilities) for digit ``number % 10``."""
    digit = number % 10
    return PredictionRecord(
        id=uuid.uuid4(),
        created_at=utc_now(),
        digit=digit,
        confidence=0.97,
        probabilities=tuple(0.97 if i == digit else 0.003333 for i in range(10)),
        model="mnist_cnn:bench",
        preprocessing="bench",
        image_sha256=f"{number:064x}",
        normalized=bytes((number + i) % 256 for i in range(784)),
        filename=f"{number}.png",
        content_type="image/png",
        byte_size=400,
        latency_ms=3.0,
    )


def write_throughput(store: CassandraStore, records: int, threads: int) -> dict[str, float]:
    """Record ``records`` predictions from ``threads`` threads; rate and latency percentiles.

    ``client_cpu_ms`` is this process's CPU time per record (the store's code, the driver and
    its event-loop thread), the records themselves being built before the clock starts.
    """
    latencies: list[float] = []
    lock = threading.Lock()
    prepared = [synthetic_record(number) for number in range(records)]
    counter = iter(prepared)

    def worker() -> None:
        for record in counter:
            started = time.perf_counter()
            store.record(record)
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    began, cpu_began = time.perf_counter(), time.process_time()
    for thread in pool:
        thread.start()
    while any(thread.is_alive() for thread in pool):
        time.sleep(2)
        _print(f"written {len(latencies)}/{records}")
    duration, cpu_s = time.perf_counter() - began, time.process_time() - cpu_began
    ordered = sorted(latencies)
    return {
        "records": records,
        "threads": threads,
        "seconds": round(duration, 2),
        "client_cpu_ms": round(cpu_s * 1000 / records, 3),
        "records_per_s": round(records / duration, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "spooled": store.spool.depth(),
    }


def driver_floor(store: CassandraStore, requests: int, in_flight: int = 8) -> dict[str, float]:
    """What the driver alone costs: the smallest prepared insert, ``in_flight`` at a time.

    The floor the store's CPU per record is compared with (one request per record either way).
    """
    session = store._session_or_raise()
    statement = store._statement("insert_by_digit")
    day = utc_now().date()
    rows = [[day, number % 10, uuid.uuid4()] for number in range(requests)]
    pending: list[Any] = []
    began, cpu_began = time.perf_counter(), time.process_time()
    for row in rows:
        pending.append(session.execute_async(statement, row))
        if len(pending) >= in_flight:
            pending.pop(0).result()
    for future in pending:
        future.result()
    duration, cpu_s = time.perf_counter() - began, time.process_time() - cpu_began
    return {
        "requests": requests,
        "requests_per_s": round(requests / duration, 1),
        "client_cpu_ms": round(cpu_s * 1000 / requests, 3),
    }


def spool_throughput(directory: Path, records: int) -> dict[str, float]:
    """Fsynced appends per second into a fresh spool (the outage path)."""
    spool = Spool(directory, max_bytes=1 << 30)
    began = time.perf_counter()
    for number in range(records):
        spool.append(synthetic_record(number))
    duration = time.perf_counter() - began
    spool.close()
    return {"records": records, "records_per_s": round(records / duration, 1)}


@dataclass(frozen=True)
class BenchResult:
    """What the benchmark measured."""

    node_startup_s: float
    store_writes: dict[str, float]
    driver_floor: dict[str, float]
    spool_appends: dict[str, float]


def run(records: int, threads: int, workdir: Path) -> BenchResult:
    """The whole benchmark in ``workdir``; returns the results."""
    cluster = LocalCluster(workdir / "cassandra", 1, BENCH_ADDRESS)
    _print("starting a fresh node")
    startup_s = cluster.start()
    try:
        settings = Settings(
            store_url=cluster.store_url("digits_bench"),
            spool_dir=workdir / "spool",
            cassandra_timeout_s=5.0,
        )
        migrate(settings)
        store = CassandraStore(settings)
        try:
            if not store.wait_until_connected(60):
                raise RuntimeError(f"store did not connect: {store.health()}")
            for number in range(200):  # warm-up: prepared statements, JIT, connections
                store.record(synthetic_record(number))
            _print(f"writing {records} records from {threads} threads")
            writes = write_throughput(store, records, threads)
            _print(f"the driver alone: {records} small inserts")
            floor = driver_floor(store, records)
        finally:
            store.close()
    finally:
        cluster.stop()
    spool = spool_throughput(workdir / "spool-bench", min(records, 2000))
    return BenchResult(round(startup_s, 1), writes, floor, spool)


def _print(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m devtools.cassandra.bench", description=__doc__)
    parser.add_argument("--records", type=int, default=3000, help="records to write")
    parser.add_argument("--threads", type=int, default=8, help="concurrent writers")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="digits-bench-") as tmp:
        results = run(args.records, args.threads, Path(tmp))
    writes = results.store_writes
    _print(f"node start-up: {results.node_startup_s} s")
    _print(
        f"store writes: {writes['records_per_s']} records/s (p50 {writes['p50_ms']} ms, "
        f"p95 {writes['p95_ms']} ms, {writes['threads']:.0f} threads)"
    )
    floor = results.driver_floor
    _print(
        f"client CPU per record: {writes['client_cpu_ms']} ms through the store, "
        f"{floor['client_cpu_ms']} ms for the driver's smallest insert "
        f"({writes['client_cpu_ms'] / max(floor['client_cpu_ms'], 1e-9):.2f}x)"
    )
    _print(f"spool appends (fsync each): {results.spool_appends['records_per_s']} records/s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(results), indent=2) + "\n")
        _print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
