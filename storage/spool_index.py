"""Where each spooled record is: an in-memory {record id: (segment, offset, length)} index.

Looking a record up during an outage must not read the whole spool (up to
``DIGITS_SPOOL_MAX_BYTES``) per call. The index holds ids and offsets only, never records.
This process's own appends are added as they are fsynced; segments other processes write are
read incrementally, only the bytes appended since the last look, and only complete lines (a
writer may be in the middle of one). A segment that disappeared (drained) drops out.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

READ_CHUNK = 1 << 20
_ID_PREFIX = b'{"id":"'  # PredictionRecord.to_json writes the id first
_UUID_TEXT = 36


class Location(NamedTuple):
    """One line of one segment (``length`` includes the newline)."""

    segment: str
    offset: int
    length: int


@dataclass(slots=True)
class _Scan:
    """How far one segment has been indexed, and the ids found in it."""

    offset: int = 0
    ids: list[int] = field(default_factory=list)


class SpoolIndex:
    """Thread-safe index of the records in one spool directory.

    Args:
        directory: The spool directory whose segments are indexed.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bytes_read = 0  # how much indexing and lookups read (diagnostics, tests)
        self._lock = threading.Lock()
        self._newest: dict[int, Location] = {}
        # Older copies of an id in other segments (a label spooled by another process), so the
        # id stays findable when the segment of its newest copy is drained first. Rare.
        self._older: dict[int, list[Location]] = {}
        self._scans: dict[str, _Scan] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._newest)

    def add(self, record_id: uuid.UUID, where: Location) -> None:
        """Index a line this process appended and fsynced (the segment is its own)."""
        with self._lock:
            scan = self._scans.setdefault(where.segment, _Scan())
            self._put(record_id.int, where, scan)
            scan.offset = where.offset + where.length

    def locate(
        self, record_id: uuid.UUID, segments: Iterable[str], own: str | None
    ) -> Location | None:
        """The newest indexed copy of a record, after catching up with ``segments``.

        Args:
            record_id: The record looked for.
            segments: Names of the segments now in the directory, oldest first.
            own: This process's segment being written (indexed by :meth:`add`, not read).
        """
        with self._lock:
            self._catch_up(list(segments), own)
            return self._newest.get(record_id.int)

    def forget(self, segment: str) -> None:
        """Drop a segment (drained, or changed under the index: it is read again if present)."""
        with self._lock:
            self._forget(segment)

    def read_line(self, where: Location) -> bytes:
        """The bytes of one indexed line (FileNotFoundError when its segment is gone)."""
        with open(self.directory / where.segment, "rb") as handle:
            handle.seek(where.offset)
            line = handle.read(where.length)
        with self._lock:
            self.bytes_read += len(line)
        return line

    def _catch_up(self, segments: list[str], own: str | None) -> None:
        present = set(segments)
        for gone in [name for name in self._scans if name not in present]:
            self._forget(gone)
        for name in segments:
            if name != own:
                self._scan(name)

    def _scan(self, name: str) -> None:
        """Index the complete lines appended to a segment since it was last scanned."""
        scan = self._scans.setdefault(name, _Scan())
        try:
            with open(self.directory / name, "rb") as handle:
                size = handle.seek(0, 2)
                if size == scan.offset:
                    return
                if size < scan.offset or not self._still_continues(handle, scan.offset):
                    # Its writer cut a failed append off and wrote again: index it afresh.
                    self._forget(name)
                    scan = self._scans.setdefault(name, _Scan())
                for offset, line in self._counted_lines(handle, scan.offset, size):
                    key = record_id_of(line)
                    if key is not None:
                        self._put(key, Location(name, offset, len(line) + 1), scan)
                    scan.offset = offset + len(line) + 1
        except FileNotFoundError:
            self._forget(name)

    def _still_continues(self, handle: BinaryIO, offset: int) -> bool:
        """Whether the byte before ``offset`` is still the newline that ended the last line."""
        if offset == 0:
            return True
        handle.seek(offset - 1)
        self.bytes_read += 1
        return handle.read(1) == b"\n"

    def _counted_lines(self, handle: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        for offset, line in complete_lines(handle, start, end):
            self.bytes_read += len(line) + 1
            yield offset, line

    def _put(self, key: int, where: Location, scan: _Scan) -> None:
        previous = self._newest.get(key)
        if previous is not None and previous.segment != where.segment:
            self._older.setdefault(key, []).append(previous)
        self._newest[key] = where
        scan.ids.append(key)

    def _forget(self, segment: str) -> None:
        scan = self._scans.pop(segment, None)
        if scan is None:
            return
        for key in set(scan.ids):
            older = [where for where in self._older.pop(key, []) if where.segment != segment]
            newest = self._newest.get(key)
            if newest is not None and newest.segment == segment:
                if older:
                    self._newest[key] = older.pop()
                else:
                    del self._newest[key]
            if older:
                self._older[key] = older


def complete_lines(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) of each newline-terminated line in [start, end).

    Reads ``READ_CHUNK`` bytes at a time, so memory stays bounded by the longest line; bytes
    after the last newline (a line still being written, or a torn one) are not yielded.
    """
    handle.seek(start)
    offset, pending, remaining = start, b"", end - start
    while remaining > 0:
        chunk = handle.read(min(READ_CHUNK, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield offset, line
            offset += len(line) + 1


def record_id_of(line: bytes) -> int | None:
    """The record id (as ``UUID.int``) of a spool line, or None if the line has none."""
    try:
        if line.startswith(_ID_PREFIX):
            text = line[len(_ID_PREFIX) : len(_ID_PREFIX) + _UUID_TEXT].decode("ascii")
        else:  # not the layout to_json writes: parse the whole line
            text = json.loads(line)["id"]
        return uuid.UUID(text).int
    except (ValueError, KeyError, TypeError):
        return None
