"""The embedded SQLite store against the PredictionStore contract (real SQLite, temp file)."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest

from storage.sqlite import SQLiteStore
from tests.support.records import T0, make_record


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStore:
    db = SQLiteStore(tmp_path / "p.db")
    yield db
    db.close()


def test_a_record_reads_back_identical(store: SQLiteStore) -> None:
    record = make_record()
    store.record(record)
    assert store.get(record.id) == record


def test_recording_twice_keeps_one(store: SQLiteStore) -> None:
    record = make_record()
    store.record(record)
    store.record(record)
    assert store.count() == 1


def test_unknown_id_is_none(store: SQLiteStore) -> None:
    assert store.get(uuid.uuid4()) is None


def test_recent_pages_newest_first_without_gaps(store: SQLiteStore) -> None:
    records = [make_record(offset_s=i) for i in range(7)]
    for record in records:
        store.record(record)
    seen, cursor = [], None
    while True:
        page = store.recent(3, cursor)
        seen += page.records
        cursor = page.cursor
        if cursor is None:
            break
    assert [r.id for r in seen] == [r.id for r in reversed(records)]


def test_recent_of_one_day(store: SQLiteStore) -> None:
    today, yesterday = make_record(), make_record(created_at=T0 - timedelta(days=1))
    store.record(today)
    store.record(yesterday)
    assert [r.id for r in store.recent(10, day=yesterday.day).records] == [yesterday.id]


def test_bad_cursor_is_a_value_error(store: SQLiteStore) -> None:
    with pytest.raises(ValueError, match="cursor"):
        store.recent(5, "not-a-cursor")


def test_stats_count_digits_and_feedback(store: SQLiteStore) -> None:
    a, b, c = make_record(7), make_record(7), make_record(1)
    for record in (a, b, c):
        store.record(record)
    assert store.set_label(a.id, 7)
    assert store.set_label(c.id, 4)
    stats = store.stats(T0.date())
    assert stats.counts[7] == 2
    assert stats.counts[1] == 1
    assert stats.total == 3
    assert (stats.feedback, stats.correct) == (2, 1)


def test_label_of_unknown_prediction_is_refused(store: SQLiteStore) -> None:
    assert not store.set_label(uuid.uuid4(), 3)


def test_two_connections_share_the_file(tmp_path: Path) -> None:
    first, second = SQLiteStore(tmp_path / "p.db"), SQLiteStore(tmp_path / "p.db")
    record = make_record()
    first.record(record)
    assert second.get(record.id) == record
    first.close()
    second.close()


def test_health_reports_ok(store: SQLiteStore) -> None:
    assert store.health()["ok"] is True
