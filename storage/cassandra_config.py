"""From settings to a configured cassandra-driver ``Cluster``: URL, replication, consistency."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from cassandra import ConsistencyLevel
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)

from settings import Settings

DEFAULT_PORT = 9042
_KEYSPACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_DC_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class CassandraTarget:
    """Where the store lives: contact points, CQL port and keyspace."""

    hosts: tuple[str, ...]
    port: int
    keyspace: str


def parse_store_url(url: str) -> CassandraTarget:
    """Parse ``cassandra://HOST[,HOST...][:PORT]/KEYSPACE``.

    Raises:
        ValueError: The URL is not a valid Cassandra store URL.
    """
    parts = urlsplit(url)
    if parts.scheme != "cassandra":
        raise ValueError(f"not a cassandra:// URL: {url!r}")
    netloc = parts.netloc.rsplit("@", 1)[-1]  # credentials never come from the URL
    port = DEFAULT_PORT
    if ":" in netloc:
        netloc, port_text = netloc.rsplit(":", 1)
        port = int(port_text)
    hosts = tuple(host.strip() for host in netloc.split(",") if host.strip())
    keyspace = parts.path.strip("/")
    if not hosts:
        raise ValueError(f"no host in store URL {url!r}")
    if not _KEYSPACE_RE.match(keyspace):
        raise ValueError(f"invalid keyspace name {keyspace!r} in store URL")
    return CassandraTarget(hosts, port, keyspace)


def replication_cql(setting: str) -> str:
    """Turn ``SimpleStrategy:RF`` or ``NetworkTopologyStrategy:DC=RF[,DC=RF]`` into a CQL map.

    Raises:
        ValueError: The setting is malformed.
    """
    strategy, _, spec = setting.partition(":")
    if strategy == "SimpleStrategy":
        factor = int(spec or "1")
        if factor < 1:
            raise ValueError("replication factor must be at least 1")
        return f"{{'class': 'SimpleStrategy', 'replication_factor': {factor}}}"
    if strategy == "NetworkTopologyStrategy":
        entries = []
        for item in spec.split(","):
            dc, _, factor_text = item.partition("=")
            if not _DC_RE.match(dc.strip()) or int(factor_text) < 1:
                raise ValueError(f"bad data-centre entry {item!r} in replication {setting!r}")
            entries.append(f"'{dc.strip()}': {int(factor_text)}")
        if not entries:
            raise ValueError(f"no data centre in replication {setting!r}")
        return "{'class': 'NetworkTopologyStrategy', " + ", ".join(entries) + "}"
    raise ValueError(f"unknown replication strategy in {setting!r}")


def consistency_level(name: str) -> int:
    """The driver's consistency constant for a name such as ``LOCAL_QUORUM``."""
    try:
        return ConsistencyLevel.name_to_value[name.upper()]
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
