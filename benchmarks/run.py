"""The benchmark suite, in one go on one machine: ceiling, service, baseline, ratios.

1. ceiling: preprocessing + batched inference in-process (``benchmarks.ceiling``);
2. the service over HTTP at several concurrency levels with the Cassandra store, the SQLite store
   and recording off, plus an open-loop run at half the service's peak throughput;
3. the baseline (``benchmarks/baselines/flask_app.py``) at the same levels, same images, same
   load generator (``benchmarks.loadgen``);
4. the BentoML-documentation peers (``benchmarks/baselines/bentoml_docs.py``: per-request
   ``model.predict`` and adaptive batching), the same way;
5. where a request's CPU goes, stage by stage (``benchmarks.stages``, ``results/stages.json``).

Writes ``benchmarks/results/latest.json``, PNG charts next to it and ``BENCHMARKS.md``, prints
the table, and checks that every answered prediction was recorded (none lost).

Usage: python -m benchmarks.run [--levels 1,8,32,64] [--duration 15]
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil

from benchmarks import report
from benchmarks.ceiling import measure as measure_ceiling
from benchmarks.ceiling import model_dir, served_model
from benchmarks.peers import PEER_SERVICES, peer_server
from benchmarks.results import (
    CEILING_S,
    COMPARE_AT,
    CORPUS_SIZE,
    DURATION_S,
    LEVELS,
    LOADGEN_CPUS,
    RESULTS,
    SERVICE,
    TARGETS,
    WARMUP_S,
    BenchConfig,
    Level,
    LoadResult,
    Machine,
    Results,
    TargetResult,
)
from cli import setup_logging
from imaging.contract import KERAS_FILE
from loadtests.corpus import describe, load_corpus
from loadtests.stack import (
    REPO,
    PeakMemory,
    Server,
    bentoml_server,
    free_port,
    running,
    system_busy_seconds,
    tree_cpu_seconds,
)

log = logging.getLogger("benchmarks")

WORK = REPO / "var" / "bench"
BENCH_KEYSPACE = "digits_bench"
BASELINE_KEYSPACE = "mnist_baseline"
#: The benchmark's own Cassandra node, apart from the development node on 127.0.0.1.
CASSANDRA_ADDRESS = "127.0.0.20"


@dataclass(frozen=True)
class Sweep:
    """What :func:`sweep` measured against one server."""

    levels: list[Level]
    answered: int  # 200 answers, the prewarm included
    server_peak_rss_mb: float
    cassandra_peak_rss_mb: float | None

    @property
    def peak_rps(self) -> float:
        """Best throughput over the levels."""
        return max((level.rps for level in self.levels), default=0.0)

    def result(
        self,
        name: str,
        description: str,
        endpoint: str,
        half: LoadResult | None,
        recorded: int | None,
    ) -> TargetResult:
        """The configuration's result, with its open-loop run and the store's count, if any."""
        return TargetResult(
            name=name,
            description=description,
            endpoint=endpoint,
            levels=self.levels,
            half_load=half,
            server_peak_rss_mb=self.server_peak_rss_mb,
            cassandra_peak_rss_mb=self.cassandra_peak_rss_mb,
            answered=self.answered + (half.all_ok if half else 0),
            recorded=recorded,
        )


def run_loadgen(
    url: str, field_name: str, config: BenchConfig, concurrency: int = 0, rate: float = 0.0
) -> LoadResult:
    """One load level in a separate (optionally pinned) process; its result."""
    argv = [
        sys.executable, "-m", "benchmarks.loadgen", "--url", url, "--field", field_name,
        "--duration", str(config.duration_s), "--warmup", str(config.warmup_s),
        "--corpus-size", str(config.corpus_size),
    ]  # fmt: skip
    argv += ["--rate", str(rate)] if rate else ["--concurrency", str(concurrency)]
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if config.loadgen_cpus:
        os.sched_setaffinity(process.pid, config.loadgen_cpus)
    out, err = process.communicate(timeout=config.duration_s + config.warmup_s + 180)
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode(errors='replace')[-2000:]}")
    return LoadResult.from_json(out)


def sweep(
    name: str, url: str, server: Server, field_name: str, config: BenchConfig, cassandra: list[int]
) -> Sweep:
    """Measure every concurrency level against a running server, with peak memory."""
    # Unmeasured: fills caches and pools and lets the JVM (Cassandra) compile its hot paths.
    warmup = run_loadgen(url, field_name, _short(config), concurrency=config.prewarm_users)
    answered = warmup.all_ok
    levels = []
    watched = {"server": [server.pid], "cassandra": cassandra}
    with PeakMemory(watched) as memory:
        for concurrency in config.levels:
            before = _cpu_snapshot(watched)
            result = run_loadgen(url, field_name, config, concurrency=concurrency)
            share = _cpu_share(before, _cpu_snapshot(watched), result)
            levels.append(Level(**result.model_dump(), **share))
            answered += result.all_ok
            log.info(
                "%-18s c=%-3d %7.1f req/s  p50 %7.1f  p95 %7.1f  p99 %7.1f ms  errors %d",
                name, concurrency, result.rps, result.p50_ms, result.p95_ms, result.p99_ms,
                result.errors,
            )  # fmt: skip
    return Sweep(
        levels=levels,
        answered=answered,
        server_peak_rss_mb=round(memory.peaks["server"] / 2**20, 1),
        cassandra_peak_rss_mb=round(memory.peaks["cassandra"] / 2**20, 1) if cassandra else None,
    )


def _cpu_snapshot(watched: dict[str, list[int]]) -> dict[str, float]:
    snapshot = {name: tree_cpu_seconds(pids) for name, pids in watched.items()}
    snapshot["system"] = system_busy_seconds()
    snapshot["wall"] = time.monotonic()
    return snapshot


def _cpu_share(
    before: dict[str, float], after: dict[str, float], result: LoadResult
) -> dict[str, float]:
    """Cores used during one level by the server, Cassandra, the generator and everything else.

    Also the server's CPU milliseconds per answered request: unlike requests/s, it hardly
    depends on what else the machine is doing, so it shows the cost even on a noisy machine.
    """
    wall = after["wall"] - before["wall"]
    used = {name: after[name] - before[name] for name in ("server", "cassandra", "system")}
    loadgen = result.loadgen_cpu_s
    other = used["system"] - used["server"] - used["cassandra"] - loadgen
    answered = max(1, result.all_ok)
    return {
        "cores_server": round(used["server"] / wall, 2),
        "cores_cassandra": round(used["cassandra"] / wall, 2),
        "cores_loadgen": round(loadgen / wall, 2),
        "cores_other": round(max(0.0, other) / wall, 2),
        "server_cpu_ms_per_request": round(used["server"] * 1000 / answered, 2),
        "cassandra_cpu_ms_per_request": round(used["cassandra"] * 1000 / answered, 2),
    }


def half_load(
    name: str, url: str, swept: Sweep, field_name: str, config: BenchConfig
) -> LoadResult:
    """Open loop at half the peak throughput: the latency a well-provisioned service gives."""
    rate = max(1.0, round(swept.peak_rps / 2, 1))
    result = run_loadgen(url, field_name, config, rate=rate)
    log.info(
        "%-18s open loop at %.1f req/s: p50 %.1f  p95 %.1f  p99 %.1f ms  errors %d",
        name, rate, result.p50_ms, result.p95_ms, result.p99_ms, result.errors,
    )  # fmt: skip
    return result


def _short(config: BenchConfig) -> BenchConfig:
    return config.model_copy(update={"duration_s": config.prewarm_s, "warmup_s": 0.0})


def recorded_today(store_url: str, timeout: float = 60.0) -> int:
    """Predictions a store holds for today and yesterday (UTC), via the project's store API.

    Retries while the store is still connecting (the Cassandra store connects in the background).
    """
    from settings import settings_from_env
    from storage import StoreError, open_store

    store = open_store(settings_from_env({**os.environ, "DIGITS_STORE_URL": store_url}))
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                today = datetime.now(UTC).date()
                return sum(store.stats(day).total for day in (today - timedelta(days=1), today))
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
    finally:
        store.close()


def migrate_keyspace(store_url: str) -> None:
    """Create the service's keyspace and tables (``storage.migrate``), as a deployment does."""
    from settings import settings_from_env
    from storage.migrate import migrate

    migrate(settings_from_env({"DIGITS_STORE_URL": store_url}))


