"""A service started before its Cassandra host name resolves connects once it does, unrestarted.

On Kubernetes a pod can start before ``cassandra-0.cassandra-seeds`` is in DNS. The service runs
here in a private mount namespace whose ``/etc/hosts`` starts without the name; the name is
added while the service runs (the C library reads the file on every lookup).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from devtools.cassandra.node import CQL_PORT, LocalCluster
from devtools.waiting import wait_until
from tests.storage.helpers import cql_session
from tests.support.server import running_service

pytestmark = [
    pytest.mark.cassandra,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("unshare") is None,
        reason="needs root and unshare(1) for a private /etc/hosts",
    ),
]

LATE_NAME = "cassandra-0.cassandra-seeds.digits.test"


def test_a_service_started_before_its_database_resolves_connects_without_a_restart(
    cassandra_node: LocalCluster,
    fresh_keyspace: str,
    service_env: dict[str, str],
    digit_png: dict[int, bytes],
    tmp_path: Path,
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    private_hosts = [
        "unshare", "--mount", "sh", "-c", f'mount --bind {hosts} /etc/hosts && exec "$@"', "sh",
    ]  # fmt: skip
    env = {
        **service_env,
        "DIGITS_STORE_URL": f"cassandra://{LATE_NAME}:{CQL_PORT}/{fresh_keyspace}",
    }
    with (
        running_service(env, tmp_path, wrapper=private_hosts) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        storage = client.get("/readyz").json()["storage"]
        assert storage["state"] == "spooling"
        assert "Unresolvable" in storage["waiting_for"], storage
        early = client.post("/predict", files={"image": ("7.png", digit_png[7], "image/png")})
        assert early.status_code == 200, early.text

        with hosts.open("a") as file:  # the DNS record appears
            file.write(f"{cassandra_node.contact_points[0]} {LATE_NAME}\n")

        def connected() -> bool:
            return client.get("/readyz").json()["storage"]["state"] == "connected"

        wait_until(connected, 60, "the service to connect to Cassandra")
        late = client.post("/predict", files={"image": ("3.png", digit_png[3], "image/png")})
        assert late.status_code == 200, late.text
        spool = Path(service_env["DIGITS_SPOOL_DIR"])
        wait_until(lambda: not list(spool.glob("*.jsonl")), 60, "the spool to drain")
        assert client.get("/readyz").json()["storage"]["waiting_for"] == ""

    with cql_session(cassandra_node.contact_points, fresh_keyspace) as cql:
        stored = {str(row.id) for row in cql.execute("SELECT id FROM predictions")}
    assert stored == {early.json()["id"], late.json()["id"]}
