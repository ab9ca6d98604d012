"""The feedback dataset: fingerprinted files, deduplication by image, a stable held-out split."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.feedback import dataset


def row(n: int, label: int, digit: int = 0, image: int | None = None) -> dict[str, Any]:
    key = n if image is None else image
    return {
        "id": f"{n:08x}-0000-4000-8000-000000000000",
        "digit": digit,
        "label": label,
        "model": "mnist_cnn:v1",
        "image_sha256": hashlib.sha256(str(key).encode()).hexdigest(),
        "normalized": bytes([key % 256]) * 784,
    }


def test_a_dataset_survives_a_round_trip_through_its_file(tmp_path: Path) -> None:
    built = dataset.build([row(i, i % 10, digit=(i + 1) % 10) for i in range(30)], {"x": 1})
    path = dataset.save(built, tmp_path)
    assert path.name == f"{dataset.FORMAT}-{built.fingerprint[:12]}.npz"
    loaded = dataset.load(path)
    assert loaded.fingerprint == built.fingerprint
    assert loaded.manifest["examples"] == 30
    assert loaded.manifest["corrections"] == 30
    assert loaded.manifest["per_label"]["3"] == 3
    np.testing.assert_array_equal(loaded.images, built.images)
    assert dataset.newest(tmp_path) == path


def test_the_fingerprint_follows_the_content_not_the_order() -> None:
    rows = [row(i, i % 10) for i in range(10)]
    first = dataset.build(rows, {})
    assert dataset.build(rows[::-1], {}).fingerprint == first.fingerprint
    relabelled = [*rows[:-1], {**rows[-1], "label": 0}]
    assert dataset.build(relabelled, {}).fingerprint != first.fingerprint


def test_a_file_changed_after_export_is_refused(tmp_path: Path) -> None:
    built = dataset.build([row(i, 1) for i in range(5)], {})
    path = dataset.save(built, tmp_path)
    with np.load(path) as saved:
        content = dict(saved)
    content["labels"] = content["labels"] + 1
    np.savez_compressed(path, **content)
    with pytest.raises(ValueError, match="fingerprint"):
        dataset.load(path)


def test_repeated_uploads_become_one_example_labelled_by_majority() -> None:
    rows = [row(1, 4, image=7), row(2, 4, image=7), row(3, 9, image=7), row(4, 2)]
    unique, counts = dataset.deduplicate(dataset.build(rows, {}))
    assert len(unique) == 2
    assert sorted(unique.labels.tolist()) == [2, 4]
    assert counts == {"duplicates": 2, "ties": 0}


def test_an_image_users_disagree_on_evenly_is_dropped() -> None:
    rows = [row(1, 4, image=7), row(2, 9, image=7), row(3, 2)]
    unique, counts = dataset.deduplicate(dataset.build(rows, {}))
    assert unique.labels.tolist() == [2]
    assert counts["ties"] == 1


def test_the_held_out_split_depends_on_the_image_only() -> None:
    rows = [row(i, i % 10) for i in range(2000)]
    whole = dataset.build(rows, {})
    held = dataset.held_out(whole, 0.2)
    assert 0.17 < held.mean() < 0.23
    part = dataset.build(rows[::3], {})  # another export, other rows around them
    assert dataset.held_out(part, 0.2).tolist() == held[::3].tolist()
