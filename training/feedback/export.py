"""Export labelled predictions from the configured store into a feedback dataset file.

The table is read the way analytics jobs scan Cassandra: cut into ranges (token ranges of the
partition key on Cassandra, id ranges on SQLite), each range read with paging by one of a few
threads and streamed to its own part file, so memory holds one page per thread whatever the
table's size. A range is marked done in ``state.json`` only once its part is complete: an
interrupted export (Ctrl-C, a killed process, a lost node) started again skips the finished
ranges and re-reads the others. Only records with a label and made by the current
preprocessing version are kept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from imaging.pipeline import PREPROCESSING_VERSION
from settings import Settings
from training.feedback import dataset

log = logging.getLogger("training.feedback.export")

#: Columns an export reads (the rest of the record plays no part in training).
COLUMNS = ("id", "digit", "label", "model", "preprocessing", "image_sha256", "normalized")
DEFAULT_RANGES = 64
DEFAULT_WORKERS = 4
DEFAULT_FETCH_SIZE = 500
STATE_FILE = "state.json"
#: Murmur3 tokens span the signed 64-bit integers.
MIN_TOKEN, MAX_TOKEN = -(2**63), 2**63 - 1

Row = dict[str, Any]


class Source(Protocol):
    """A store read range by range."""

    identity: str

    def ranges(self, count: int) -> list[tuple[Any, Any]]:
        """``count`` contiguous, disjoint ranges (inclusive bounds) covering the whole table."""

    def scan(self, bounds: tuple[Any, Any], fetch_size: int) -> Iterator[Row]:
        """Every row in the range (``COLUMNS``), paged by ``fetch_size``."""

    def close(self) -> None:
        """Release connections."""


def token_ranges(count: int) -> list[tuple[int, int]]:
    """``count`` equal, inclusive ranges of the Murmur3 token ring, first to last token."""
    if count < 1:
        raise ValueError("count must be at least 1")
    span = (MAX_TOKEN - MIN_TOKEN + 1) // count
    starts = [MIN_TOKEN + i * span for i in range(count)]
    ends = [start - 1 for start in starts[1:]] + [MAX_TOKEN]
    return list(zip(starts, ends, strict=True))


def id_ranges(count: int) -> list[tuple[str, str]]:
    """``count`` inclusive ranges of lowercase UUID strings (by their first 8 hex digits)."""
    bounds = token_ranges(count)
    return [
        (f"{start - MIN_TOKEN >> 32:08x}", f"{end - MIN_TOKEN >> 32:08x}" + "\uffff")
        for start, end in bounds
    ]


class CassandraSource:
    """``predictions`` by token ranges of its partition key (``id``)."""

    def __init__(self, settings: Settings) -> None:
        from storage.cassandra_config import build_cluster
        from storage.cassandra_spec import parse_store_url

        target = parse_store_url(settings.store_url)
        self.identity = f"cassandra://{','.join(target.hosts)}:{target.port}/{target.keyspace}"
        self._cluster = build_cluster(settings, target)
        self._session = self._cluster.connect()
        self._select = self._session.prepare(
            f"SELECT {', '.join(COLUMNS)} FROM {target.keyspace}.predictions "
            "WHERE token(id) >= ? AND token(id) <= ?"
        )
        self._select.is_idempotent = True

    def ranges(self, count: int) -> list[tuple[Any, Any]]:
        """Equal token ranges."""
        return list(token_ranges(count))

    def scan(self, bounds: tuple[Any, Any], fetch_size: int) -> Iterator[Row]:
        """Rows of one token range; the driver fetches the next page as this one is consumed."""
        statement = self._select.bind(bounds)
        statement.fetch_size = fetch_size
        for row in self._session.execute(statement):
            yield {name: getattr(row, name) for name in COLUMNS}

    def close(self) -> None:
        """Shut the driver down."""
        self._cluster.shutdown()


class SQLiteSource:
    """The embedded store's table by ranges of ids."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"no SQLite store at {path}")
        self.identity = f"sqlite://{path.resolve()}"
        self._path = path

    def ranges(self, count: int) -> list[tuple[Any, Any]]:
        """Equal ranges of the ids' leading hex digits."""
        return list(id_ranges(count))

    def scan(self, bounds: tuple[Any, Any], fetch_size: int) -> Iterator[Row]:
        """Labelled rows of one id range, ``fetch_size`` at a time (one connection per call)."""
        db = sqlite3.connect(f"file:{self._path}?mode=ro", uri=True, timeout=30)
        try:
            cursor = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM predictions "
                "WHERE label IS NOT NULL AND id >= ? AND id <= ? ORDER BY id",
                bounds,
            )
            while page := cursor.fetchmany(fetch_size):
                for values in page:
                    yield dict(zip(COLUMNS, values, strict=True))
        finally:
            db.close()

    def close(self) -> None:
        """Nothing held between scans."""


def open_source(settings: Settings) -> Source:
    """The configured store as an export source.

    Raises:
        ValueError: the store keeps nothing (``none://``) or is of an unknown kind.
    """
    scheme = urlsplit(settings.store_url).scheme
    if scheme == "sqlite":
        from storage import sqlite_path

        return SQLiteSource(sqlite_path(settings.store_url))
    if scheme == "cassandra":
        return CassandraSource(settings)
    raise ValueError(f"cannot export from {settings.store_url!r}: use a sqlite or cassandra store")


