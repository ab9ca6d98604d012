"""The feedback dataset: labelled predictions as exported, in a versioned, fingerprinted file.

One ``.npz`` holds the 28x28 images the model saw, the labels users gave, what the model had
answered and each upload's SHA-256, plus a JSON manifest (format, preprocessing version, source,
counts, fingerprint). The fingerprint is a SHA-256 over the examples in a canonical order, so
the same labelled predictions give the same file name wherever and however they were exported.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from imaging.contract import IMAGE_SHAPE

#: Version of the file layout (part of the file name).
FORMAT = "digits-feedback-1"
#: Where ``python -m training.feedback export`` writes by default.
DEFAULT_DIR = Path("var/feedback")


@dataclass(frozen=True)
class FeedbackDataset:
    """Labelled predictions, one row per example.

    Attributes:
        images: uint8 [N, 28, 28], the normalised images the model saw (MNIST polarity).
        labels: int64 [N], the digits users said the images show.
        answered: int64 [N], what the model had answered.
        image_sha256: [N] SHA-256 (hex) of each upload.
        ids: [N] prediction ids.
        models: [N] tag of the model that answered.
        manifest: Format, preprocessing version, source, counts and fingerprint.
    """

    images: np.ndarray
    labels: np.ndarray
    answered: np.ndarray
    image_sha256: np.ndarray
    ids: np.ndarray
    models: np.ndarray
    manifest: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def fingerprint(self) -> str:
        """SHA-256 over ids, hashes, labels, answers and images, in id order."""
        digest = hashlib.sha256(FORMAT.encode())
        for i in np.argsort(self.ids, kind="stable"):
            digest.update(f"{self.ids[i]}|{self.image_sha256[i]}|{self.labels[i]}|".encode())
            digest.update(f"{self.answered[i]}|".encode())
            digest.update(np.ascontiguousarray(self.images[i]).tobytes())
        return digest.hexdigest()

    def subset(self, keep: np.ndarray) -> FeedbackDataset:
        """The rows where ``keep`` (bool mask or index array) selects; same manifest."""
        return replace(
            self,
            images=self.images[keep],
            labels=self.labels[keep],
            answered=self.answered[keep],
            image_sha256=self.image_sha256[keep],
            ids=self.ids[keep],
            models=self.models[keep],
        )


def build(rows: list[dict[str, Any]], manifest: dict[str, Any]) -> FeedbackDataset:
    """A dataset from exported rows (``normalized`` bytes, ``label``, ``digit``...)."""
    images = np.zeros((len(rows), *IMAGE_SHAPE), np.uint8)
    for i, row in enumerate(rows):
        images[i] = np.frombuffer(row["normalized"], np.uint8).reshape(IMAGE_SHAPE)
    dataset = FeedbackDataset(
        images=images,
        labels=np.array([row["label"] for row in rows], np.int64),
        answered=np.array([row["digit"] for row in rows], np.int64),
        image_sha256=np.array([row["image_sha256"] for row in rows], dtype=str),
        ids=np.array([row["id"] for row in rows], dtype=str),
        models=np.array([row["model"] for row in rows], dtype=str),
    )
    counts = Counter(int(label) for label in dataset.labels)
    full = {
        **manifest,
        "format": FORMAT,
        "examples": len(dataset),
        "corrections": int((dataset.labels != dataset.answered).sum()),
        "per_label": {str(d): counts.get(d, 0) for d in range(10)},
        "fingerprint": dataset.fingerprint,
    }
    return replace(dataset, manifest=full)


def save(dataset: FeedbackDataset, directory: Path = DEFAULT_DIR) -> Path:
    """Write ``<FORMAT>-<fingerprint[:12]>.npz`` and its manifest (``.json``) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{FORMAT}-{dataset.manifest['fingerprint'][:12]}.npz"
    scratch = path.with_suffix(".partial.npz")
    np.savez_compressed(
        scratch,
        images=dataset.images,
        labels=dataset.labels,
        answered=dataset.answered,
        image_sha256=dataset.image_sha256,
        ids=dataset.ids,
        models=dataset.models,
        manifest=np.array(json.dumps(dataset.manifest, sort_keys=True)),
    )
    scratch.replace(path)
    path.with_suffix(".json").write_text(json.dumps(dataset.manifest, indent=2) + "\n")
    return path


def load(path: Path) -> FeedbackDataset:
    """Read a dataset file and check it against its fingerprint.

    Raises:
        ValueError: another format, or the content does not match the recorded fingerprint.
    """
    with np.load(path) as saved:
        manifest = json.loads(str(saved["manifest"]))
        dataset = FeedbackDataset(
            images=saved["images"],
            labels=saved["labels"],
            answered=saved["answered"],
            image_sha256=saved["image_sha256"],
            ids=saved["ids"],
            models=saved["models"],
            manifest=manifest,
        )
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{path} is {manifest.get('format')!r}, not {FORMAT}")
    if dataset.fingerprint != manifest.get("fingerprint"):
        raise ValueError(f"{path} does not match its fingerprint (changed after export?)")
    return dataset


def newest(directory: Path = DEFAULT_DIR) -> Path | None:
    """The most recently written dataset file in ``directory``, or None."""
    files = sorted(directory.glob(f"{FORMAT}-*.npz"), key=lambda p: p.stat().st_mtime)
    files = [f for f in files if not f.name.endswith(".partial.npz")]
    return files[-1] if files else None


def deduplicate(dataset: FeedbackDataset) -> tuple[FeedbackDataset, dict[str, int]]:
    """One example per uploaded image (SHA-256), labelled by majority; ties are dropped.

    The same upload sent several times is one example (it must not weigh more, nor sit on both
    sides of the held-out split); users who disagree on it, evenly, teach nothing.

    Returns:
        The deduplicated dataset and counts: ``duplicates`` removed, ``ties`` dropped.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(dataset.image_sha256):
        groups[str(digest)].append(i)
    keep: list[int] = []
    labels = dataset.labels.copy()
    ties = 0
    for rows in groups.values():
        votes = Counter(int(dataset.labels[i]) for i in rows).most_common()
        if len(votes) > 1 and votes[0][1] == votes[1][1]:
            ties += 1
            continue
        first = min(rows, key=lambda i: str(dataset.ids[i]))
        labels[first] = votes[0][0]
        keep.append(first)
    index = np.array(sorted(keep), np.int64)
    unique = replace(dataset.subset(index), labels=labels[index])
    return unique, {"duplicates": len(dataset) - len(groups), "ties": ties}


def hash_fraction(dataset: FeedbackDataset) -> np.ndarray:
    """Per example, the first 32 bits of its image's SHA-256 as a fraction in [0, 1)."""
    return np.array([int(str(d)[:8], 16) / 2**32 for d in dataset.image_sha256])


def held_out(dataset: FeedbackDataset, share: float) -> np.ndarray:
    """Bool mask of the examples held out for evaluation: chosen by image hash, not at random.

    An image is held out when :func:`hash_fraction` falls below ``share``: stable across exports
    and retrains, so an image scored as held-out once is never trained on later.
    """
    return hash_fraction(dataset) < share
