"""A durable outbox on local disk for records the database did not take.

Each process appends JSON lines to its own segment file (``*.jsonl``) and fsyncs every append,
so a record the caller was told is stored survives a crash or restart. An append is all or
nothing: a write the disk refuses (full, I/O error) is cut off the segment again and reported
as :class:`SpoolWriteError`, so no torn line stays behind for the next record to glue onto.
While it writes a segment the process holds an exclusive ``flock`` on it; the lock dies with the
process. A replayer claims a segment by taking that lock itself, which makes sharing one
directory between several worker processes safe: a live writer's segment is never taken, a
dead writer's segment is, and two replayers never drain the same segment. Replays must be
idempotent (a crash during a drain replays the segment again); the segment is removed once
every line in it was written. A line that does not parse and is not the unterminated end of a
segment is corruption: it is logged, counted and kept in ``<segment>.corrupt``.
Lookups by id go through an in-memory index (:mod:`storage.spool_index`).
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
from typing import BinaryIO

from storage.base import StoreError
from storage.records import PredictionRecord
from storage.spool_index import READ_CHUNK, Location, SpoolIndex, complete_lines

log = logging.getLogger("storage.spool")
SEGMENT_SUFFIX = ".jsonl"
QUARANTINE_SUFFIX = ".corrupt"
# Room for one record when judging "full": a real one is about 1.5 KiB of JSON.
RECORD_BYTES = 4096


class SpoolFullError(StoreError):
    """The spool reached its size limit: the record was not stored anywhere."""


class SpoolWriteError(StoreError):
    """The disk refused the record (full, I/O error): nothing of it stays in the spool."""


class Spool:
    """Append-only, fsynced, size-bounded segments in one directory.

    Args:
        directory: Where segments live (created if missing); may be shared by processes.
        max_bytes: Appends that would make the directory larger than this are refused.
    """

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        on_corrupt: Callable[[int], None] = lambda count: None,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.on_corrupt = on_corrupt
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._active: tuple[int, Path] | None = None
        self._line_counts: dict[str, tuple[int, int]] = {}
        self.index = SpoolIndex(self.directory)
        self.refused = 0
        self.write_errors = 0
        self.corrupt_lines = 0
        self.torn_tails = 0

    def append(self, record: PredictionRecord) -> None:
        """Durably append one record (written and fsynced when this returns), or nothing.

        Raises:
            SpoolFullError: The spool is at its size limit.
            SpoolWriteError: The disk refused the write (e.g. ENOSPC, EIO); nothing was kept.
        """
        self.append_many([record])

    def append_many(self, records: Sequence[PredictionRecord]) -> None:
        """Durably append records in one write and one fsync: all of them or none.

        Raises:
            SpoolFullError: The spool cannot take all of them (none was written).
            SpoolWriteError: The disk refused the write (e.g. ENOSPC, EIO); nothing was kept.
        """
        lines = [(record.to_json() + "\n").encode() for record in records]
        data = b"".join(lines)
        with self._lock:
            self._check_room(records, len(data))
            try:
                where = self._write_durably(data)
            except OSError as error:
                self.write_errors += 1
                raise SpoolWriteError(
                    f"spool {self.directory} could not store {_names(records)} "
                    f"({type(error).__name__}: {error}); nothing of it was kept"
                ) from error
            offset = where.offset
            for record, line in zip(records, lines, strict=True):
                self.index.add(record.id, Location(where.segment, offset, len(line)))
                offset += len(line)

    def size_bytes(self) -> int:
        """Bytes in all segments (pending records of every process)."""
        total = 0
        for path in self._segments(include_partial=True):
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def free_bytes(self) -> int:
        """Bytes an unprivileged writer can still put on the spool's filesystem (0 if unknown)."""
        try:
            stats = os.statvfs(self.directory)
        except OSError:
            return 0
        return stats.f_bavail * stats.f_frsize

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

    def full_reason(self) -> str | None:
        """Why one more record would not fit: ``"size limit"``, ``"disk"``, or None."""
        if self.size_bytes() + RECORD_BYTES > self.max_bytes:
            return "size limit"
        if self.free_bytes() < RECORD_BYTES:
            return "disk"
        return None

    @property
    def full(self) -> bool:
        """True when one more record (4 KiB) would pass the size limit or not fit on the disk."""
        return self.full_reason() is not None

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
        """The newest spooled copy of a record, or None; reads only that record's line."""
        for _ in range(2):
            segments = [path.name for path in sorted(self._segments(), key=_mtime)]
            active = self._active
            own = active[1].name if active else None
            where = self.index.locate(record_id, segments, own)
            if where is None:
                return None
            record = self._read_indexed(where)
            if record is not None and record.id == record_id:
                return record
            if where.segment == own:  # own lines are indexed only once fsynced: not stale
                log.error("spool segment %s: record %s unreadable at its offset", own, record_id)
                return None
            self.index.forget(where.segment)  # drained or rewritten meanwhile: look again
        return None

    def close(self) -> None:
        """Close (and unlock) this process's segment; its records stay for a replayer."""
        with self._lock:
            self._close_active()

    def _check_room(self, records: Sequence[PredictionRecord], length: int) -> None:
        size = self.size_bytes()
        if size + length > self.max_bytes:
            self.refused += len(records)
            raise SpoolFullError(
                f"spool {self.directory} is full ({size} of {self.max_bytes} bytes); "
                f"{_names(records)} refused"
            )

    def _write_durably(self, data: bytes) -> Location:
        """Append ``data`` whole and fsync it; on failure leave the segment as it was."""
        fd, path = self._active_segment()
        start = os.fstat(fd).st_size
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            self._roll_back(fd, path, start)
            raise
        return Location(path.name, start, len(data))

    def _roll_back(self, fd: int, path: Path, length: int) -> None:
        """Cut a failed append off its segment; if even that fails, stop writing the segment."""
        try:
            os.ftruncate(fd, length)
            os.fsync(fd)
        except OSError as error:
            # The segment may now end in a torn line. Nothing may be appended after it, or the
            # next record would be glued onto it; a replayer skips it as a torn tail.
            log.error(
                "spool segment %s: could not cut a failed append off (%s: %s); closing it",
                path.name,
                type(error).__name__,
                error,
            )
            self._close_active()

    def _active_segment(self) -> tuple[int, Path]:
        if self._active is None:
            self._active = self._open_segment()
            log.info("spool segment %s opened", self._active[1])
        return self._active

    def _open_segment(self) -> tuple[int, Path]:
        name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        partial = self.directory / f"{name}.tmp"
        final = self.directory / f"{name}{SEGMENT_SUFFIX}"
        fd = os.open(partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            # Locked before it gets a name replayers look at, so none can claim it while live.
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.rename(partial, final)
            _fsync_dir(self.directory)
        except OSError:
            os.close(fd)
            for leftover in (partial, final):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise
        return fd, final

    def _rotate(self) -> None:
        """Hand this process's current segment over to the replayers."""
        with self._lock:
            self._close_active()

    def _close_active(self) -> None:
        if self._active is not None:
            fd, self._active = self._active[0], None  # never written again, even if close fails
            os.close(fd)

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
        if size == counted:
            return size, lines
        with open(path, "rb") as handle:
            handle.seek(counted)
            while counted < size and (chunk := handle.read(min(READ_CHUNK, size - counted))):
                lines += chunk.count(b"\n")
                counted += len(chunk)
        return counted, lines

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
                replayed = self._replay_lines(path, handle, write)
            path.unlink()
            _fsync_dir(self.directory)
            self.index.forget(path.name)
            log.info("spool segment %s drained: %d record(s) replayed", path.name, replayed)
            return replayed
        finally:
            os.close(fd)

    def _replay_lines(
        self, path: Path, handle: BinaryIO, write: Callable[[PredictionRecord], None]
    ) -> int:
        """Write every record of a segment; report a torn tail and quarantine corrupt lines."""
        size = os.fstat(handle.fileno()).st_size
        replayed, end = 0, 0
        corrupt: list[tuple[int, bytes]] = []
        for number, (offset, line) in enumerate(complete_lines(handle, 0, size), 1):
            end = offset + len(line) + 1
            record = _parse(line)
            if record is None:
                corrupt.append((number, line))
                continue
            write(record)
            replayed += 1
        if end < size:
            # Only a crash (or a failed roll-back) in the middle of an append leaves an
            # unterminated last line, and that append was never acknowledged.
            self.torn_tails += 1
            log.warning(
                "spool segment %s ends in a torn line (%d bytes after line %d), skipped: "
                "an append interrupted before it was acknowledged",
                path.name,
                size - end,
                len(corrupt) + replayed,
            )
        if corrupt:
            self._quarantine(path, corrupt)
        return replayed

    def _quarantine(self, path: Path, corrupt: list[tuple[int, bytes]]) -> None:
        """Keep unparsable lines in ``<segment>.corrupt`` and report them loudly."""
        target = path.with_name(path.name + QUARANTINE_SUFFIX)
        for number, line in corrupt:
            log.error(
                "SPOOL CORRUPTION: segment %s line %d does not parse (%d bytes, not a torn "
                "tail); kept in %s, not replayed",
                path.name,
                number,
                len(line),
                target.name,
            )
        self.corrupt_lines += len(corrupt)
        self.on_corrupt(len(corrupt))
        data = b"".join(line + b"\n" for _, line in corrupt)
        try:
            fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(self.directory)
        except OSError as error:
            # The log is then the only copy left of those lines.
            log.error("could not write %s (%s); the corrupt lines: %r", target.name, error, data)

    def _read_indexed(self, where: Location) -> PredictionRecord | None:
        try:
            return _parse(self.index.read_line(where))
        except FileNotFoundError:
            return None

    def quarantined_lines(self) -> int:
        """Lines kept in this directory's ``*.corrupt`` files (by any process, ever)."""
        total = 0
        for path in self.directory.glob(f"*{QUARANTINE_SUFFIX}"):
            with contextlib.suppress(FileNotFoundError):
                total += path.read_bytes().count(b"\n")  # small: corruption is rare
        return total


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
        return min(self.max_backoff_s, self.min_backoff_s * 2.0 ** (self.failures - 1))


def _parse(line: bytes) -> PredictionRecord | None:
    try:
        return PredictionRecord.from_json(line.decode())
    except (ValueError, KeyError, TypeError):
        return None


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte: ``os.write`` may write only part (a disk filling up)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # not expected from a regular file; never loop forever on it
            raise OSError(f"write() returned {written} with {len(view)} bytes left")
        view = view[written:]


def _names(records: Sequence[PredictionRecord]) -> str:
    """``record <id>`` for one record, ``<n> records`` for several (log and error messages)."""
    return f"record {records[0].id}" if len(records) == 1 else f"{len(records)} records"


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
