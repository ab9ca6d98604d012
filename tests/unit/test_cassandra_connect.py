"""The Cassandra store's background connection never gives up (storage/cassandra.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import storage.cassandra as cassandra_store
from devtools.waiting import wait_until
from settings import Settings
from storage.cassandra import CassandraStore


def test_an_unresolvable_host_keeps_the_connect_loop_retrying(tmp_path: Path) -> None:
    settings = Settings(
        store_url="cassandra://cassandra-0.not-yet.invalid/digits",
        spool_dir=tmp_path / "spool",
        cassandra_timeout_s=0.5,
    )
    store = CassandraStore(settings)
    try:
        wait_until(lambda: "Unresolvable" in store.health()["last_error"], 10, "an error", 0.05)
        time.sleep(1.0)  # several attempts later the thread is still trying
        assert store._connector.is_alive()
        health = store.health()
        assert health["state"] == "spooling"
        assert health["ok"] is True  # records are spooled meanwhile
        assert "cassandra-0.not-yet.invalid:9042" in str(health["waiting_for"])
        assert "UnresolvableContactPoints" in str(health["waiting_for"])
    finally:
        store.close()
    assert not store._connector.is_alive()


class _Host:
    def __init__(self) -> None:
        self.is_up = True


class _FakeCluster:
    """Stands in for the driver's Cluster: one node whose ``is_up`` the test flips."""

    def __init__(self) -> None:
        self.host = _Host()
        self.metadata = self
        self.shut_down = False

    def all_hosts(self) -> list[_Host]:
        return [self.host]

    def connect(self) -> object:
        return object()

    def shutdown(self) -> None:
        self.shut_down = True


def _store_on_fake_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reconnect_after_s: float = 0.3
) -> tuple[CassandraStore, list[_FakeCluster]]:
    """A store whose driver is rebuilt through a fake ``build_cluster`` that records each build."""
    built: list[_FakeCluster] = []

    def build(_settings: Settings, _target: object) -> _FakeCluster:
        built.append(_FakeCluster())
        return built[-1]

    monkeypatch.setattr(cassandra_store, "build_cluster", build)
    monkeypatch.setattr(cassandra_store, "prepare_all", lambda _session, _keyspace: {})
    monkeypatch.setattr(cassandra_store, "_WATCH_INTERVAL_S", 0.05)
    monkeypatch.setattr(cassandra_store, "_RECONNECT_AFTER_S", reconnect_after_s)
    settings = Settings(store_url="cassandra://cassandra-0.db/digits", spool_dir=tmp_path / "spool")
    return CassandraStore(settings), built


def test_a_node_that_stays_up_keeps_the_first_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, built = _store_on_fake_driver(tmp_path, monkeypatch)
    try:
        assert store.wait_until_connected(5)
        time.sleep(1.0)  # over three times the reconnect threshold
        assert len(built) == 1
        assert not built[0].shut_down
        assert store.health()["state"] == "connected"
    finally:
        store.close()


def test_no_node_up_for_the_threshold_rebuilds_the_driver_from_the_contact_points(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, built = _store_on_fake_driver(tmp_path, monkeypatch)
    try:
        assert store.wait_until_connected(5)
        built[0].host.is_up = False  # the pod is gone; the driver only knows its old address
        assert store.health()["state"] == "spooling"
        wait_until(lambda: len(built) == 2, 5, "a second driver", 0.05)
        assert built[0].shut_down  # the old driver is stopped, not leaked
        assert store.wait_until_connected(5)
        assert store.health()["state"] == "connected"
        assert store._cluster is built[1]
    finally:
        store.close()
    assert not store._connector.is_alive()


def test_a_node_down_for_less_than_the_threshold_keeps_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, built = _store_on_fake_driver(tmp_path, monkeypatch, reconnect_after_s=3.0)
    try:
        assert store.wait_until_connected(5)
        built[0].host.is_up = False
        time.sleep(0.5)  # a restart the driver's own reconnection handles
        built[0].host.is_up = True
        time.sleep(3.0)  # longer than the threshold in all: the clock restarted when it came back
        assert len(built) == 1
        assert not built[0].shut_down
    finally:
        store.close()
