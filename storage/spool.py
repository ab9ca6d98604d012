"""A durable outbox on local disk for records the database did not take.

Each process appends JSON lines to its own segment file (``*.jsonl``) and fsyncs every append,
so a record the caller was told is stored survives a crash or restart. While it writes a
segment the process holds an exclusive ``flock`` on it; the lock dies with the process. A
replayer claims a segment by taking that lock itself, which makes sharing one directory
between several worker processes safe: a live writer's segment is never taken, a dead
writer's segment is, and two replayers never drain the same segment. Replays must be
idempotent (a crash during a drain replays the segment again); the segment is removed once
every line in it was written.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from storage.base import StoreError
from storage.records import PredictionRecord

log = logging.getLogger("storage.spool")
SEGMENT_SUFFIX = ".jsonl"


class SpoolFullError(StoreError):
    """The spool reached its size limit: the record was not stored anywhere."""


class Spool:
    """Append-only, fsynced, size-bounded segments in one directory.

    Args:
        directory: Where segments live (created if missing); may be shared by processes.
        max_bytes: Appends that would make the directory larger than this are refused.
    """

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._active: tuple[int, Path] | None = None
        self._line_counts: dict[str, tuple[int, int]] = {}
        self.refused = 0

    def append(self, record: PredictionRecord) -> None:
        """Durably append one record (written and fsynced when this returns).

        Raises:
            SpoolFullError: The spool is at its size limit.
        """
        data = (record.to_json() + "\n").encode()
        with self._lock:
            if self.size_bytes() + len(data) > self.max_bytes:
                self.refused += 1
                raise SpoolFullError(
                    f"spool {self.directory} is full ({self.size_bytes()} of {self.max_bytes} "
                    f"bytes); record {record.id} refused"
                )
            fd = self._active_fd()
            os.write(fd, data)
            os.fsync(fd)

    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        """Durably append several records in one write and one fsync: all of them or none.

        Raises:
            SpoolFullError: The spool cannot take all of them (none was written).
        """
        data = b"".join((record.to_json() + "\n").encode() for record in records)
        with self._lock:
            if self.size_bytes() + len(data) > self.max_bytes:
                self.refused += len(records)
                raise SpoolFullError(
                    f"spool {self.directory} is full ({self.size_bytes()} of {self.max_bytes} "
                    f"bytes); {len(records)} record(s) refused"
                )
            fd = self._active_fd()
            os.write(fd, data)
            os.fsync(fd)

    def size_bytes(self) -> int:
        """Bytes in all segments (pending records of every process)."""
        total = 0
        for path in self._segments(include_partial=True):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def depth(self) -> int:
        """Records waiting in all segments (complete lines)."""
        counts: dict[str, tuple[int, int]] = {}
        for path in self._segments():
            try:
                counts[path.name] = self._count_lines(path)
            except FileNotFoundError:
                continue
        self._line_counts = counts
        return sum(lines for _, lines in counts.values())

    @property
    def full(self) -> bool:
        """True when less than one typical record (4 KiB) still fits."""
        return self.size_bytes() + 4096 > self.max_bytes

    def drain(self, write: Callable[[PredictionRecord], None]) -> int:
        """Replay every segment no live process is writing, oldest first, then delete it.

        Args:
            write: Stores one record; must be idempotent and raise when it fails.

        Returns:
            The number of records replayed.

        Raises:
            Exception: Whatever ``write`` raised; the segment being drained is kept.
        """
        self._rotate()
        replayed = 0
        for path in sorted(self._segments(), key=_mtime):
            replayed += self._drain_segment(path, write)
        return replayed

    def find(self, record_id: uuid.UUID) -> PredictionRecord | None:
        """The newest spooled copy of a record, or None (reads every segment: outages only)."""
        needle = str(record_id).encode()
        found: PredictionRecord | None = None
        for path in sorted(self._segments(include_partial=True), key=_mtime):
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue  # drained meanwhile
            if needle not in content:
                continue
            for number, line in enumerate(content.splitlines(), 1):
                if needle in line:
                    record = _parse(line, path, number)
                    if record is not None and record.id == record_id:
                        found = record
        return found

    def close(self) -> None:
        """Close (and unlock) this process's segment; its records stay for a replayer."""
        with self._lock:
            self._close_active()

    def _active_fd(self) -> int:
        if self._active is None:
            name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            partial = self.directory / f"{name}.tmp"
            final = self.directory / f"{name}{SEGMENT_SUFFIX}"
            fd = os.open(partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
            # Locked before it gets a name replayers look at, so none can claim it while live.
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(partial, final)
            _fsync_dir(self.directory)
            self._active = (fd, final)
            log.info("spool segment %s opened", final)
        return self._active[0]

    def _rotate(self) -> None:
        """Hand this process's current segment over to the replayers."""
        with self._lock:
            self._close_active()

    def _close_active(self) -> None:
        if self._active is not None:
            os.close(self._active[0])
            self._active = None

    def _segments(self, include_partial: bool = False) -> list[Path]:
        suffixes = {SEGMENT_SUFFIX, ".tmp"} if include_partial else {SEGMENT_SUFFIX}
        try:
            return [path for path in self.directory.iterdir() if path.suffix in suffixes]
        except FileNotFoundError:
            return []

    def _count_lines(self, path: Path) -> tuple[int, int]:
        size = path.stat().st_size
        counted, lines = self._line_counts.get(path.name, (0, 0))
        if size < counted:
            counted, lines = 0, 0
        if size > counted:
            with open(path, "rb") as handle:
                handle.seek(counted)
                lines += handle.read(size - counted).count(b"\n")
        return size, lines

    def _drain_segment(self, path: Path, write: Callable[[PredictionRecord], None]) -> int:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return 0  # another replayer finished it
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # a live writer or another replayer holds it
            if os.fstat(fd).st_nlink == 0:
                return 0  # drained and removed while we waited for it
            with os.fdopen(os.dup(fd), "rb") as handle:
                content = handle.read()
            replayed = 0
            for number, line in enumerate(content.splitlines(), 1):
                record = _parse(line, path, number)
                if record is not None:
                    write(record)
                    replayed += 1
            path.unlink()
            _fsync_dir(self.directory)
            log.info("spool segment %s drained: %d record(s) replayed", path.name, replayed)
            return replayed
        finally:
            os.close(fd)


class Replayer(threading.Thread):
    """Background thread that drains a spool whenever the database is reachable.

    After a failed drain it waits with exponential backoff (``min_backoff_s`` doubling up to
    ``max_backoff_s``); after a success it goes back to checking every ``interval_s``.

    Args:
        spool: The spool to drain.
        write: Idempotent writer of one record; raises on failure.
        ready: Whether the database is worth trying now.
        on_replayed: Called with the number of records each successful drain replayed.
    """

    def __init__(
        self,
        spool: Spool,
        write: Callable[[PredictionRecord], None],
        ready: Callable[[], bool] = lambda: True,
        on_replayed: Callable[[int], None] = lambda count: None,
        interval_s: float = 1.0,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        super().__init__(name="spool-replayer", daemon=True)
        self.spool = spool
        self.write = write
        self.ready = ready
        self.on_replayed = on_replayed
        self.interval_s = interval_s
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self.failures = 0
        self._stop_event = threading.Event()
        self._wake = threading.Event()

    def run(self) -> None:
        """Drain, sleep, repeat until :meth:`stop`."""
        while not self._stop_event.is_set():
            self._wake.wait(self._delay())
            self._wake.clear()
            if self._stop_event.is_set():
                break
            if not self.ready() or not self.spool.depth():
                continue
            try:
                count = self.spool.drain(self.write)
            except Exception as error:  # keep the thread alive whatever the database does
                self.failures += 1
                log.warning(
                    "spool replay failed (%s: %s); retry in %.1f s",
                    type(error).__name__,
                    error,
                    self._delay(),
                )
                continue
            self.failures = 0
            if count:
                self.on_replayed(count)

    def wake(self) -> None:
        """Try a drain now instead of at the next tick."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (a drain in progress finishes its current record first)."""
        self._stop_event.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)

    def _delay(self) -> float:
        if not self.failures:
            return self.interval_s
        return min(self.max_backoff_s, self.min_backoff_s * 2 ** (self.failures - 1))


def _parse(line: bytes, path: Path, number: int) -> PredictionRecord | None:
    try:
        return PredictionRecord.from_json(line.decode())
    except (ValueError, KeyError, TypeError) as error:
        # Only a crash in the middle of an append leaves a torn last line.
        log.error("spool %s line %d unreadable, skipped: %s", path.name, number, error)
        return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
