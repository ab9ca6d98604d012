"""The schema job, `python -m storage.bootstrap`, against a real Cassandra 5.0 node.

Kubernetes' Job/digits-schema and compose's schema service run this one command. The node's
cassandra.yaml goes through k8s/base/scripts/cassandra-config.sh, as in the StatefulSet, so it
runs with PasswordAuthenticator and CassandraAuthorizer and starts with only the default
superuser; the command then runs as in the pod, with the environment the Secrets give it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cassandra import Unauthorized
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable

from devtools.cassandra import node as cassandra_node
from devtools.cassandra.node import DEFAULT_LIB, LocalCluster, Node
from devtools.waiting import wait_until
from tests.deployment.k8s_manifests import K8S, ROOT

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

#: Longest a changed password may take to apply: Cassandra's credentials cache, with room.
CREDENTIALS_CACHE_S = 15.0
ADDRESS = "127.0.0.41"  # apart from tests/storage (127.0.0.11-31) and a developer's node
KEYSPACE = "k8s_schema_job"
SCRIPTS = K8S / "base" / "scripts"
ADMIN = ("digits_admin", "admin-" + uuid.uuid4().hex)
APP = ("digits", "app-" + uuid.uuid4().hex)


def through_config_script(original: Callable[[Node], str]) -> Callable[[Node], str]:
    """``devtools.cassandra.node.cassandra_yaml`` passed through the StatefulSet's config script."""

    def patched(node: Node) -> str:
        path = node.conf_dir / "cassandra.yaml.k8s"
        path.write_text(original(node))
        subprocess.run(["bash", str(SCRIPTS / "cassandra-config.sh"), str(path)], check=True)
        return path.read_text()

    return patched


@pytest.fixture(scope="module")
def secured_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One node configured by the StatefulSet's config script (authentication on)."""
    if not any(DEFAULT_LIB.glob("cassandra-all-*.jar")):
        pytest.fail(f"no Cassandra jars in {DEFAULT_LIB}: run `make cassandra-install`")
    cluster = LocalCluster(tmp_path_factory.mktemp("k8s-cassandra"), 1, ADDRESS)
    with pytest.MonkeyPatch.context() as patch:
        original = cassandra_node.cassandra_yaml
        patch.setattr(cassandra_node, "cassandra_yaml", through_config_script(original))
        # Anonymous CQL queries are refused now: an open port is "started"; the job waits for
        # a login itself.
        patch.setattr(
            cassandra_node,
            "cql_answers",
            lambda address, port=cassandra_node.CQL_PORT, **_: cassandra_node.cql_port_open(
                address, port
            ),
        )
        try:
            cluster.start()
        except BaseException:
            cluster.stop()  # never leave a half-started node holding the address
            raise
    try:
        yield cluster
    finally:
        cluster.stop()


def job_env(tmp_path: Path, app_password: str = APP[1]) -> dict[str, str]:
    """The environment the job's container gets from the ConfigMap and the Secrets."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "DIGITS_CASSANDRA_ADMIN_USERNAME": ADMIN[0],
        "DIGITS_CASSANDRA_ADMIN_PASSWORD": ADMIN[1],
        "DIGITS_CASSANDRA_USERNAME": APP[0],
        "DIGITS_CASSANDRA_PASSWORD": app_password,
        "DIGITS_CASSANDRA_BOOTSTRAP_WAIT_S": "180",
        "DIGITS_STORE_URL": f"cassandra://{ADDRESS}/{KEYSPACE}",
        "DIGITS_CASSANDRA_REPLICATION": "SimpleStrategy:1",
    }


def bootstrap(env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The job's one command, as the pod runs it."""
    return subprocess.run(
        [sys.executable, "-m", "storage.bootstrap"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_job(env: dict[str, str]) -> str:
    """The job's command, required to succeed; returns its log."""
    result = bootstrap(env)
    assert result.returncode == 0, f"storage.bootstrap failed:\n{result.stdout}\n{result.stderr}"
    return result.stderr


def logs_in(user: str, password: str) -> bool:
    """Whether ``user`` may log in with ``password`` now."""
    try:
        login(user, password).shutdown()
    except NoHostAvailable:
        return False
    return True


def login(user: str, password: str) -> Cluster:
    cluster = Cluster(
        [ADDRESS], auth_provider=PlainTextAuthProvider(user, password), protocol_version=5
    )
    cluster.connect()
    return cluster


def test_the_job_secures_the_cluster_and_gives_the_app_its_keyspace(
    secured_node: LocalCluster, tmp_path: Path
) -> None:
    log = run_job(job_env(tmp_path))
    assert "superuser digits_admin created" in log
    assert "default superuser cassandra retired" in log
    with pytest.raises(NoHostAvailable):
        login("cassandra", "cassandra")  # the well-known default superuser is retired
    app = login(*APP)
    try:
        session = app.connect(KEYSPACE)
        record_id = uuid.uuid4()
        session.execute("INSERT INTO predictions (id, digit) VALUES (%s, 7)", (record_id,))
        row = session.execute("SELECT digit FROM predictions WHERE id = %s", (record_id,)).one()
        assert row.digit == 7
        with pytest.raises(Unauthorized):  # least privilege: its keyspace only
            session.execute(
                "CREATE KEYSPACE intruder WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
        with pytest.raises(Unauthorized):  # rows only: the schema is the migration's
            session.execute("DROP TABLE predictions")
        with pytest.raises(Unauthorized):
            session.execute("CREATE TABLE intruder (id uuid PRIMARY KEY)")
    finally:
        app.shutdown()


def test_the_job_runs_again_and_applies_a_rotated_app_password(
    secured_node: LocalCluster, tmp_path: Path
) -> None:
    run_job(job_env(tmp_path))
    rotated = "rotated-" + uuid.uuid4().hex
    run_job(job_env(tmp_path, app_password=rotated))
    # Cassandra caches credentials (credentials_validity, 2 s by default): a new password may need
    # a moment to be the one a login is checked against. The service reconnects with backoff.
    wait_until(lambda: logs_in(APP[0], rotated), CREDENTIALS_CACHE_S, "the rotated password works")
    wait_until(lambda: not logs_in(*APP), CREDENTIALS_CACHE_S, "the old password is refused")
    with pytest.raises(NoHostAvailable):
        login(*APP)


def test_system_auth_is_replicated_like_the_data_and_read_back_at_all(
    secured_node: LocalCluster, tmp_path: Path
) -> None:
    log = run_job(job_env(tmp_path))
    assert "system_auth repaired by reading its" in log
    admin = login(*ADMIN)
    try:
        row = (
            admin.connect()
            .execute(
                "SELECT replication FROM system_schema.keyspaces "
                "WHERE keyspace_name = 'system_auth'"
            )
            .one()
        )
        assert row.replication["class"].endswith("SimpleStrategy")
        assert row.replication["replication_factor"] == "1"
    finally:
        admin.shutdown()


def test_the_job_fails_clearly_when_the_admin_password_is_wrong(
    secured_node: LocalCluster, tmp_path: Path
) -> None:
    run_job(job_env(tmp_path))  # the default superuser is retired from here on
    env = job_env(tmp_path) | {
        "DIGITS_CASSANDRA_ADMIN_PASSWORD": "wrong",
        "DIGITS_CASSANDRA_BOOTSTRAP_WAIT_S": "1",
    }
    result = bootstrap(env, timeout=120)
    assert result.returncode == 1
    assert "neither digits_admin nor the default superuser may log in" in result.stderr
