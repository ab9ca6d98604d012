"""The Cassandra store on a real node: what is recorded reads back, once, newest first, counted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from cassandra.cluster import Session

from devtools.cassandra.node import LocalCluster
from settings import Settings
from storage.cassandra import CassandraStore
from storage.migrate import migrate
from storage.records import PredictionRecord, utc_now
from tests.storage.helpers import at

pytestmark = pytest.mark.cassandra

NewRecord = Callable[..., PredictionRecord]


def test_a_recorded_prediction_reads_back_unchanged(
    store: CassandraStore, new_record: NewRecord
) -> None:
    record = new_record(digit=4, filename=None, content_type=None)

    store.record(record)

    assert store.get(record.id) == record
    assert store.spool.depth() == 0


def test_an_unknown_id_is_not_found(store: CassandraStore) -> None:
    assert store.get(uuid.uuid4()) is None
    assert store.set_label(uuid.uuid4(), 3) is False


def test_recording_the_same_prediction_twice_leaves_one_row_in_every_table(
    store: CassandraStore, new_record: NewRecord, cql: Session
) -> None:
    record = new_record(digit=5, created_at=at("2001-02-03", 10, 5))

    store.record(record)
    store.record(record)

    day = date(2001, 2, 3)
    assert cql.execute("SELECT count(*) FROM predictions WHERE id = %s", [record.id]).one()[0] == 1
    by_day = cql.execute(
        "SELECT count(*) FROM predictions_by_day WHERE day = %s AND bucket = %s", [day, 60]
    ).one()[0]
    assert by_day == 1
    by_digit = cql.execute(
        "SELECT count(*) FROM predictions_by_digit WHERE day = %s AND digit = 5", [day]
    ).one()[0]
    assert by_digit == 1
    assert store.stats(day).total == 1


def test_a_day_is_listed_newest_first_in_pages_that_cover_it_exactly(
    store: CassandraStore, new_record: NewRecord
) -> None:
    day = "2001-03-04"
    moments = [at(day, hour, minute, ms=hour) for hour in (0, 3, 9, 23) for minute in (0, 7, 33)]
    records = [new_record(digit=i % 10, created_at=moment) for i, moment in enumerate(moments)]
    others = [
        new_record(created_at=at("2001-03-03", 23, 59)),
        new_record(created_at=at("2001-03-05")),
    ]
    for record in records + others:
        store.record(record)

    pages, cursor = [], None
    while True:
        page = store.recent(5, cursor, day=date(2001, 3, 4))
        pages.append(page.records)
        cursor = page.cursor
        if cursor is None:
            break

    listed = [record for page in pages for record in page]
    assert all(len(page) <= 5 for page in pages)
    assert listed == sorted(records, key=lambda r: r.created_at, reverse=True)


def test_history_without_a_day_starts_with_the_newest_predictions(
    store: CassandraStore, new_record: NewRecord
) -> None:
    now = utc_now()
    newest = [new_record(digit=d, created_at=now + timedelta(milliseconds=d)) for d in (1, 2, 3)]
    for record in newest:
        store.record(record)

    page = store.recent(3)

    assert [r.id for r in page.records] == [r.id for r in reversed(newest)]
    assert page.cursor is not None


def test_a_cursor_the_store_did_not_issue_is_rejected(store: CassandraStore) -> None:
    with pytest.raises(ValueError, match="cursor"):
        store.recent(10, cursor="not-a-cursor")


def test_stats_count_predictions_per_digit_and_the_feedback_on_them(
    store: CassandraStore, new_record: NewRecord
) -> None:
    day = "2001-05-06"
    records = [
        new_record(digit=d, created_at=at(day, 8, i)) for i, d in enumerate([1, 1, 2, 9, 9, 9])
    ]
    for record in records:
        store.record(record)

    assert store.set_label(records[0].id, 1) is True  # right
    assert store.set_label(records[3].id, 4) is True  # wrong
    assert store.set_label(records[3].id, 4) is True  # given twice, counted once
    stats = store.stats(date(2001, 5, 6))

    assert stats.counts == {0: 0, 1: 2, 2: 1, 3: 0, 4: 0, 5: 0, 6: 0, 7: 0, 8: 0, 9: 3}
    assert (stats.feedback, stats.correct) == (2, 1)


def test_a_label_is_kept_with_the_prediction_and_survives_a_replay_of_it(
    store: CassandraStore, new_record: NewRecord
) -> None:
    record = new_record(digit=8, created_at=at("2001-06-07", 14, 2))
    store.record(record)

    store.set_label(record.id, 3)
    store.record(record)  # a late replay of the same record

    assert store.get(record.id).label == 3
    assert store.recent(1, day=date(2001, 6, 7)).records[0].label == 3
    assert store.stats(date(2001, 6, 7)).feedback == 1


@pytest.mark.parametrize(("ttl_days", "expected_s"), [(2, 2 * 86_400), (0, None)])
def test_history_rows_expire_after_the_configured_ttl_while_the_prediction_stays(
    open_store: Callable[..., CassandraStore],
    new_record: NewRecord,
    cql: Session,
    ttl_days: int,
    expected_s: int | None,
) -> None:
    store = open_store(history_ttl_days=ttl_days)
    record = new_record(created_at=at("2001-07-08", 0, 1))
    store.record(record)

    history_ttl = cql.execute(
        "SELECT TTL(digit) FROM predictions_by_day WHERE day = '2001-07-08' AND bucket = 0 "
        "AND created_at = %s AND id = %s",
        [record.created_at, record.id],
    ).one()[0]
    prediction_ttl = cql.execute(
        "SELECT TTL(digit) FROM predictions WHERE id = %s", [record.id]
    ).one()[0]

    if expected_s is None:
        assert history_ttl is None
    else:
        assert expected_s - 120 <= history_ttl <= expected_s
    assert prediction_ttl is None


def test_the_migration_is_idempotent_and_applies_the_replication_setting(
    cassandra_node: LocalCluster, cql: Session
) -> None:
    settings = Settings(
        store_url=cassandra_node.store_url("digits_migration"),
        cassandra_replication="NetworkTopologyStrategy:datacenter1=1",
    )

    migrate(settings)
    migrate(settings)

    replication = cql.execute(
        "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'digits_migration'"
    ).one()[0]
    tables = {
        row[0]
        for row in cql.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = 'digits_migration'"
        )
    }
    assert replication["class"].endswith("NetworkTopologyStrategy")
    assert replication["datacenter1"] == "1"
    assert tables == {
        "predictions",
        "predictions_by_day",
        "predictions_by_digit",
        "history_buckets",
    }


def test_health_reports_a_connected_store_with_an_empty_spool(store: CassandraStore) -> None:
    health = store.health()

    assert health["ok"] is True
    assert health["state"] == "connected"
    assert health["spool_records"] == 0
    assert health["spool_full"] is False
