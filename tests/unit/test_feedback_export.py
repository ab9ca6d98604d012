"""The export: labelled, current-preprocessing records only, range by range, resumable."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path

import numpy as np
import pytest

from imaging.pipeline import PREPROCESSING_VERSION
from storage.sqlite import SQLiteStore
from tests.support.records import make_record
from training.feedback import dataset
from training.feedback.export import (
    MAX_TOKEN,
    MIN_TOKEN,
    SQLiteSource,
    export,
    id_ranges,
    token_ranges,
)


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    """A SQLite store: 300 predictions, 120 labelled (20 by another preprocessing version)."""
    store = SQLiteStore(tmp_path / "predictions.db")
    for i in range(300):
        version = "mnist-norm-1" if i % 15 == 0 else PREPROCESSING_VERSION
        image = bytes([i % 256]) * 784
        record = make_record(i % 10, i, preprocessing=version, normalized=image,
                             image_sha256=f"{i:064x}")  # fmt: skip
        store.record(record)
        if i % 5 == 0 or i % 15 == 0:
            store.set_label(record.id, (i + 3) % 10)
    store.close()
    return tmp_path / "predictions.db"


def test_token_ranges_cover_the_ring_without_overlap() -> None:
    ranges = token_ranges(7)
    assert ranges[0][0] == MIN_TOKEN
    assert ranges[-1][1] == MAX_TOKEN
    assert all(end + 1 == start for (_, end), (start, _) in itertools.pairwise(ranges))


def test_id_ranges_put_every_uuid_in_exactly_one_range() -> None:
    ranges = id_ranges(16)
    for _ in range(500):
        text = str(uuid.uuid4())
        assert sum(low <= text <= high for low, high in ranges) == 1


def test_only_labelled_records_of_the_current_preprocessing_are_exported(
    store_file: Path, tmp_path: Path
) -> None:
    result = export(SQLiteSource(store_file), tmp_path / "out", ranges=8, fetch_size=7)
    exported = dataset.load(result.path)
    labelled = [i for i in range(300) if i % 5 == 0]
    current = [i for i in labelled if i % 15 != 0]
    assert result.examples == len(current) == len(exported)
    assert result.other_preprocessing == len(labelled) - len(current)
    assert sorted(exported.image_sha256.tolist()) == sorted(f"{i:064x}" for i in current)
    assert exported.manifest["preprocessing"] == PREPROCESSING_VERSION
    assert {int(v) for v in np.unique(exported.labels)} <= set(range(10))
    assert not list((tmp_path / "out").glob(".export-*")), "the work folder is removed"


def test_an_interrupted_export_resumes_and_gives_the_same_dataset(
    store_file: Path, tmp_path: Path
) -> None:
    clean = export(SQLiteSource(store_file), tmp_path / "clean", ranges=8)
    finished: list[int] = []

    def interrupt(index: int) -> None:
        finished.append(index)
        if len(finished) == 3:
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        export(SQLiteSource(store_file), out, ranges=8, workers=1, on_range_done=interrupt)
    work = next(out.glob(".export-*"))
    (work / "part-00007.tmp").write_text("half a range from a killed process\n")
    again: list[int] = []
    resumed = export(SQLiteSource(store_file), out, ranges=8, workers=1, on_range_done=again.append)
    # The range in progress at the interruption may have finished too; none is read twice.
    assert 3 <= resumed.resumed_ranges < 8
    assert sorted(again) == sorted(set(range(8)) - set(range(resumed.resumed_ranges)))
    assert len(again) == 8 - resumed.resumed_ranges
    assert dataset.load(resumed.path).fingerprint == dataset.load(clean.path).fingerprint


def test_restart_ignores_an_interrupted_export(store_file: Path, tmp_path: Path) -> None:
    def stop(index: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(SQLiteSource(store_file), tmp_path, ranges=4, workers=1, on_range_done=stop)
    again = export(SQLiteSource(store_file), tmp_path, ranges=4, restart=True)
    assert again.resumed_ranges == 0


def test_a_missing_store_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SQLiteSource(tmp_path / "nothing.db")
