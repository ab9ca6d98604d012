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
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from storage.base import PredictionStore, StoreError
from storage.records import DayStats, Page, PredictionRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id            TEXT PRIMARY KEY,
    created_at    TEXT NOT NULL,
    day           TEXT NOT NULL,
    digit         INTEGER NOT NULL,
    confidence    REAL NOT NULL,
    probabilities TEXT NOT NULL,
    model         TEXT NOT NULL,
    preprocessing TEXT NOT NULL,
    image_sha256  TEXT NOT NULL,
    normalized    BLOB NOT NULL,
    filename      TEXT,
    content_type  TEXT,
    byte_size     INTEGER NOT NULL,
    latency_ms    REAL NOT NULL,
    label         INTEGER
);
CREATE INDEX IF NOT EXISTS predictions_recent ON predictions (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS predictions_day ON predictions (day, digit);
"""

_COLUMNS = (
    "id, created_at, day, digit, confidence, probabilities, model, preprocessing, image_sha256, "
    "normalized, filename, content_type, byte_size, latency_ms, label"
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
                self._db.executemany(
                    f"INSERT OR IGNORE INTO predictions ({_COLUMNS}) VALUES ({','.join('?' * 15)})",
                    [_row(record) for record in records],
                )
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


def _row(record: PredictionRecord) -> tuple[object, ...]:
    return (
        str(record.id),
        _ts(record.created_at),
        record.day.isoformat(),
        record.digit,
        record.confidence,
        json.dumps(list(record.probabilities)),
        record.model,
        record.preprocessing,
        record.image_sha256,
        record.normalized,
        record.filename,
        record.content_type,
        record.byte_size,
        record.latency_ms,
        record.label,
    )


def _ts(value: datetime) -> str:
    # Fixed-width UTC ISO strings sort in time order.
    return value.astimezone(UTC).isoformat(timespec="milliseconds")


def _record(row: tuple[Any, ...]) -> PredictionRecord:
    (
        rid,
        created,
        _day,
        digit,
        conf,
        probs,
        model,
        prep,
        sha,
        norm,
        fname,
        ctype,
        size,
        lat,
        label,
    ) = row
    return PredictionRecord(
        id=uuid.UUID(str(rid)),
        created_at=datetime.fromisoformat(str(created)),
        digit=int(digit),
        confidence=float(conf),
        probabilities=tuple(json.loads(str(probs))),
        model=str(model),
        preprocessing=str(prep),
        image_sha256=str(sha),
        normalized=bytes(norm),
        filename=fname if fname is None else str(fname),
        content_type=ctype if ctype is None else str(ctype),
        byte_size=int(size),
        latency_ms=float(lat),
        label=None if label is None else int(label),
    )


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
