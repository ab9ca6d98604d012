"""Cassandra outage under load: stop the node mid-run, start it again, lose nothing.

A real single Cassandra node (its own directory and address, apart from the development node)
and a real ``bentoml serve`` recording into a fresh keyspace take the Locust traffic of
``loadtests.run``. Part-way through, the node is stopped; the service must keep answering
(it spools), and after the node is back the spool must drain. Then every accepted prediction
id must be in each of the store's tables exactly once, and nothing else may be there but the
legacy ``/upload`` answers (which carry no id; they are counted).

Usage: python -m loadtests.outage --users 10 --duration 100 --down-at 20 --up-at 45
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cli import setup_logging
from devtools.waiting import wait_until
from loadtests.run import (
    LoadConfig,
    RunFiles,
    add_threshold_args,
    report,
    run_locust,
    thresholds_from,
)
from loadtests.stack import REPO, Server, bentoml_server, free_port, running
from loadtests.thresholds import Check

log = logging.getLogger("loadtests.outage")

ADDRESS = "127.0.0.30"
TABLES = ("predictions", "predictions_by_day", "predictions_by_digit")


@dataclass(frozen=True)
class TableAudit:
    """How the accepted ids appear in one table."""

    table: str
    rows: int
    missing: int
    duplicated: int
    unexpected: int

    def exact(self, legacy: int) -> bool:
        """Each accepted id once, and only the ``legacy`` id-less answers besides."""
        return self.missing == 0 and self.duplicated == 0 and self.unexpected == legacy


def audit(accepted: set[str], table: str, row_ids: list[str]) -> TableAudit:
    """Compare the ids found in ``table`` with the ids the service answered with."""
    counts = Counter(row_ids)
    return TableAudit(
        table=table,
        rows=len(row_ids),
        missing=sum(1 for i in accepted if counts[i] == 0),
        duplicated=sum(1 for n in counts.values() if n > 1),
        unexpected=sum(1 for i in counts if i not in accepted),
    )


class Outage:
    """Stops the node at ``down_at`` s and starts it again at ``up_at`` s (in a thread)."""

    def __init__(self, cluster: Any, down_at: float, up_at: float) -> None:
        self.cluster = cluster
        self.down_at = down_at
        self.up_at = up_at
        self.marks: list[tuple[float, str]] = []
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def tick(self, elapsed: float) -> None:
        """Called by the runner about once a second with the seconds since the load began."""
        if self._thread is None and elapsed >= self.down_at:
            origin = time.monotonic() - elapsed
            self._thread = threading.Thread(target=self._run, args=(origin,), daemon=True)
            self._thread.start()

    def _run(self, origin: float) -> None:
        def now() -> float:
            return time.monotonic() - origin

        try:
            log.info("OUTAGE: stopping Cassandra at t=%.0f s", now())
            self.marks.append((now(), "Cassandra stopped"))
            self.cluster.stop_node(1)
            time.sleep(max(0.0, self.up_at - now()))
            log.info("OUTAGE: starting Cassandra again at t=%.0f s", now())
            self.marks.append((now(), "Cassandra starting"))
            self.cluster.start_node(1)
            self.marks.append((now(), "Cassandra back"))
            log.info("OUTAGE: Cassandra answers CQL again at t=%.0f s", now())
        except BaseException as error:
            self.error = error

    def join(self) -> None:
        """Wait for the restart to finish."""
        if self._thread is not None:
            self._thread.join()


def wait_for_drain(server: Server, timeout: float) -> int:
    """Poll ``/readyz`` until the service's spool is empty; the records left."""
    left = -1

    def drained() -> bool:
        nonlocal left
        storage = readiness(server).get("storage", {})
        left = int(storage.get("spool_records", -1))
        log.info("waiting for the spool to drain: %s records, %s", left, storage.get("state"))
        return left == 0 and storage.get("state") == "connected"

    with contextlib.suppress(TimeoutError):  # the caller reports what is left
        wait_until(drained, timeout, "the spool drained", every=2)
    return left


