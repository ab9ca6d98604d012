"""Images that are not digits: blanks, faint noise, speckle and flat fills.

A small share of them is mixed into training with a uniform target (0.1 per digit) so that the
classifier answers "not sure" on such input instead of a confident digit. A separate, fixed set
of probes measures that after training (``blank_max_confidence`` in the model metadata).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from imaging.contract import IMAGE_SHAPE, INPUT_SHAPE
from training.data import NUM_CLASSES

REJECT_SHARE = 0.025  # of the training set; enough for low confidence, too few to cost accuracy
PROBE_SEED = 20_241_124


def _blank(rng: np.random.Generator) -> np.ndarray:
    return np.zeros(IMAGE_SHAPE, dtype=np.float32)


def _faint_noise(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, rng.uniform(0.05, 0.35), IMAGE_SHAPE).astype(np.float32)


def _speckle(rng: np.random.Generator) -> np.ndarray:
    image = np.zeros(IMAGE_SHAPE[0] * IMAGE_SHAPE[1], dtype=np.float32)
    count = int(rng.integers(3, 80))
    spots = rng.choice(image.size, size=count, replace=False)
    image[spots] = rng.uniform(0.4, 1.0, count)
    return image.reshape(IMAGE_SHAPE)


def _flat_fill(rng: np.random.Generator) -> np.ndarray:
    return np.full(IMAGE_SHAPE, rng.uniform(0.1, 1.0), dtype=np.float32)


KINDS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "blank": _blank,
    "faint_noise": _faint_noise,
    "speckle": _speckle,
    "flat_fill": _flat_fill,
}


def reject_images(count: int, rng: np.random.Generator) -> np.ndarray:
    """Non-digit images in [0, 1], the kinds in equal shares.

    Args:
        count: How many images.
        rng: Source of randomness (seeded by the caller).

    Returns:
        float32 [count, 28, 28, 1].
    """
    kinds = list(KINDS.values())
    images = [kinds[i % len(kinds)](rng) for i in range(count)]
    return np.stack(images)[..., None] if images else np.zeros((0, *INPUT_SHAPE), np.float32)


def uniform_targets(count: int) -> np.ndarray:
    """The target for a non-digit: probability 0.1 for every digit, float32 [count, 10]."""
    return np.full((count, NUM_CLASSES), 1.0 / NUM_CLASSES, dtype=np.float32)


def probe_images(per_kind: int = 25) -> dict[str, np.ndarray]:
    """A fixed set of non-digit probes per kind, independent of the training seed.

    Args:
        per_kind: Images per kind.

    Returns:
        Kind name -> float32 [per_kind, 28, 28, 1].
    """
    rng = np.random.default_rng(PROBE_SEED)
    return {
        name: np.stack([make(rng) for _ in range(per_kind)])[..., None]
        for name, make in KINDS.items()
    }
