"""Settings to Cassandra: store URLs, replication, consistency, history buckets and cursors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml

from devtools.cassandra.node import (
    LocalCluster,
    balanced_tokens,
    cassandra_yaml,
    configured_address,
)
from storage.cassandra_config import (
    CassandraTarget,
    consistency_level,
    parse_store_url,
    replication_cql,
)
from storage.cassandra_queries import HistoryCursor, bucket_of


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("cassandra://127.0.0.1/digits", CassandraTarget(("127.0.0.1",), 9042, "digits")),
        ("cassandra://a,b,c:9142/ks_1", CassandraTarget(("a", "b", "c"), 9142, "ks_1")),
        ("cassandra://user@db:9042/digits", CassandraTarget(("db",), 9042, "digits")),
    ],
)
def test_store_urls_name_hosts_port_and_keyspace(url: str, expected: CassandraTarget) -> None:
    assert parse_store_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["sqlite:///x.db", "cassandra:///digits", "cassandra://db/", "cassandra://db/bad-name;DROP"],
)
def test_malformed_store_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        parse_store_url(url)


@pytest.mark.parametrize(
    ("setting", "cql"),
    [
        ("SimpleStrategy:1", "{'class': 'SimpleStrategy', 'replication_factor': 1}"),
        (
            "NetworkTopologyStrategy:dc1=3,dc2=2",
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}",
        ),
    ],
)
def test_the_replication_setting_becomes_a_cql_map(setting: str, cql: str) -> None:
    assert replication_cql(setting) == cql


@pytest.mark.parametrize(
    "setting", ["EverywhereStrategy", "SimpleStrategy:0", "NetworkTopologyStrategy:dc'1=3"]
)
def test_malformed_replication_settings_are_refused(setting: str) -> None:
    with pytest.raises(ValueError, match="replication"):
        replication_cql(setting)


def test_consistency_levels_are_named_as_in_cql() -> None:
    assert consistency_level("local_quorum") == consistency_level("LOCAL_QUORUM")
    with pytest.raises(ValueError, match="consistency"):
        consistency_level("MOST")


@pytest.mark.parametrize(
    ("hour", "minute", "bucket"), [(0, 0, 0), (0, 9, 0), (0, 10, 1), (12, 34, 75), (23, 59, 143)]
)
def test_history_buckets_are_ten_minute_slices_of_the_utc_day(
    hour: int, minute: int, bucket: int
) -> None:
    assert bucket_of(datetime(2026, 1, 2, hour, minute, 59, tzinfo=UTC)) == bucket


@pytest.mark.parametrize("day", [None, date(2026, 11, 24)])
@pytest.mark.parametrize("paging_state", [None, b"\x00\x01driver-state\xff"])
def test_cursors_round_trip_through_their_opaque_form(
    day: date | None, paging_state: bytes | None
) -> None:
    cursor = HistoryCursor(day, (date(2026, 11, 23), 17), paging_state)

    text = cursor.encode()

    assert text.replace("-", "").replace("_", "").isalnum()
    assert HistoryCursor.decode(text) == cursor


def test_a_tampered_cursor_is_refused() -> None:
    with pytest.raises(ValueError, match="cursor"):
        HistoryCursor.decode("eyJub3QiOiAiYSBjdXJzb3IifQ")


def test_three_local_nodes_split_the_ring_evenly_on_their_own_addresses(tmp_path) -> None:
    cluster = LocalCluster(tmp_path, 3, "127.0.0.21")

    assert cluster.contact_points == ["127.0.0.21", "127.0.0.22", "127.0.0.23"]
    assert balanced_tokens(3) == [
        -9223372036854775808,
        -3074457345618258603,
        3074457345618258602,
    ]
    config = yaml.safe_load(cassandra_yaml(cluster.node(2)))
    assert config["listen_address"] == config["rpc_address"] == "127.0.0.22"
    assert config["initial_token"] == "-3074457345618258603"
    [provider] = config["seed_provider"]
    assert provider["parameters"] == [{"seeds": "127.0.0.21:7000,127.0.0.22:7000,127.0.0.23:7000"}]
    assert config["data_file_directories"] == [str(tmp_path / "node2" / "data" / "data")]


def test_a_cluster_directory_remembers_the_address_it_was_started_on(tmp_path) -> None:
    cluster = LocalCluster(tmp_path, 1, "127.0.0.31")
    assert configured_address(tmp_path) is None
    conf = cluster.node(1).conf_dir
    conf.mkdir(parents=True)
    (conf / "cassandra.yaml").write_text(cassandra_yaml(cluster.node(1)))
    assert configured_address(tmp_path) == "127.0.0.31"
