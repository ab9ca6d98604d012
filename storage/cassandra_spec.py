"""Cassandra settings as text, parsed and checked without the driver: store URL, replication.

Settings validation (:mod:`settings`) runs these at start-up, so a typo stops the service with a
clear message instead of surfacing later in a background thread; :mod:`storage.cassandra_config`
turns the results into a configured driver.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

DEFAULT_PORT = 9042
#: Consistency levels the driver knows (``cassandra.ConsistencyLevel``; a unit test checks).
ConsistencyName = Literal[
    "ANY",
    "ONE",
    "TWO",
    "THREE",
    "QUORUM",
    "ALL",
    "LOCAL_QUORUM",
    "EACH_QUORUM",
    "SERIAL",
    "LOCAL_SERIAL",
    "LOCAL_ONE",
]
_KEYSPACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_DC_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_HOST_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]+$")


@dataclass(frozen=True)
class CassandraTarget:
    """Where the store lives: contact points, CQL port and keyspace."""

    hosts: tuple[str, ...]
    port: int
    keyspace: str


@dataclass(frozen=True)
class Replication:
    """A keyspace replication: ``SimpleStrategy`` with one factor, or factors per data centre."""

    strategy: Literal["SimpleStrategy", "NetworkTopologyStrategy"]
    factors: tuple[tuple[str, int], ...]

    def cql(self) -> str:
        """The CQL replication map."""
        if self.strategy == "SimpleStrategy":
            return f"{{'class': 'SimpleStrategy', 'replication_factor': {self.factors[0][1]}}}"
        entries = ", ".join(f"'{dc}': {factor}" for dc, factor in self.factors)
        return "{'class': 'NetworkTopologyStrategy', " + entries + "}"

    def as_listed(self) -> dict[str, str]:
        """The map as ``system_schema.keyspaces`` lists it (class name unqualified)."""
        if self.strategy == "SimpleStrategy":
            return {"class": self.strategy, "replication_factor": str(self.factors[0][1])}
        return {"class": self.strategy, **{dc: str(factor) for dc, factor in self.factors}}


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
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"invalid port {port_text!r} in store URL {url!r}")
        port = int(port_text)
    hosts = tuple(host.strip() for host in netloc.split(",") if host.strip())
    keyspace = parts.path.strip("/")
    if not hosts:
        raise ValueError(f"no host in store URL {url!r}")
    bad = [host for host in hosts if not _HOST_RE.match(host)]
    if bad:
        raise ValueError(f"invalid host {bad[0]!r} in store URL {url!r}")
    if not _KEYSPACE_RE.match(keyspace):
        raise ValueError(f"invalid keyspace name {keyspace!r} in store URL")
    return CassandraTarget(hosts, port, keyspace)


def parse_replication(setting: str) -> Replication:
    """Parse ``SimpleStrategy:RF`` or ``NetworkTopologyStrategy:DC=RF[,DC=RF]``.

    Raises:
        ValueError: The setting is malformed (the message names the replication setting).
    """
    strategy, _, spec = setting.partition(":")
    if strategy == "SimpleStrategy":
        return Replication("SimpleStrategy", (("", _factor(spec or "1", setting)),))
    if strategy == "NetworkTopologyStrategy":
        factors = []
        for item in spec.split(","):
            dc, _, factor_text = item.partition("=")
            if not _DC_RE.match(dc.strip()):
                raise ValueError(f"bad data-centre entry {item!r} in replication {setting!r}")
            factors.append((dc.strip(), _factor(factor_text, setting)))
        return Replication("NetworkTopologyStrategy", tuple(factors))
    raise ValueError(f"unknown replication strategy in {setting!r}")


def _factor(text: str, setting: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"replication factor must be a whole number >= 1 in {setting!r}")
    return int(text)