def service_target(
    name: str, store_url: str, config: BenchConfig, cassandra: list[int]
) -> TargetResult:
    """Sweep the service with one store and count what it recorded."""
    descriptions = {
        "service-cassandra": "this service, Cassandra store",
        "service-sqlite": "this service, SQLite store",
        "service-none": "this service, recording off",
    }
    shutil.rmtree(WORK / f"spool-{name}", ignore_errors=True)  # no replay of an earlier run
    env = {
        **config.service_env,
        "DIGITS_STORE_URL": store_url,
        "DIGITS_SPOOL_DIR": str(WORK / f"spool-{name}"),
        "DIGITS_LOG_LEVEL": "WARNING",
    }
    server = bentoml_server(free_port(), env, log_path=WORK / f"{name}.log")
    url = server.url + "/predict"
    with running(server):
        swept = sweep(name, url, server, "image", config, cassandra if "cassandra" in name else [])
        half = half_load(name, url, swept, "image", config) if name == SERVICE else None
    recorded = None if store_url.startswith("none:") else recorded_today(store_url)
    return swept.result(name, descriptions[name], "/predict", half, recorded)


def baseline_target(config: BenchConfig, cassandra: list[int]) -> TargetResult:
    """Sweep the Flask baseline (Cassandra insert per request) and count its rows."""
    uploads = WORK / "baseline-uploads"
    argv = [
        sys.executable, "-m", "benchmarks.baselines.flask_app",
        "--model", str(model_dir() / KERAS_FILE), "--port", str(free_port()),
        "--cassandra", CASSANDRA_ADDRESS, "--keyspace", BASELINE_KEYSPACE,
        "--upload-dir", str(uploads),
    ]  # fmt: skip
    url = f"http://127.0.0.1:{argv[argv.index('--port') + 1]}"
    server = Server("baseline", argv, url, ready_path="/healthz", log_path=WORK / "baseline.log")
    with running(server):
        swept = sweep("baseline", url + "/upload", server, "image01", config, cassandra)
        half = half_load("baseline", url + "/upload", swept, "image01", config)
    recorded = _count_rows(f"SELECT COUNT(*) FROM {BASELINE_KEYSPACE}.predictions")
    shutil.rmtree(uploads, ignore_errors=True)
    description = "original design: Flask + disk + predict + sync insert"
    return swept.result("baseline", description, "/upload", half, recorded)


