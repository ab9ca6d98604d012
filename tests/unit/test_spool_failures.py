"""A disk that writes short, fills up or fails: appends are whole or refused, never torn.

And what a replay finds unreadable is reported: a torn tail as such, anything else as corruption
kept in a quarantine file. Faults are injected into ``os.write``/``fsync``/``ftruncate`` for the
spool's files only.
"""

from __future__ import annotations

import errno
import logging
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from settings import Settings
from storage.base import StoreError
from storage.cassandra import CassandraStore
from storage.records import PredictionRecord
from storage.spool import Spool, SpoolWriteError
from tests.support.records import make_record

MAX = 1_000_000


class Disk:
    """Faults for file descriptors of files under one directory (other fds are untouched)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
        self.directory = str(directory)
        self.real_write = os.write
        self.fail_writes_after: int | None = None  # bytes still written before ENOSPC
        self.short = False
        self.fail = {"fsync": False, "ftruncate": False}
        monkeypatch.setattr(os, "write", self.write)
        for name in self.fail:
            monkeypatch.setattr(os, name, self._failing(name, getattr(os, name)))

    def ours(self, fd: int) -> bool:
        return os.readlink(f"/proc/self/fd/{fd}").startswith(self.directory)

    def write(self, fd: int, data: bytes) -> int:
        if not self.ours(fd):
            return self.real_write(fd, data)
        if self.fail_writes_after is not None:
            if self.fail_writes_after == 0:
                raise OSError(errno.ENOSPC, "No space left on device")
            data = data[: self.fail_writes_after]
            self.fail_writes_after -= len(data)
        if self.short:
            data = data[: max(1, len(data) // 2)]
        return self.real_write(fd, data)

    def _failing(self, name: str, real: Callable[..., None]) -> Callable[..., None]:
        def call(fd: int, *args: object) -> None:
            if self.fail[name] and self.ours(fd):
                raise OSError(errno.EIO, f"Input/output error ({name})")
            real(fd, *args)

        return call


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"), key=lambda path: path.stat().st_mtime_ns)


def replay(directory: Path) -> list[PredictionRecord]:
    replayed: list[PredictionRecord] = []
    Spool(directory, MAX).drain(replayed.append)
    return replayed


def test_short_writes_are_continued_until_the_whole_line_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    disk = Disk(monkeypatch, tmp_path)
    disk.short = True
    spool = Spool(tmp_path, MAX)
    records = [make_record(d) for d in range(3)]

    for record in records:
        spool.append(record)
    spool.close()

    assert replay(tmp_path) == records


def test_a_disk_that_fills_mid_line_refuses_the_record_and_keeps_the_segment_clean(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    disk = Disk(monkeypatch, tmp_path)
    spool = Spool(tmp_path, MAX)
    first, refused, after = make_record(1), make_record(2), make_record(3)
    spool.append(first)
    size = segments(tmp_path)[0].stat().st_size

    disk.fail_writes_after = 100  # 100 bytes of the line go to disk, then ENOSPC
    with pytest.raises(SpoolWriteError, match="No space left") as refusal:
        spool.append(refused)
    assert isinstance(refusal.value, StoreError)
    assert segments(tmp_path)[0].stat().st_size == size
    assert spool.write_errors == 1

    disk.fail_writes_after = None  # space again
    spool.append(after)
    spool.close()
    assert replay(tmp_path) == [first, after]


def test_a_failed_fsync_refuses_the_record_and_cuts_it_off_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    disk = Disk(monkeypatch, tmp_path)
    spool = Spool(tmp_path, MAX)
    kept, refused = make_record(1), make_record(2)
    spool.append(kept)

    disk.fail["fsync"] = True
    with pytest.raises(SpoolWriteError, match="Input/output error"):
        spool.append(refused)
    disk.fail["fsync"] = False
    spool.close()

    assert replay(tmp_path) == [kept]


def test_when_even_the_cut_fails_the_next_record_goes_to_a_new_segment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    disk = Disk(monkeypatch, tmp_path)
    spool = Spool(tmp_path, MAX)
    first, refused, after = make_record(1), make_record(2), make_record(3)
    spool.append(first)

    disk.fail_writes_after = 100
    disk.fail["ftruncate"] = True
    with pytest.raises(SpoolWriteError):
        spool.append(refused)
    disk.fail_writes_after = None
    disk.fail["ftruncate"] = False
    spool.append(after)
    spool.close()

    torn, fresh = segments(tmp_path)
    assert not torn.read_bytes().endswith(b"\n")  # the torn attempt stays, but nothing after it
    assert fresh.read_bytes() == (after.to_json() + "\n").encode()
    with caplog.at_level(logging.WARNING, "storage.spool"):
        replayed = []
        survivor = Spool(tmp_path, MAX)
        survivor.drain(replayed.append)
    assert replayed == [first, after]
    assert survivor.torn_tails == 1
    assert survivor.corrupt_lines == 0
    assert f"spool segment {torn.name} ends in a torn line" in caplog.text


def test_a_segment_that_cannot_be_created_is_a_store_error_and_leaves_no_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spool = Spool(tmp_path, MAX)

    def no_room(source: object, target: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "rename", no_room)  # the new segment is created, then this fails

    with pytest.raises(SpoolWriteError, match="No space left"):
        spool.append(make_record())
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_line_inside_a_segment_is_reported_and_quarantined(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, MAX)
    before, after = make_record(1), make_record(2)
    spool.append(before)
    spool.close()
    segment = segments(tmp_path)[0]
    with open(segment, "ab") as handle:
        handle.write(b'{"id": "glued half a record{"id":"x"}\n')
        handle.write((after.to_json() + "\n").encode())
    found: list[int] = []

    with caplog.at_level(logging.WARNING, "storage.spool"):
        replayed = []
        replayer = Spool(tmp_path, MAX, on_corrupt=found.append)
        replayer.drain(replayed.append)

    assert replayed == [before, after]
    assert (replayer.corrupt_lines, replayer.torn_tails, found) == (1, 0, [1])
    assert f"segment {segment.name} line 2 does not parse" in caplog.text
    quarantine = tmp_path / f"{segment.name}.corrupt"
    assert quarantine.read_bytes() == b'{"id": "glued half a record{"id":"x"}\n'
    assert replayer.quarantined_lines() == 1
    assert replayer.depth() == 0  # the quarantine is not a segment


def test_a_torn_last_line_is_a_torn_tail_not_corruption(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path, MAX)
    record = make_record()
    spool.append(record)
    spool.close()
    with open(segments(tmp_path)[0], "ab") as handle:
        handle.write(b'{"id": "half a rec')

    with caplog.at_level(logging.WARNING, "storage.spool"):
        replayer = Spool(tmp_path, MAX)
        replayed = []
        replayer.drain(replayed.append)

    assert replayed == [record]
    assert (replayer.torn_tails, replayer.corrupt_lines) == (1, 0)
    assert "ends in a torn line" in caplog.text
    assert list(tmp_path.glob("*.corrupt")) == []


def test_a_filesystem_without_room_for_one_record_makes_the_spool_full(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spool = Spool(tmp_path, MAX)
    assert spool.full_reason() is None
    assert spool.free_bytes() > 0
    real_statvfs = os.statvfs

    def almost_full(path: object) -> os.statvfs_result:
        stats = list(real_statvfs(path))
        stats[4] = 0  # f_bavail
        return os.statvfs_result(stats)

    monkeypatch.setattr(os, "statvfs", almost_full)

    assert spool.free_bytes() == 0
    assert spool.full_reason() == "disk"
    assert spool.full


def test_the_store_reports_disk_room_and_counts_corrupt_lines_in_health_and_metrics(
    tmp_path: Path,
) -> None:
    from prometheus_client import REGISTRY

    spool_dir = tmp_path / "spool"
    writer = Spool(spool_dir, MAX)
    writer.append(make_record())
    writer.close()
    with open(next(spool_dir.glob("*.jsonl")), "ab") as handle:
        handle.write(b"not json\n")
    counted = REGISTRY.get_sample_value("digits_store_spool_corrupt_lines_total") or 0.0
    store = CassandraStore(
        Settings(store_url="cassandra://127.0.0.1:1/digits", spool_dir=spool_dir)
    )
    try:
        store.spool.drain(lambda record: None)  # the replayer would, once connected
        health = store.health()
    finally:
        store.close()

    assert health["spool_corrupt_lines"] == 1
    assert health["spool_quarantined_lines"] == 1
    assert health["spool_free_bytes"] > 0
    assert (health["spool_full"], health["spool_full_reason"]) == (False, "")
    assert REGISTRY.get_sample_value("digits_store_spool_corrupt_lines_total") == counted + 1
