"""The feedback export on a real Cassandra node: token ranges, paging, resumption."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devtools.cassandra.node import LocalCluster
from imaging.pipeline import PREPROCESSING_VERSION
from settings import Settings
from storage.cassandra import CassandraStore
from storage.records import PredictionRecord
from training.feedback import dataset
from training.feedback.export import CassandraSource, export

pytestmark = [pytest.mark.cassandra, pytest.mark.slow]

ROWS = 1_200
PAGE = 100  # rows per page: each of the 4 ranges holds about 300, so 3 pages or more


def labelled(i: int) -> bool:
    return i % 3 == 0


def seed_store(store: CassandraStore, new_record: Callable[..., PredictionRecord]) -> set[str]:
    """ROWS predictions, a third labelled, one in ten of those by another preprocessing."""
    expected = set()
    records = []
    for i in range(ROWS):
        version = "mnist-norm-1" if i % 30 == 0 else PREPROCESSING_VERSION
        record = new_record(i % 10, preprocessing=version, image_sha256=f"{i:064x}",
                            normalized=bytes([i % 251]) * 784)  # fmt: skip
        records.append(record)
        if labelled(i) and version == PREPROCESSING_VERSION:
            expected.add(f"{i:064x}")
    for start in range(0, ROWS, 50):
        store.record_many(records[start : start + 50])
    for i, record in enumerate(records):
        if labelled(i):
            assert store.set_label(record.id, (i + 1) % 10)
    return expected


def test_export_reads_every_token_range_in_pages_and_resumes_after_an_interruption(
    open_store: Callable[..., CassandraStore],
    make_settings: Callable[..., Settings],
    cassandra_node: LocalCluster,
    fresh_keyspace: str,
    new_record: Callable[..., PredictionRecord],
    tmp_path: Path,
) -> None:
    settings = make_settings(store_url=cassandra_node.store_url(fresh_keyspace))
    expected = seed_store(open_store(store_url=settings.store_url), new_record)

    source = CassandraSource(settings)
    try:
        clean = export(source, tmp_path / "clean", ranges=4, workers=2, fetch_size=PAGE)
        finished: list[int] = []

        def interrupt(index: int) -> None:
            finished.append(index)
            if len(finished) == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            export(source, tmp_path / "out", ranges=4, workers=1, fetch_size=PAGE,
                   on_range_done=interrupt)  # fmt: skip
        resumed = export(source, tmp_path / "out", ranges=4, workers=1, fetch_size=PAGE)
    finally:
        source.close()

    assert clean.scanned == ROWS, "every row of the table was read once"
    assert clean.scanned > 4 * PAGE
    exported = dataset.load(clean.path)
    assert set(exported.image_sha256.tolist()) == expected
    assert clean.other_preprocessing == len([i for i in range(ROWS) if labelled(i) and i % 30 == 0])
    assert 2 <= resumed.resumed_ranges < 4
    assert dataset.load(resumed.path).fingerprint == exported.fingerprint
