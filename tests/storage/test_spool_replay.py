"""Outages: records taken while Cassandra is away are spooled, then replayed exactly once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from devtools.cassandra.node import LocalCluster
from devtools.waiting import wait_until
from settings import Settings
from storage.base import StoreError
from storage.cassandra import CassandraStore
from storage.records import PredictionRecord
from tests.storage.helpers import at, cql_session

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

NewRecord = Callable[..., PredictionRecord]


def test_records_taken_during_an_outage_and_a_restart_are_replayed_exactly_once(
    cassandra_node: LocalCluster,
    make_settings: Callable[..., Settings],
    new_record: NewRecord,
    keyspace: str,
) -> None:
    settings = make_settings()
    day = "2002-01-02"
    records = [new_record(digit=i % 10, created_at=at(day, 9, i)) for i in range(30)]
    before = CassandraStore(settings)
    assert before.wait_until_connected(30)
    for record in records[:10]:
        before.record(record)

    cassandra_node.stop_node(1)
    for record in records[10:20]:
        before.record(record)  # must neither raise nor lose anything
    assert before.spool.depth() == 10
    assert before.health()["state"] == "spooling"
    before.close()  # the service restarts while Cassandra is still down

    after = CassandraStore(settings)
    for record in records[20:]:
        after.record(record)
    assert after.spool.depth() == 20
    try:
        cassandra_node.start_node(1)
        wait_until(lambda: after.spool.depth() == 0, 60, "the spool to drain")

        with cql_session(cassandra_node.contact_points, keyspace) as cql:
            rows = cql.execute(
                "SELECT id FROM predictions_by_day WHERE day = %s AND bucket IN (54, 55, 56)",
                [date(2002, 1, 2)],
            )
            ids = {row.id for row in rows}
        assert ids == {record.id for record in records}
        assert after.stats(date(2002, 1, 2)).total == 30
        assert list(settings.spool_dir.glob("*.jsonl")) == []
        assert after.health()["state"] == "connected"
    finally:
        after.close()


def test_a_store_that_cannot_reach_cassandra_refuses_loudly_once_its_spool_is_full(
    make_settings: Callable[..., Settings], new_record: NewRecord
) -> None:
    record_bytes = len(new_record().to_json()) + 1
    unreachable = make_settings(
        store_url="cassandra://127.0.0.99:9042/digits_test", spool_max_bytes=3 * record_bytes + 100
    )
    store = CassandraStore(unreachable)
    try:
        for _ in range(3):
            store.record(new_record())
        with pytest.raises(StoreError, match="full"):
            store.record(new_record())

        with pytest.raises(StoreError, match="not connected"):
            store.recent(10)
        health = store.health()
        assert health["ok"] is False
        assert health["spool_full"] is True
        assert health["spool_records"] == 3
    finally:
        store.close()


def test_a_spooled_prediction_can_be_read_and_labelled_and_the_label_is_replayed(
    cassandra_node: LocalCluster,
    make_settings: Callable[..., Settings],
    new_record: NewRecord,
) -> None:
    settings = make_settings()
    record = new_record(digit=3, created_at=at("2002-01-03", 9, 1))
    store = CassandraStore(settings)
    assert store.wait_until_connected(30)
    cassandra_node.stop_node(1)
    try:
        store.record(record)
        assert store.get(record.id) == record  # answered from the spool
        assert store.set_label(record.id, 8)
        assert store.get(record.id).label == 8
    finally:
        cassandra_node.start_node(1)
    try:
        wait_until(lambda: store.spool.depth() == 0, 60, "the spool to drain")
        stored = store.get(record.id)
        assert stored is not None
        assert stored.label == 8
        stats = store.stats(date(2002, 1, 3))
        assert (stats.total, stats.feedback, stats.correct) == (1, 1, 0)
    finally:
        store.close()
