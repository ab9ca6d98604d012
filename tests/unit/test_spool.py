"""The durable outbox: what is appended is replayed exactly as written, then removed."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from storage.records import PredictionRecord
from storage.spool import Replayer, Spool, SpoolFullError
from tests.support.records import make_record

REPO_ROOT = Path(__file__).resolve().parents[2]


class Sink:
    """Collects replayed records; fails the first ``fail_times`` writes."""

    def __init__(self, fail_times: int = 0) -> None:
        self.records: list[PredictionRecord] = []
        self.fail_times = fail_times

    def __call__(self, record: PredictionRecord) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("database down")
        self.records.append(record)


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def test_appended_records_are_replayed_unchanged_and_the_segment_removed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    records = [make_record(d) for d in range(5)]
    for record in records:
        spool.append(record)
    assert spool.depth() == 5

    sink = Sink()
    assert spool.drain(sink) == 5

    assert sink.records == records
    assert segments(tmp_path) == []
    assert spool.depth() == 0


def test_records_survive_a_restart_of_the_process(tmp_path: Path) -> None:
    first = Spool(tmp_path, max_bytes=1_000_000)
    record = make_record()
    first.append(record)
    first.close()

    sink = Sink()
    Spool(tmp_path, max_bytes=1_000_000).drain(sink)

    assert sink.records == [record]


def test_a_full_spool_refuses_loudly_and_keeps_what_it_has(tmp_path: Path) -> None:
    one_line = len(make_record().to_json()) + 1
    spool = Spool(tmp_path, max_bytes=2 * one_line + 10)
    spool.append(make_record())
    spool.append(make_record())

    with pytest.raises(SpoolFullError, match="full"):
        spool.append(make_record())

    assert spool.refused == 1
    assert spool.full
    assert spool.depth() == 2


def test_a_failed_replay_keeps_the_segment_and_a_later_one_writes_every_record(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    records = [make_record() for _ in range(3)]
    for record in records:
        spool.append(record)
    flaky = Sink(fail_times=1)

    with pytest.raises(ConnectionError):
        spool.drain(flaky)
    assert spool.depth() == 3

    assert spool.drain(flaky) == 3
    assert flaky.records == records
    assert segments(tmp_path) == []


def test_a_torn_last_line_is_skipped_and_the_rest_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    record = make_record()
    spool.append(record)
    spool.close()
    with open(segments(tmp_path)[0], "ab") as handle:
        handle.write(b'{"id": "half a rec')

    sink = Sink()
    Spool(tmp_path, max_bytes=1_000_000).drain(sink)

    assert sink.records == [record]
    assert segments(tmp_path) == []


_WRITER = """
import sys, uuid
sys.path.insert(0, {root!r})
from tests.unit.test_spool import make_record
from storage.spool import Spool
spool = Spool({directory!r}, max_bytes=1_000_000)
spool.append(make_record())
print("appended", flush=True)
sys.stdin.readline()
"""


def test_a_live_writers_segment_is_left_alone_and_taken_once_the_writer_is_gone(
    tmp_path: Path,
) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER.format(root=str(REPO_ROOT), directory=str(tmp_path))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "appended"
        sink = Sink()

        assert Spool(tmp_path, max_bytes=1_000_000).drain(sink) == 0
        assert len(segments(tmp_path)) == 1
    finally:
        writer.communicate("exit\n", timeout=30)

    assert Spool(tmp_path, max_bytes=1_000_000).drain(sink) == 1
    assert segments(tmp_path) == []


def test_two_replayers_on_one_directory_replay_each_record_once(tmp_path: Path) -> None:
    writer = Spool(tmp_path, max_bytes=10_000_000)
    for _ in range(200):
        writer.append(make_record())
    writer.close()
    sinks = [Sink(), Sink()]
    threads = [
        threading.Thread(target=Spool(tmp_path, max_bytes=10_000_000).drain, args=(sink,))
        for sink in sinks
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [record.id for sink in sinks for record in sink.records]
    assert len(ids) == 200
    assert len(set(ids)) == 200


def test_the_replayer_backs_off_while_the_database_fails_then_drains(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    records = [make_record() for _ in range(4)]
    for record in records:
        spool.append(record)
    sink = Sink(fail_times=3)
    replayed: list[int] = []
    replayer = Replayer(
        spool, sink, on_replayed=replayed.append, interval_s=0.05, min_backoff_s=0.05
    )

    replayer.start()
    try:
        deadline = time.monotonic() + 10
        while spool.depth() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        replayer.stop()

    assert spool.depth() == 0
    assert sink.records == records
    assert replayed == [4]


def test_the_replayer_does_not_touch_the_spool_while_the_database_is_not_ready(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=1_000_000)
    spool.append(make_record())
    sink = Sink()
    asked = threading.Semaphore(0)

    def not_ready() -> bool:
        asked.release()
        return False

    replayer = Replayer(spool, sink, ready=not_ready, interval_s=0.01)
    replayer.start()
    try:
        # Three ticks in which the replayer asked and was told "not ready" (a drain it did
        # anyway would have happened in the same thread before it asked again).
        for tick in range(3):
            assert asked.acquire(timeout=10), f"the replayer asked only {tick} time(s) in 10 s"
    finally:
        replayer.stop()

    assert sink.records == []
    assert spool.depth() == 1
    assert len(segments(tmp_path)) == 1
