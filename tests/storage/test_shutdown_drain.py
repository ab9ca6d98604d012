"""A closing store hands its spooled records to Cassandra before the process goes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cassandra.cluster import Session

from settings import Settings
from storage.base import StoreError
from storage.cassandra import CassandraStore
from storage.records import PredictionRecord

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]


def test_close_drains_the_spool_into_cassandra(
    make_settings: Callable[..., Settings],
    new_record: Callable[..., PredictionRecord],
    cql: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = CassandraStore(make_settings())
    assert store.wait_until_connected(30)
    store._replayer.stop()  # only the final drain may replay

    def refuse(record: PredictionRecord) -> None:
        raise StoreError("injected: Cassandra briefly refused writes")

    monkeypatch.setattr(store, "_submit_write", refuse)
    records = [new_record(digit) for digit in (1, 2, 3)]
    for record in records:
        store.record(record)
    assert store.spool.depth() == 3
    monkeypatch.undo()

    store.close()

    assert store.spool.depth() == 0
    for record in records:
        assert cql.execute("SELECT id FROM predictions WHERE id = %s", [record.id]).one()