@dataclass(frozen=True)
class ExportResult:
    """What an export produced."""

    path: Path
    examples: int
    scanned: int
    other_preprocessing: int
    resumed_ranges: int


class _State:
    """``state.json`` of one export: its plan and the ranges already done (thread-safe)."""

    def __init__(self, directory: Path, plan: dict[str, Any]) -> None:
        self.path = directory / STATE_FILE
        self._lock = threading.Lock()
        saved = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.done: dict[str, dict[str, int]] = (
            saved.get("done", {}) if saved.get("plan") == plan else {}
        )
        self.plan = plan
        self._write()

    def finish(self, index: int, counts: dict[str, int]) -> None:
        with self._lock:
            self.done[str(index)] = counts
            self._write()

    def _write(self) -> None:
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps({"plan": self.plan, "done": self.done}, indent=1))
        os.replace(scratch, self.path)


def export(
    source: Source,
    out_dir: Path = dataset.DEFAULT_DIR,
    *,
    ranges: int = DEFAULT_RANGES,
    workers: int = DEFAULT_WORKERS,
    fetch_size: int = DEFAULT_FETCH_SIZE,
    restart: bool = False,
    on_range_done: Callable[[int], None] | None = None,
) -> ExportResult:
    """Scan ``source`` into a dataset file in ``out_dir``, resuming an interrupted run.

    Args:
        source: The store to read.
        out_dir: Where the dataset (and, meanwhile, the export's work folder) goes.
        ranges: Ranges the table is cut into (the unit of resumption).
        workers: Ranges read at once.
        fetch_size: Rows per page.
        restart: Discard an interrupted run's finished ranges.
        on_range_done: Called with each finished range's index (progress hooks, tests).
    """
    plan = {"source": source.identity, "preprocessing": PREPROCESSING_VERSION, "ranges": ranges}
    key = hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:12]
    work = out_dir / f".export-{key}"
    if restart:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    state = _State(work, plan)
    bounds = source.ranges(ranges)
    todo = [i for i in range(ranges) if str(i) not in state.done]
    resumed = ranges - len(todo)
    if resumed:
        log.info("resuming the export of %s: %d of %d ranges already done", source.identity,
                 resumed, ranges)  # fmt: skip
    log.info("exporting labelled %s predictions from %s: %d ranges, %d at a time, pages of %d",
             PREPROCESSING_VERSION, source.identity, len(todo), workers, fetch_size)  # fmt: skip
    from tqdm import tqdm

    progress = tqdm(total=ranges, initial=resumed, unit="range", desc="export", mininterval=1)

    def run(index: int) -> None:
        counts = _scan_range(source, bounds[index], fetch_size, work / f"part-{index:05d}.jsonl")
        state.finish(index, counts)
        progress.update()
        progress.set_postfix(kept=sum(c["kept"] for c in state.done.values()), refresh=False)
        if on_range_done is not None:
            on_range_done(index)

    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="export")
    futures = [pool.submit(run, i) for i in todo]
    try:
        for future in futures:
            future.result()
    except BaseException:
        # Ctrl-C or a failed range: ranges not started yet are left for the next run.
        for future in futures:
            future.cancel()
        raise
    finally:
        pool.shutdown(wait=True)
        progress.close()
    return _assemble(source, work, out_dir, state, resumed)


def _scan_range(
    source: Source, bounds: tuple[Any, Any], fetch_size: int, part: Path
) -> dict[str, int]:
    """Stream one range's useful rows to ``part`` (complete or absent, never half-written)."""
    counts = {"scanned": 0, "kept": 0, "other_preprocessing": 0}
    scratch = part.with_suffix(".tmp")
    with scratch.open("w", encoding="utf-8") as out:
        for row in source.scan(bounds, fetch_size):
            counts["scanned"] += 1
            if row["label"] is None:
                continue
            if row["preprocessing"] != PREPROCESSING_VERSION:
                counts["other_preprocessing"] += 1
                continue
            row = {
                **row,
                "id": str(row["id"]),
                "normalized": base64.b64encode(row["normalized"]).decode(),
            }
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
            counts["kept"] += 1
    os.replace(scratch, part)
    return counts


def _assemble(
    source: Source, work: Path, out_dir: Path, state: _State, resumed: int
) -> ExportResult:
    rows: list[Row] = []
    for part in sorted(work.glob("part-*.jsonl")):
        for line in part.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            row["normalized"] = base64.b64decode(row["normalized"])
            rows.append(row)
    totals = {k: sum(c[k] for c in state.done.values()) for k in ("scanned", "other_preprocessing")}
    manifest = {
        "source": source.identity,
        "preprocessing": PREPROCESSING_VERSION,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows_scanned": totals["scanned"],
        "skipped_other_preprocessing": totals["other_preprocessing"],
    }
    built = dataset.build(rows, manifest)
    path = dataset.save(built, out_dir)
    shutil.rmtree(work)
    log.info("exported %d labelled predictions (%d corrections) of %d rows read -> %s",
             len(built), built.manifest["corrections"], totals["scanned"], path)  # fmt: skip
    return ExportResult(path, len(built), totals["scanned"], totals["other_preprocessing"], resumed)
