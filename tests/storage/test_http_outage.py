"""The outage drill through HTTP: Cassandra stops mid-stream, the service restarts while it is
down, Cassandra comes back -> every accepted upload is stored exactly once, the spool ends
empty, and no request failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.cassandra.node import LocalCluster
from devtools.waiting import wait_until
from tests.storage.helpers import UploadStream, cql_session
from tests.support.server import running_service

pytestmark = [pytest.mark.cassandra, pytest.mark.integration, pytest.mark.slow]


def test_uploads_across_an_outage_and_a_service_restart_are_stored_exactly_once(
    cassandra_node: LocalCluster,
    fresh_keyspace: str,
    service_env: dict[str, str],
    digit_png: dict[int, bytes],
    tmp_path: Path,
) -> None:
    spool = Path(service_env["DIGITS_SPOOL_DIR"])
    accepted, failures = [], []
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    try:
        with running_service(service_env, tmp_path / "first") as url:
            with UploadStream(url, digit_png) as stream:
                stream.wait_for(20)
                cassandra_node.stop_node(1)
                stream.wait_for(len(stream.accepted) + 20)
            accepted += stream.accepted
            failures += stream.failures
        assert list(spool.glob("*.jsonl")), "uploads during the outage went to the spool"

        with running_service(service_env, tmp_path / "second") as url:  # Cassandra still down
            with UploadStream(url, digit_png) as stream:
                stream.wait_for(20)
                cassandra_node.start_node(1)
                stream.wait_for(len(stream.accepted) + 20)
            accepted += stream.accepted
            failures += stream.failures
            wait_until(lambda: not list(spool.glob("*.jsonl")), 120, "an empty spool")
    finally:
        if not cassandra_node.status()[0]["pid"]:
            cassandra_node.start_node(1)

    with cql_session(cassandra_node.contact_points, fresh_keyspace) as cql:
        stored = [row.id for row in cql.execute("SELECT id FROM predictions")]
    assert failures == []
    assert len(accepted) == len(set(accepted))
    assert sorted(stored) == sorted(accepted)
