"""From settings to a configured cassandra-driver ``Cluster``: URL, replication, consistency."""

from __future__ import annotations

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)

from settings import Settings
from storage.cassandra_spec import (
    DEFAULT_PORT,
    CassandraTarget,
    parse_replication,
    parse_store_url,
)

__all__ = [
    "DEFAULT_PORT",
    "CassandraTarget",
    "build_cluster",
    "consistency_level",
    "parse_store_url",
    "replication_cql",
]


def replication_cql(setting: str) -> str:
    """Turn ``SimpleStrategy:RF`` or ``NetworkTopologyStrategy:DC=RF[,DC=RF]`` into a CQL map.

    Raises:
        ValueError: The setting is malformed.
    """
    return parse_replication(setting).cql()


def consistency_level(name: str) -> int:
    """The driver's consistency constant for a name such as ``LOCAL_QUORUM``."""
    try:
        return int(ConsistencyLevel.name_to_value[name.upper()])
    except KeyError:
        raise ValueError(f"unknown consistency level {name!r}") from None


def build_cluster(settings: Settings, target: CassandraTarget) -> Cluster:
    """A driver ``Cluster`` (not yet connected) configured from the settings.

    Protocol v5, token-aware routing inside the local data centre, the configured consistency
    and per-request timeout, and a password authenticator when a username is set.
    """
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(
            DCAwareRoundRobinPolicy(local_dc=settings.cassandra_local_dc)
        ),
        consistency_level=consistency_level(settings.cassandra_consistency),
        request_timeout=settings.cassandra_timeout_s,
    )
    auth = None
    if settings.cassandra_username:
        auth = PlainTextAuthProvider(
            username=settings.cassandra_username,
            password=settings.cassandra_password.get_secret_value(),
        )
    return Cluster(
        list(target.hosts),
        port=target.port,
        protocol_version=5,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        auth_provider=auth,
        connect_timeout=max(settings.cassandra_timeout_s, 2.0),
        reconnection_policy=ExponentialReconnectionPolicy(0.5, 10.0),
        idle_heartbeat_interval=10,
        schema_event_refresh_window=0.2,
        topology_event_refresh_window=0.2,
    )
