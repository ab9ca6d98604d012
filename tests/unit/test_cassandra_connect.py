"""The Cassandra store's background connection never gives up (storage/cassandra.py)."""

from __future__ import annotations

import time
from pathlib import Path

from settings import Settings
from storage.cassandra import CassandraStore


def _wait(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_an_unresolvable_host_keeps_the_connect_loop_retrying(tmp_path: Path) -> None:
    settings = Settings(
        store_url="cassandra://cassandra-0.not-yet.invalid/digits",
        spool_dir=tmp_path / "spool",
        cassandra_timeout_s=0.5,
    )
    store = CassandraStore(settings)
    try:
        assert _wait(lambda: "Unresolvable" in store.health()["last_error"])
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
