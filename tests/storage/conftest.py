"""Real Apache Cassandra for the storage tests: one node per session, started and stopped here.

The node listens on 127.0.0.11 (a developer's own node on 127.0.0.1 is left alone) and keeps its
files in a temporary directory. Needs the jars of ``make cassandra-install``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from cassandra.cluster import Session

from devtools.cassandra.node import DEFAULT_LIB, LocalCluster
from settings import Settings
from storage.cassandra import CassandraStore
from storage.migrate import migrate
from storage.records import PredictionRecord, utc_now
from tests.storage.helpers import cql_session
from tests.support.records import make_record

#: DIGITS_TEST_CASSANDRA_ADDRESS moves it (to run these tests beside a CI run on one host).
NODE_ADDRESS = os.environ.get("DIGITS_TEST_CASSANDRA_ADDRESS", "127.0.0.11")
KEYSPACE = "digits_test"


@pytest.fixture(scope="session")
def cassandra_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One running node for the whole session."""
    if not any(DEFAULT_LIB.glob("cassandra-all-*.jar")):
        pytest.fail(f"no Cassandra jars in {DEFAULT_LIB}: run `make cassandra-install`")
    cluster = LocalCluster(tmp_path_factory.mktemp("cassandra"), 1, NODE_ADDRESS)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def keyspace(cassandra_node: LocalCluster) -> str:
    """The migrated test keyspace (SimpleStrategy RF=1)."""
    migrate(Settings(store_url=cassandra_node.store_url(KEYSPACE)))
    return KEYSPACE


@pytest.fixture
def make_settings(
    cassandra_node: LocalCluster, keyspace: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Settings pointing at the test node, with a fresh spool; keyword arguments override."""

    def build(**overrides: object) -> Settings:
        values: dict[str, object] = {
            "store_url": cassandra_node.store_url(keyspace),
            "spool_dir": tmp_path / "spool",
            "cassandra_timeout_s": 2.0,
        }
        values.update(overrides)
        return Settings.model_validate(values)

    return build


@pytest.fixture
def open_store(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., CassandraStore]]:
    """Opens connected stores (closed after the test)."""
    stores: list[CassandraStore] = []

    def build(**overrides: object) -> CassandraStore:
        store = CassandraStore(make_settings(**overrides))
        stores.append(store)
        assert store.wait_until_connected(30), store.health()
        return store

    yield build
    for store in stores:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., CassandraStore]) -> CassandraStore:
    """A connected store on the test keyspace."""
    return open_store()


@pytest.fixture
def cql(cassandra_node: LocalCluster, keyspace: str) -> Iterator[Session]:
    """An independent CQL client session on the test keyspace (the checker, not the store)."""
    with cql_session(cassandra_node.contact_points, keyspace) as session:
        yield session


@pytest.fixture
def new_record() -> Callable[..., PredictionRecord]:
    """Builds a valid record; keyword arguments override fields."""

    def build(
        digit: int = 7, created_at: datetime | None = None, **fields: object
    ) -> PredictionRecord:
        return make_record(digit, created_at=created_at or utc_now(), **fields)

    return build


@pytest.fixture
def fresh_keyspace(cassandra_node: LocalCluster, request: pytest.FixtureRequest) -> str:
    """A newly migrated keyspace of its own for one test, so row counts are the test's alone."""
    name = "digits_" + request.node.name.removeprefix("test_")[:30].replace("-", "_")
    with cql_session(cassandra_node.contact_points) as session:
        session.execute(f"DROP KEYSPACE IF EXISTS {name}", timeout=60)
    migrate(Settings(store_url=cassandra_node.store_url(name)))
    return name


@pytest.fixture
def service_env(
    cassandra_node: LocalCluster, fresh_keyspace: str, tmp_path: Path
) -> dict[str, str]:
    """Environment of a ``bentoml serve`` recording into the fresh keyspace via a temp spool."""
    return {
        "DIGITS_STORE_URL": cassandra_node.store_url(fresh_keyspace),
        "DIGITS_SPOOL_DIR": str(tmp_path / "spool"),
        "DIGITS_CASSANDRA_TIMEOUT_S": "2",
    }
