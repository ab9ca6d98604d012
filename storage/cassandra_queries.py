"""The CQL the Cassandra store runs, prepared once, and the mapping between rows and records.

See storage/schema.cql for the tables and storage/README.md for why they are shaped so.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from cassandra.cluster import Session
from cassandra.query import UNSET_VALUE, PreparedStatement

from storage.records import RECORD_FIELDS, PredictionRecord

BUCKET_MINUTES = 10
BUCKETS_PER_DAY = 24 * 60 // BUCKET_MINUTES

_RECORD_COLUMNS = ", ".join(RECORD_FIELDS)
_PLACEHOLDERS = ", ".join("?" for _ in RECORD_FIELDS)

# "$ks" stands for the keyspace: statements name their tables fully (no USE keyspace).
_CQL = {
    "insert_prediction": (
        f"INSERT INTO $ks.predictions ({_RECORD_COLUMNS}) VALUES ({_PLACEHOLDERS})"
    ),
    "insert_by_day": (
        f"INSERT INTO $ks.predictions_by_day (day, bucket, {_RECORD_COLUMNS}) "
        f"VALUES (?, ?, {_PLACEHOLDERS}) USING TTL ?"
    ),
    "insert_bucket": (
        "INSERT INTO $ks.history_buckets (year, day, bucket) VALUES (?, ?, ?) USING TTL ?"
    ),
    "insert_by_digit": "INSERT INTO $ks.predictions_by_digit (day, digit, id) VALUES (?, ?, ?)",
    "select_prediction": f"SELECT {_RECORD_COLUMNS} FROM $ks.predictions WHERE id = ?",
    "select_page": (
        f"SELECT {_RECORD_COLUMNS} FROM $ks.predictions_by_day WHERE day = ? AND bucket = ?"
    ),
    "select_buckets_of_day": (
        "SELECT day, bucket FROM $ks.history_buckets WHERE year = ? AND day = ?"
    ),
    "select_buckets_of_year": "SELECT day, bucket FROM $ks.history_buckets WHERE year = ?",
    "select_digit_stats": (
        "SELECT count(*) AS predictions, count(label) AS feedback, sum(correct) AS correct "
        "FROM $ks.predictions_by_digit WHERE day = ? AND digit = ?"
    ),
    "delete_prediction": "DELETE FROM $ks.predictions WHERE id = ?",
    "delete_by_day": (
        "DELETE FROM $ks.predictions_by_day "
        "WHERE day = ? AND bucket = ? AND created_at = ? AND id = ?"
    ),
    "delete_by_digit": (
        "DELETE FROM $ks.predictions_by_digit WHERE day = ? AND digit = ? AND id = ?"
    ),
    "update_label": "UPDATE $ks.predictions SET label = ? WHERE id = ?",
    "update_digit_label": (
        "UPDATE $ks.predictions_by_digit SET label = ?, correct = ? "
        "WHERE day = ? AND digit = ? AND id = ?"
    ),
    "select_history_ttl": (
        "SELECT TTL(digit) AS ttl FROM $ks.predictions_by_day "
        "WHERE day = ? AND bucket = ? AND created_at = ? AND id = ?"
    ),
    "update_history_label": (
        "UPDATE $ks.predictions_by_day USING TTL ? SET label = ? "
        "WHERE day = ? AND bucket = ? AND created_at = ? AND id = ?"
    ),
}


def prepare_all(session: Session, keyspace: str) -> dict[str, PreparedStatement]:
    """Prepare every statement; all are idempotent (same values, same rows), so retry-safe."""
    prepared = {}
    for name, cql in _CQL.items():
        statement = session.prepare(cql.replace("$ks", keyspace))
        statement.is_idempotent = True
        prepared[name] = statement
    return prepared


def bucket_of(moment: datetime) -> int:
    """The 10-minute slice of its UTC day a moment falls in (0-143)."""
    utc = moment.astimezone(UTC)
    return (utc.hour * 60 + utc.minute) // BUCKET_MINUTES


# How fields differ between a record and its row; the others are bound and read as they are.
_TO_ROW: dict[str, Callable[[Any], Any]] = {"probabilities": list}
_FROM_ROW: dict[str, Callable[[Any], Any]] = {
    "created_at": lambda moment: moment.replace(tzinfo=UTC),  # the driver gives naive UTC
    "probabilities": tuple,
    "normalized": bytes,
}


def record_values(record: PredictionRecord) -> list[Any]:
    """Bind values of the record columns; unknown values are left unset, not nulled.

    Unset (rather than null) matters for replays: re-inserting a record must not erase a label
    a user gave in the meantime, nor write tombstones for absent optional fields.
    """
    values = [getattr(record, name) for name in RECORD_FIELDS]
    return [
        UNSET_VALUE if value is None else _TO_ROW.get(name, _same)(value)
        for name, value in zip(RECORD_FIELDS, values, strict=True)
    ]


def row_to_record(row: Any) -> PredictionRecord:
    """A record from a row of ``predictions`` or ``predictions_by_day``."""
    return PredictionRecord(
        **{name: _FROM_ROW.get(name, _same)(getattr(row, name)) for name in RECORD_FIELDS}
    )


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class HistoryCursor:
    """Where the next page starts: a history partition and the driver's paging state in it.

    ``day`` is the day filter of the listing (None: all days); ``partition`` is the
    (day, bucket) to continue in; ``paging_state`` is None to start that partition at its top.
    """

    day: date | None
    partition: tuple[date, int]
    paging_state: bytes | None

    def encode(self) -> str:
        """The opaque, URL-safe string handed to clients."""
        data = {
            "d": self.day.isoformat() if self.day else None,
            "k": [self.partition[0].isoformat(), self.partition[1]],
            "p": base64.b64encode(self.paging_state).decode() if self.paging_state else None,
        }
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> HistoryCursor:
        """Inverse of :meth:`encode`.

        Raises:
            ValueError: The string is not a cursor this store issued.
        """
        try:
            padded = text + "=" * (-len(text) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode()))
            return cls(
                day=date.fromisoformat(data["d"]) if data["d"] else None,
                partition=(date.fromisoformat(data["k"][0]), int(data["k"][1])),
                paging_state=base64.b64decode(data["p"]) if data["p"] else None,
            )
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise ValueError(f"invalid cursor: {error}") from None