def readiness(server: Server) -> dict[str, Any]:
    """The JSON detail of ``/readyz`` (also when it answers 503), {} when unreachable."""
    try:
        with urllib.request.urlopen(server.url + "/readyz", timeout=5) as response:
            return dict(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        try:
            return dict(json.loads(error.read()))
        except ValueError:
            return {}
    except (OSError, ValueError):
        return {}


def read_ids(session: Any, keyspace: str, table: str) -> list[str]:
    """All prediction ids in one table (a full scan: fine for a test keyspace)."""
    rows = session.execute(f"SELECT id FROM {keyspace}.{table}", timeout=120)
    return [str(row.id) for row in rows]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line of the scenario."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--spawn-rate", type=float, default=5.0)
    parser.add_argument("--duration", type=int, default=100, help="Seconds of load")
    parser.add_argument("--down-at", type=float, default=20.0, help="Stop Cassandra at (s)")
    parser.add_argument("--up-at", type=float, default=45.0, help="Start it again at (s)")
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "loadtest-outage")
    parser.add_argument("--keep-cassandra", action="store_true", help="Leave the node running")
    parser.add_argument(
        "--reads-may-503",
        action="store_true",
        help="Accept 503 JSON answers to history reads while the database is down",
    )
    add_threshold_args(parser)
    parser.set_defaults(max_p95_ms=2000.0, max_p99_ms=5000.0)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the scenario; 0 when the thresholds hold and no record is lost or doubled."""
    setup_logging()
    args = parse_args(argv)
    from devtools.cassandra.node import LocalCluster

    args.out.mkdir(parents=True, exist_ok=True)
    cluster = LocalCluster(base_dir=REPO / "var" / "loadtests" / "cassandra", first_address=ADDRESS)
    keyspace = f"outage_{int(time.time())}"
    files = RunFiles(args.out)
    log.info("starting the scenario's Cassandra node on %s", ADDRESS)
    cluster.start()
    try:
        outage, checks = scenario(args, cluster, keyspace, files)
    finally:
        if not args.keep_cassandra:
            cluster.stop()
    ok = report(files, thresholds_from(args), "Cassandra outage under load", outage.marks, checks)
    return 0 if ok else 1


def scenario(
    args: argparse.Namespace, cluster: Any, keyspace: str, files: RunFiles
) -> tuple[Outage, list[Check]]:
    """Migrate, serve, load with an outage, drain, audit; the audit's checks."""
    from settings import settings_from_env
    from storage.migrate import migrate

    store_url = cluster.store_url(keyspace)
    shutil.rmtree(args.out / "spool", ignore_errors=True)  # no replay of an earlier run
    migrate(settings_from_env({"DIGITS_STORE_URL": store_url}))
    env = {"DIGITS_STORE_URL": store_url, "DIGITS_SPOOL_DIR": str(args.out.resolve() / "spool")}
    server = bentoml_server(free_port(), env, log_path=args.out / "server.log")
    config = LoadConfig(
        args.users, args.spawn_rate, args.duration, reads_may_503=args.reads_may_503
    )
    outage = Outage(cluster, args.down_at, args.up_at)
    with running(server):
        run_locust(server.url, config, files, on_tick=outage.tick)
        outage.join()
        if outage.error is not None:
            raise outage.error
        left = wait_for_drain(server, args.drain_timeout)
    checks = [Check("spool drained", "0 records", f"{left} records", left == 0)]
    checks += audit_store(cluster, keyspace, files, args.out)
    return outage, checks


def audit_store(cluster: Any, keyspace: str, files: RunFiles, out: Path) -> list[Check]:
    """Every accepted id exactly once in every table; the audit is written to ``out``."""
    from cassandra.cluster import Cluster

    accepted = set(files.ids.read_text().split())
    legacy = int(json.loads(files.summary.read_text())["legacy_accepted"])
    session = Cluster(cluster.contact_points, protocol_version=5).connect()
    try:
        audits = [audit(accepted, table, read_ids(session, keyspace, table)) for table in TABLES]
    finally:
        session.cluster.shutdown()
    (out / "audit.json").write_text(
        json.dumps(
            {"accepted_ids": len(accepted), "legacy_accepted": legacy,
             "tables": [asdict(a) for a in audits]},
            indent=2,
        )
    )  # fmt: skip
    return [
        Check(
            f"{a.table} exactly once",
            f"{len(accepted)} ids + {legacy} legacy, 0 missing/duplicated",
            f"{a.rows} rows, {a.missing} missing, {a.duplicated} duplicated, "
            f"{a.unexpected} unexpected",
            a.exact(legacy),
        )
        for a in audits
    ]


if __name__ == "__main__":
    sys.exit(main())
