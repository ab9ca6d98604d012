"""Training examples that look like what users send: digits on real paper, preprocessed.

MNIST digits are rendered onto ruled, squared and dotted pages, in shadow and uneven light, in
pencil and coloured ink, as phone photos and canvas drawings (:mod:`training.paper`), encoded
as JPEG or PNG, then decoded and preprocessed by the service's own code
(:func:`imaging.pipeline.preprocess`). The model thus learns from exactly the 28x28 images it will
see in service, including what preprocessing leaves of the paper. Pages without a digit that
preprocessing does not refuse become non-digit examples (uniform targets).

Rendering is done in worker processes and cached under ``var/data/realistic/``, keyed by the
renderer's and preprocessing's source code, so a second training run reuses it.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imaging.contract import IMAGE_SHAPE
from imaging.decode import ImageRejected
from imaging.normalize import BlankImage
from imaging.pipeline import PREPROCESSING_VERSION, preprocess_bytes
from training import paper

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
#: Sources whose change changes the rendered-and-preprocessed images.
SOURCES = ("training/paper.py", "imaging/decode.py", "imaging/normalize.py", "imaging/paper.py",
           "imaging/strokes.py", "imaging/pipeline.py")  # fmt: skip
MAX_PIXELS = 40_000_000
CHUNK = 500
NO_DIGIT = "no_digit"


@dataclass(frozen=True)
class RealisticSet:
    """Preprocessed renders: 28x28 images, labels (-1: no digit) and the condition of each."""

    images: np.ndarray
    labels: np.ndarray
    conditions: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def source_fingerprint() -> str:
    """SHA-256 over the renderer and preprocessing sources (the cache key)."""
    digest = hashlib.sha256(PREPROCESSING_VERSION.encode())
    for name in SOURCES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:16]


def served_pixels(data: bytes, content_type: str) -> np.ndarray | None:
    """What the service's model would see for these bytes, or None if the service refuses them."""
    try:
        return preprocess_bytes(data, MAX_PIXELS, content_type).pixels
    except (ImageRejected, BlankImage):
        return None


def _render_chunk(job: tuple[np.ndarray, np.ndarray, list[str], int]) -> RealisticSet:
    digits, labels, conditions, seed = job
    rng = np.random.default_rng(seed)
    images, kept, where = [], [], []
    for digit, label, condition in zip(digits, labels, conditions, strict=True):
        rendered = paper.render(None if label < 0 else digit, condition, rng)
        pixels = served_pixels(rendered.data, rendered.content_type)
        if pixels is not None:
            images.append(pixels)
            kept.append(label)
            where.append(condition)
    empty = np.zeros((0, *IMAGE_SHAPE), np.uint8)
    return RealisticSet(
        np.stack(images) if images else empty, np.array(kept, np.int64), np.array(where)
    )


def _jobs(
    digits: np.ndarray, labels: np.ndarray, conditions: list[str], seed: int
) -> Iterator[tuple[np.ndarray, np.ndarray, list[str], int]]:
    for start in range(0, len(labels), CHUNK):
        end = start + CHUNK
        yield digits[start:end], labels[start:end], conditions[start:end], seed + start


def render_set(
    digits: np.ndarray, labels: np.ndarray, conditions: list[str], seed: int, name: str
) -> RealisticSet:
    """Render and preprocess ``digits`` (labels -1 for no-digit pages) in worker processes.

    Args:
        digits: uint8 [N, 28, 28] MNIST digits (ignored where the label is -1).
        labels: Their labels, -1 for a page rendered without a digit.
        conditions: One :data:`training.paper.CONDITIONS` name per image.
        seed: Seeds the renderer (each chunk gets its own stream).
        name: Names the set in progress lines and in the cache file.

    Returns:
        The images preprocessing accepted, with their labels and conditions.
    """
    key = f"{name}-{seed}-{len(labels)}-{source_fingerprint()}"
    cache = ROOT / "var" / "data" / "realistic" / f"{key}.npz"
    if cache.exists():
        with np.load(cache) as saved:
            log.info("%s: %d realistic images from the cache %s", name, len(saved["labels"]),
                     cache.relative_to(ROOT))  # fmt: skip
            return RealisticSet(saved["images"], saved["labels"], saved["conditions"])
    started = time.monotonic()
    parts: list[RealisticSet] = []
    workers = max(1, min(4, os.cpu_count() or 1))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        for part in pool.imap(_render_chunk, _jobs(digits, labels, conditions, seed)):
            parts.append(part)
            done = min(len(parts) * CHUNK, len(labels))
            log.info("%s: rendered and preprocessed %d/%d (%.0f s)", name, done, len(labels),
                     time.monotonic() - started)  # fmt: skip
    result = RealisticSet(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.conditions for p in parts]),
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, images=result.images, labels=result.labels,
                        conditions=result.conditions)  # fmt: skip
    return result


def sample_conditions(count: int, rng: np.random.Generator, no_digit_share: float) -> list[str]:
    """Random training conditions, with ``no_digit_share`` of no-digit pages."""
    choices = list(paper.TRAINING_CONDITIONS)
    picked = [str(c) for c in rng.choice(choices, size=count)]
    for i in np.flatnonzero(rng.random(count) < no_digit_share):
        picked[int(i)] = NO_DIGIT
    return picked


def realistic_examples(
    digits: np.ndarray, labels: np.ndarray, count: int, seed: int, name: str,
    no_digit_share: float = 0.06,
) -> RealisticSet:  # fmt: skip
    """``count`` realistic renders of randomly chosen ``digits``, preprocessed.

    Args:
        digits: The pool of uint8 [N, 28, 28] digits (training or validation split only).
        labels: Their labels.
        count: How many pages to render.
        seed: Seeds the choice of digits and conditions and the renderer.
        name: ``train`` or ``validation``: names the cache file and progress lines.
        no_digit_share: Share of pages rendered without a digit (label -1).

    Returns:
        The accepted images; no-digit pages that preprocessing did not refuse keep label -1.
    """
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), size=count, replace=count > len(labels))
    conditions = sample_conditions(count, rng, no_digit_share)
    picked = labels[chosen].astype(np.int64)
    picked[np.array(conditions) == NO_DIGIT] = -1
    return render_set(digits[chosen], picked, conditions, seed, name)
