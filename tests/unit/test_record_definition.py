"""One definition of the record: both stores' columns and the API's fields follow from it."""

from __future__ import annotations

import re
import sqlite3
from collections import namedtuple
from pathlib import Path

import pytest
from cassandra.query import UNSET_VALUE

from serving.schemas import PRIVATE_FIELDS, SHOWN_AS_PREVIEW, HistoryItem
from storage import sqlite as sqlite_store
from storage.cassandra_queries import record_values, row_to_record
from storage.records import RECORD_COLUMNS, RECORD_FIELDS
from tests.support.records import make_record

SCHEMA_CQL = Path(__file__).resolve().parents[2] / "storage" / "schema.cql"


def _cql_columns(table: str) -> dict[str, str]:
    """Column name -> CQL type of one CREATE TABLE in storage/schema.cql."""
    text = SCHEMA_CQL.read_text()
    body = re.search(
        rf"CREATE TABLE IF NOT EXISTS \$\{{KEYSPACE\}}\.{table} \((.*?)\n\)", text, re.S
    )
    assert body, f"no table {table} in {SCHEMA_CQL}"
    columns = {}
    for line in body.group(1).splitlines():
        line = line.split("--")[0].strip().rstrip(",")
        if line and not line.startswith("PRIMARY KEY"):
            name, cql_type = line.split(None, 1)
            columns[name] = cql_type.replace(" PRIMARY KEY", "")
    return columns


def test_the_cql_predictions_table_has_exactly_the_record_columns() -> None:
    expected = {name: column.cql for name, column in RECORD_COLUMNS.items()}
    assert _cql_columns("predictions") == expected


def test_the_cql_history_table_has_the_record_columns_plus_its_partition_key() -> None:
    expected = {name: column.cql for name, column in RECORD_COLUMNS.items()}
    assert _cql_columns("predictions_by_day") == {"day": "date", "bucket": "smallint", **expected}


def test_the_sqlite_table_is_built_from_the_record_columns() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(sqlite_store.SCHEMA)
    info = db.execute("PRAGMA table_info(predictions)").fetchall()
    columns = {name: kind for _, name, kind, *_ in info}
    expected = {name: column.sqlite.split()[0] for name, column in RECORD_COLUMNS.items()}
    assert columns == {**expected, "day": "TEXT"}


@pytest.mark.parametrize("label", [None, 4])
def test_a_record_survives_the_sqlite_row_mapping(label: int | None) -> None:
    record = make_record(label=label, filename=None)
    assert sqlite_store._record(sqlite_store._row(record)) == record


def test_a_record_survives_the_cassandra_row_mapping_and_leaves_unknowns_unset() -> None:
    record = make_record(label=None, filename="seven.png")
    values = record_values(record)
    assert values[RECORD_FIELDS.index("label")] is UNSET_VALUE  # a replay keeps a user's label
    Row = namedtuple("Row", RECORD_FIELDS)
    stored = [None if value is UNSET_VALUE else value for value in values]
    stored[RECORD_FIELDS.index("created_at")] = record.created_at.replace(tzinfo=None)  # as read
    assert row_to_record(Row(*stored)) == record


def test_the_history_shows_every_record_field_but_the_image_which_it_shows_as_a_preview() -> None:
    shown = set(HistoryItem.model_fields)
    assert shown == (set(RECORD_FIELDS) - SHOWN_AS_PREVIEW) | {"preview"}
    assert shown >= PRIVATE_FIELDS


def test_the_history_hides_what_identifies_the_upload_unless_private() -> None:
    record = make_record(filename="me.png")
    public = HistoryItem.from_record(record)
    assert (public.filename, public.image_sha256) == (None, None)
    private = HistoryItem.from_record(record, private=True)
    assert (private.filename, private.image_sha256) == ("me.png", record.image_sha256)
    assert private.latency_ms == record.latency_ms
    assert private.label == record.label


def test_api_fields_are_described_as_the_record_describes_them() -> None:
    schema = HistoryItem.model_json_schema()["properties"]
    assert schema["byte_size"]["description"] == RECORD_COLUMNS["byte_size"].doc