def peer_target(name: str, config: BenchConfig) -> TargetResult:
    """Sweep one BentoML-documentation peer (recording off), with the service's worker count."""
    workers = int(config.service_env.get("DIGITS_WORKERS", "1"))
    server = peer_server(
        name, free_port(), str(served_model().tag), workers, log_path=WORK / f"{name}.log"
    )
    peer = PEER_SERVICES[name]
    with running(server):
        swept = sweep(name, server.url + "/predict", server, peer.field_name, config, [])
    return swept.result(name, peer.description, "/predict", None, None)


def _cassandra_session() -> Any:
    from cassandra.cluster import Cluster

    return Cluster([CASSANDRA_ADDRESS], protocol_version=5).connect()


def _count_rows(query: str) -> int:
    session = _cassandra_session()
    try:
        return int(session.execute(query, timeout=120).one()[0])
    finally:
        session.cluster.shutdown()


def _drop_keyspaces() -> None:
    session = _cassandra_session()
    try:
        for keyspace in (BENCH_KEYSPACE, BASELINE_KEYSPACE):
            session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)
    finally:
        session.cluster.shutdown()


def machine() -> Machine:
    """What the numbers were measured on."""
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return Machine(
        cpu=cpu_model,
        cores=psutil.cpu_count(logical=True),
        memory_gb=round(psutil.virtual_memory().total / 2**30, 1),
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        load_before=[round(x, 2) for x in os.getloadavg()],
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=_csv(LEVELS), help="Concurrency levels")
    parser.add_argument("--duration", type=float, default=DURATION_S, help="Seconds per level")
    parser.add_argument(
        "--warmup", type=float, default=WARMUP_S, help="Unmeasured seconds per level"
    )
    parser.add_argument("--ceiling-duration", type=float, default=CEILING_S)
    parser.add_argument("--corpus-size", type=int, default=CORPUS_SIZE)
    parser.add_argument(
        "--loadgen-cpu",
        default=_csv(LOADGEN_CPUS),
        help="CPU(s) the load generator is pinned to ('' = none)",
    )
    parser.add_argument("--targets", default=_csv(TARGETS), help="Which configurations to run")
    parser.add_argument("--workers", help="DIGITS_WORKERS for the service")
    parser.add_argument("--threads", help="DIGITS_THREADS for the service")
    parser.add_argument("--inference-threads", help="DIGITS_INFERENCE_THREADS for the service")
    parser.add_argument("--keep-cassandra", action="store_true", help="Leave the node running")
    parser.add_argument("--markdown", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument(
        "--render",
        action="store_true",
        help="Only rewrite the Markdown and charts from results/latest.json (no measuring)",
    )
    return parser.parse_args(argv)


def _csv(values: tuple[object, ...]) -> str:
    return ",".join(str(value) for value in values)


def config_from(args: argparse.Namespace) -> BenchConfig:
    """BenchConfig from parsed options."""
    env = {
        f"DIGITS_{name.upper()}": str(value)
        for name, value in (
            ("workers", args.workers),
            ("threads", args.threads),
            ("inference_threads", args.inference_threads),
        )
        if value
    }
    cpus = sorted({int(c) for c in args.loadgen_cpu.split(",") if c.strip()})
    return BenchConfig(
        levels=[int(x) for x in args.levels.split(",")],
        duration_s=args.duration,
        warmup_s=args.warmup,
        corpus_size=args.corpus_size,
        ceiling_s=args.ceiling_duration,
        loadgen_cpus=cpus,
        service_env=env,
        targets=[t.strip() for t in args.targets.split(",") if t.strip()],
    )


def main(argv: list[str] | None = None) -> int:
    """Run everything and write BENCHMARKS.md; 1 if a request failed or a record was lost."""
    setup_logging()
    args = parse_args(argv)
    if args.render:
        return render(args.markdown)
    config = config_from(args)
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    info = machine()
    log.info("corpus: %s", describe(load_corpus(config.corpus_size)))
    log.info("phase 1/3: ceiling (in-process, %d s)", config.ceiling_s)
    ceiling = measure_ceiling(config.ceiling_s, config.corpus_size)
    log.info("ceiling: %.0f images/s", ceiling.images_per_s)
    runs = run_http_phases(config, args.keep_cassandra)
    elapsed_s = round(time.monotonic() - began)
    ratios, targets = report.evaluate(ceiling, runs)
    results = Results(
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=info,
        config=config,
        command="python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        ceiling=ceiling,
        runs=runs,
        elapsed_s=elapsed_s,
        ratios=ratios,
        targets=targets,
    )
    (RESULTS / "latest.json").write_text(results.to_json())
    charts = report.charts(results, RESULTS)
    args.markdown.write_text(report.markdown(results, charts, REPO))
    print(report.table(results))
    log.info("wrote %s, %s and %d charts", args.markdown, RESULTS / "latest.json", len(charts))
    return 0 if report.clean(results) else 1


def render(markdown: Path) -> int:
    """Rewrite BENCHMARKS.md and charts from the last results (e.g. after editing analysis.md)."""
    results = Results.from_json((RESULTS / "latest.json").read_text())
    charts = report.charts(results, RESULTS)
    markdown.write_text(report.markdown(results, charts, REPO))
    log.info("re-rendered %s from %s", markdown, RESULTS / "latest.json")
    return 0


def run_http_phases(config: BenchConfig, keep_cassandra: bool) -> list[TargetResult]:
    """Phases 2 to 5 with the benchmark's own Cassandra node up for their whole duration."""
    from devtools.cassandra.node import LocalCluster

    cluster = LocalCluster(base_dir=WORK / "cassandra", first_address=CASSANDRA_ADDRESS)
    log.info("starting the benchmark's Cassandra node on %s", CASSANDRA_ADDRESS)
    cluster.start()
    runs: list[TargetResult] = []
    try:
        _drop_keyspaces()
        migrate_keyspace(cluster.store_url(BENCH_KEYSPACE))
        pids = [pid for row in cluster.status() if isinstance(pid := row["pid"], int)]
        stores = {
            "service-cassandra": cluster.store_url(BENCH_KEYSPACE),
            "service-sqlite": f"sqlite:///{WORK / 'predictions.db'}",
            "service-none": "none://",
        }
        (WORK / "predictions.db").unlink(missing_ok=True)
        for index, name in enumerate(config.targets, start=1):
            log.info("phase 2-3 (%d/%d): %s", index, len(config.targets), name)
            if name == "baseline":
                runs.append(baseline_target(config, pids))
            elif name in PEER_SERVICES:
                runs.append(peer_target(name, config))
            else:
                runs.append(service_target(name, stores[name], config, pids))
        off = next((run.at(COMPARE_AT) for run in runs if run.name == "service-none"), None)
        log.info("phase 4: where a request's CPU goes (benchmarks.stages)")
        argv = [
            sys.executable, "-m", "benchmarks.stages", "--corpus-size", str(config.corpus_size),
            "--cassandra", cluster.store_url(BENCH_KEYSPACE),
        ]  # fmt: skip
        if off:
            argv += ["--http-cpu-ms", str(off.server_cpu_ms_per_request)]
        subprocess.run(argv, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    finally:
        if not keep_cassandra:
            cluster.stop()
    return runs


if __name__ == "__main__":
    sys.exit(main())
