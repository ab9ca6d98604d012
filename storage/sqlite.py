"""The embedded default store: one SQLite file, no server needed.

WAL mode with ``synchronous=FULL``: a record is on disk before ``record`` returns, several
worker processes can share the file, and readers never block the writer.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from storage.base import PredictionStore, StoreError
from storage.records import RECORD_COLUMNS, RECORD_FIELDS, DayStats, Page, PredictionRecord

#: The UTC day, a column of its own for the history's day filter and the day's stats.
_DAY = ("day", "TEXT NOT NULL")
_COLUMN_NAMES = (*RECORD_FIELDS, _DAY[0])
_COLUMNS = ", ".join(_COLUMN_NAMES)
_DEFINITIONS = ",\n    ".join(
    [f"{name} {column.sqlite}" for name, column in RECORD_COLUMNS.items()] + [" ".join(_DAY)]
)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS predictions (
    {_DEFINITIONS}
);
CREATE INDEX IF NOT EXISTS predictions_recent ON predictions (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS predictions_day ON predictions (day, digit);
"""
_INSERT = (
    f"INSERT OR IGNORE INTO predictions ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMN_NAMES))})"
)


class SQLiteStore(PredictionStore):
    """Predictions in a local SQLite database file."""

    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)

    def record(self, record: PredictionRecord) -> None:
        """Insert the record; a second insert of the same id is ignored."""
        self.record_many([record])

    def record_many(self, records: Sequence[PredictionRecord]) -> None:
        """Insert the records in one transaction: all of them or none."""
        try:
            with self._lock, self._db:
                self._db.executemany(_INSERT, [_row(record) for record in records])
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite write failed: {exc}") from exc

    def get(self, prediction_id: uuid.UUID) -> PredictionRecord | None:
        """One prediction by id."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM predictions WHERE id = ?", (str(prediction_id),)
        )
        return _record(rows[0]) if rows else None

    def recent(self, limit: int, cursor: str | None = None, day: date | None = None) -> Page:
        """Newest first, keyset-paged on (created_at, id)."""
        where, params = [], []
        if day is not None:
            where.append("day = ?")
            params.append(day.isoformat())
        if cursor:
            created_at, last_id = _decode_cursor(cursor)
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            params += [created_at, created_at, last_id]
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM predictions {clause} "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit + 1),
        )
        records = [_record(r) for r in rows[:limit]]
        more = len(rows) > limit
        next_cursor = _encode_cursor(records[-1]) if more and records else None
        return Page(records, next_cursor)

    def stats(self, day: date) -> DayStats:
        """Per-digit counts and feedback of one day."""
        rows = self._query(
            "SELECT digit, COUNT(*), COUNT(label), SUM(label = digit) FROM predictions "
            "WHERE day = ? GROUP BY digit",
            (day.isoformat(),),
        )
        counts = dict.fromkeys(range(10), 0)
        feedback = correct = 0
        for digit, count, labelled, right in rows:
            counts[int(digit)] = int(count)
            feedback += int(labelled)
            correct += int(right or 0)
        return DayStats(day, counts, feedback, correct)

    def set_label(self, prediction_id: uuid.UUID, label: int) -> bool:
        """Store the user's label with the prediction."""
        try:
            with self._lock, self._db:
                cursor = self._db.execute(
                    "UPDATE predictions SET label = ? WHERE id = ?", (label, str(prediction_id))
                )
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite write failed: {exc}") from exc
        return cursor.rowcount > 0

    def count(self) -> int:
        """All records (used by tests and tools)."""
        return int(self._query("SELECT COUNT(*) FROM predictions", ())[0][0])

    def health(self) -> dict[str, object]:
        """The database answers a query."""
        try:
            self._query("SELECT 1", ())
        except StoreError as exc:
            return {"store": self.name, "ok": False, "error": str(exc)}
        return {"store": self.name, "ok": True, "path": str(self.path)}

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite read failed: {exc}") from exc


def _ts(value: datetime) -> str:
    # Fixed-width UTC ISO strings sort in time order.
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


# How fields differ between a record and its SQLite row; the others are stored as they are
# (sqlite3 gives back int, float, str, bytes or None, the fields' own types).
_TO_ROW: dict[str, Callable[[Any], Any]] = {
    "id": str,
    "created_at": _ts,
    "probabilities": lambda values: json.dumps(list(values)),
}
_FROM_ROW: dict[str, Callable[[Any], Any]] = {
    "id": lambda text: uuid.UUID(str(text)),
    "created_at": lambda text: datetime.fromisoformat(str(text)),
    "probabilities": lambda text: tuple(json.loads(str(text))),
    "normalized": bytes,
}


def _row(record: PredictionRecord) -> tuple[object, ...]:
    values = [_TO_ROW.get(name, _same)(getattr(record, name)) for name in RECORD_FIELDS]
    return (*values, record.day.isoformat())


def _record(row: tuple[Any, ...]) -> PredictionRecord:
    stored = zip(RECORD_FIELDS, row[: len(RECORD_FIELDS)], strict=True)  # the day comes last
    return PredictionRecord(**{name: _FROM_ROW.get(name, _same)(value) for name, value in stored})


def _same(value: Any) -> Any:
    return value


def _encode_cursor(record: PredictionRecord) -> str:
    raw = f"{_ts(record.created_at)}|{record.id}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, last_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        datetime.fromisoformat(created_at)
        uuid.UUID(last_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    return created_at, last_id
