"""A batch is recorded whole or not at all, also when Cassandra takes only part of it.

Real Cassandra node; the failure of one record's write is injected into the store.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cassandra.cluster import Session

from storage.base import StoreError
from storage.cassandra import CassandraStore
from storage.cassandra_queries import bucket_of
from storage.records import PredictionRecord

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]


def _fail_write_of(
    store: CassandraStore, victim: PredictionRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = store._submit_write

    def submit(record: PredictionRecord):  # type: ignore[no-untyped-def]
        if record.id == victim.id:
            raise StoreError("injected: Cassandra did not take this record")
        return real(record)

    monkeypatch.setattr(store, "_submit_write", submit)


def _rows(cql: Session, record: PredictionRecord) -> int:
    queries = [
        ("SELECT id FROM predictions WHERE id = %s", [record.id]),
        (
            "SELECT id FROM predictions_by_day WHERE day = %s AND bucket = %s AND id = %s "
            "ALLOW FILTERING",
            [record.day, bucket_of(record.created_at), record.id],
        ),
        (
            "SELECT id FROM predictions_by_digit WHERE day = %s AND digit = %s AND id = %s",
            [record.day, record.digit, record.id],
        ),
    ]
    return sum(len(list(cql.execute(query, params))) for query, params in queries)


def test_a_batch_cassandra_takes_in_part_is_completed_by_the_spool(
    open_store: Callable[..., CassandraStore],
    new_record: Callable[..., PredictionRecord],
    cql: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = open_store()
    batch = [new_record(digit) for digit in range(4)]
    _fail_write_of(store, batch[2], monkeypatch)
    store.record_many(batch)
    assert store.spool.depth() == 1
    assert [_rows(cql, r) for r in batch] == [3, 3, 0, 3]
    monkeypatch.undo()
    assert store.drain_spool() == 1
    assert [_rows(cql, r) for r in batch] == [3, 3, 3, 3]


def test_a_batch_that_cannot_be_completed_is_undone_and_refused(
    open_store: Callable[..., CassandraStore],
    new_record: Callable[..., PredictionRecord],
    cql: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = open_store(spool_max_bytes=1024)  # smaller than one record: the spool refuses
    batch = [new_record(digit) for digit in range(4)]
    _fail_write_of(store, batch[1], monkeypatch)
    with pytest.raises(StoreError):
        store.record_many(batch)
    assert [_rows(cql, r) for r in batch] == [0, 0, 0, 0]
    assert store.spool.depth() == 0
