"""Password authentication: the store logs in with the credentials of the settings only."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.cassandra.node import DEFAULT_SUPERUSER, LocalCluster
from settings import Settings
from storage.cassandra import CassandraStore
from storage.migrate import migrate
from storage.records import PredictionRecord
from tests.storage.helpers import cql_session

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

KEYSPACE = "digits_auth"


@pytest.fixture(scope="module")
def auth_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(tmp_path_factory.mktemp("auth"), 1, "127.0.0.12", auth=True)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def app_password(auth_node: LocalCluster) -> str:
    """A role with a random password that may read and write the keyspace, and nothing else."""
    password = secrets.token_urlsafe(18)
    user, admin_password = DEFAULT_SUPERUSER
    migrate(
        Settings(
            store_url=auth_node.store_url(KEYSPACE),
            cassandra_username=user,
            cassandra_password=admin_password,
        )
    )
    with cql_session(auth_node.contact_points, login=DEFAULT_SUPERUSER) as admin:
        admin.execute(
            "CREATE ROLE IF NOT EXISTS digits_app WITH LOGIN = true AND PASSWORD = %s", [password]
        )
        admin.execute(f"GRANT SELECT ON KEYSPACE {KEYSPACE} TO digits_app")
        admin.execute(f"GRANT MODIFY ON KEYSPACE {KEYSPACE} TO digits_app")
    return password


def app_settings(node: LocalCluster, password: str, spool: Path) -> Settings:
    return Settings(
        store_url=node.store_url(KEYSPACE),
        cassandra_username="digits_app",
        cassandra_password=password,
        spool_dir=spool,
    )


def test_the_store_logs_in_with_the_username_and_password_of_the_settings(
    auth_node: LocalCluster,
    app_password: str,
    new_record: Callable[..., PredictionRecord],
    tmp_path: Path,
) -> None:
    store = CassandraStore(app_settings(auth_node, app_password, tmp_path / "spool"))
    try:
        assert store.wait_until_connected(30), store.health()
        record = new_record()
        store.record(record)

        assert store.get(record.id) == record
        assert store.spool.depth() == 0
    finally:
        store.close()


def test_a_wrong_password_is_refused_and_the_record_kept_in_the_spool(
    auth_node: LocalCluster,
    app_password: str,
    new_record: Callable[..., PredictionRecord],
    tmp_path: Path,
) -> None:
    wrong = "not-" + app_password
    store = CassandraStore(app_settings(auth_node, wrong, tmp_path / "spool"))
    try:
        assert not store.wait_until_connected(5)
        store.record(new_record())

        health = store.health()
        assert store.spool.depth() == 1
        assert "Authentication" in str(health["last_error"]) or "auth" in str(health["last_error"])
        assert wrong not in str(health)
    finally:
        store.close()
