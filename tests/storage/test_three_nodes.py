"""A three-node cluster, RF=3, QUORUM: losing a node under load loses no request and no record."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel

from devtools.cassandra.node import LocalCluster
from devtools.waiting import wait_until
from settings import Settings
from storage.cassandra import CassandraStore
from storage.migrate import migrate
from storage.records import PredictionRecord
from tests.storage.helpers import cql_session

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

CLUSTER_ADDRESS = "127.0.0.21"
KEYSPACE = "digits_rf3"
WRITERS = 4


@pytest.fixture(scope="module")
def three_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), 3, CLUSTER_ADDRESS)
    try:
        cluster.start(timeout=240)
        yield cluster
    finally:
        cluster.stop()


class Load:
    """Writer threads recording predictions until stopped; remembers what was accepted."""

    def __init__(self, store: CassandraStore, new_record: Callable[..., PredictionRecord]) -> None:
        self.store = store
        self.new_record = new_record
        self.accepted: list[uuid.UUID] = []
        self.failures: list[Exception] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(WRITERS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def wait_for(self, count: int, timeout: float) -> None:
        wait_until(lambda: len(self.accepted) >= count, timeout, f"{count} accepted writes")

    def _run(self) -> None:
        while not self._stop.is_set():
            record = self.new_record(digit=len(self.accepted) % 10)
            try:
                self.store.record(record)
            except Exception as error:
                with self._lock:
                    self.failures.append(error)
                continue
            with self._lock:
                self.accepted.append(record.id)


def stored_ids(hosts: list[str], ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of ``ids`` a QUORUM read finds in the predictions table."""
    found: set[uuid.UUID] = set()
    with cql_session(hosts, KEYSPACE) as cql:
        statement = cql.prepare("SELECT id FROM predictions WHERE id IN ?")
        statement.consistency_level = ConsistencyLevel.QUORUM
        for start in range(0, len(ids), 100):
            rows = cql.execute(statement, [ids[start : start + 100]])
            found.update(row.id for row in rows)
    return found


def test_killing_one_of_three_nodes_under_quorum_writes_fails_no_request_and_loses_no_record(
    three_nodes: LocalCluster, new_record: Callable[..., PredictionRecord], tmp_path: Path
) -> None:
    settings = Settings(
        store_url=three_nodes.store_url(KEYSPACE),
        cassandra_replication="NetworkTopologyStrategy:datacenter1=3",
        cassandra_consistency="QUORUM",
        spool_dir=tmp_path / "spool",
    )
    migrate(settings)
    store = CassandraStore(settings)
    try:
        assert store.wait_until_connected(60)
        with Load(store, new_record) as load:
            load.wait_for(150, timeout=120)
            three_nodes.kill_node(3)
            killed_at = len(load.accepted)
            load.wait_for(killed_at + 300, timeout=180)
        wait_until(lambda: store.spool.depth() == 0, 120, "the spool to drain")

        assert load.failures == []
        survivors = three_nodes.contact_points[:2]
        assert stored_ids(survivors, load.accepted) == set(load.accepted)
        assert len(set(load.accepted)) == len(load.accepted)
    finally:
        store.close()
