"""Reproducible evaluation sets: for one condition, ``count`` rendered uploads from a fixed seed.

Digits come from the MNIST **test** split only (the model never trained on them) and are put
on paper, photographed, drawn on a canvas... by :func:`training.paper.render`. The choice of
digits and every rendering's randomness derive from ``seed`` plus a stable hash (CRC-32) of the
condition's name, so a set is the same on every machine and in every run, and adding or removing
a condition leaves the others unchanged.

A set is planned first (:func:`plan_set`: which test digit, which rendering seed) and rendered
one :class:`Draw` at a time, so big sets (300 phone photos are about 1 GB of JPEG) are rendered
by whoever needs a sample, when it needs it, in any order and from any thread.

Usage::

    from evaluation.sets import EVAL_SEED, build_set, plan_set

    samples = build_set("ruled", 20, EVAL_SEED)  # rendered now, all in memory
    for draw in plan_set("phone_12mp", 300, EVAL_SEED):  # rendered one at a time
        sample = draw.render()
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from training.paper import CONDITIONS, DIGIT_CONDITIONS, render

#: The seed of the published evaluation (``make evaluate``).
EVAL_SEED = 20261202
#: Images per condition in the published evaluation.
DEFAULT_PER_CONDITION = 300
#: File name extension per content type, for uploads and files on disk.
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}


@dataclass(frozen=True, slots=True)
class Sample:
    """One rendered upload and what it shows (``label`` None: no digit on it)."""

    data: bytes
    content_type: str
    label: int | None
    condition: str


@dataclass(frozen=True, slots=True)
class Draw:
    """One planned sample: which test digit it shows and the seed of its rendering.

    Attributes:
        condition: The condition it is rendered in.
        position: Its index in the set.
        mnist_index: Index into the MNIST test images, None for a sample without a digit.
        label: The digit, None without one.
        seed: Seed of the generator that renders it.
    """

    condition: str
    position: int
    mnist_index: int | None
    label: int | None
    seed: int

    def render(self, images: np.ndarray | None = None) -> Sample:
        """Render the upload (deterministic: the same bytes every time).

        Args:
            images: The MNIST test images (uint8 [N, 28, 28]); loaded once when omitted.
        """
        digit = None
        if self.mnist_index is not None:
            digit = (test_split()[0] if images is None else images)[self.mnist_index]
        rendered = render(digit, self.condition, np.random.default_rng(self.seed))
        return Sample(rendered.data, rendered.content_type, self.label, self.condition)

    @property
    def filename(self) -> str:
        """A file name for the upload, without extension (see :func:`extension`)."""
        return f"{self.condition}-{self.position:04d}"


def condition_seed(condition: str, seed: int = EVAL_SEED) -> int:
    """The seed of one condition's set: ``seed`` plus the CRC-32 of the condition's name.

    CRC-32, not :func:`hash`, because Python salts string hashes per process.
    """
    return seed + zlib.crc32(condition.encode("utf-8"))


def is_digit_condition(condition: str) -> bool:
    """True when the condition's images show a digit (every condition but ``no_digit``)."""
    return condition in DIGIT_CONDITIONS


def check_condition(condition: str) -> str:
    """Return ``condition`` if it is a known condition.

    Raises:
        ValueError: it is not one of :data:`training.paper.CONDITIONS`.
    """
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}; known: {', '.join(CONDITIONS)}")
    return condition


def plan_set(
    condition: str, count: int, seed: int = EVAL_SEED, labels: np.ndarray | None = None
) -> list[Draw]:
    """Plan a set: ``count`` distinct test digits (none for ``no_digit``) and rendering seeds.

    The first ``k`` draws of a set are the set of ``k``: a quick run scores a prefix of the
    published one.

    Args:
        condition: One of :data:`training.paper.CONDITIONS`.
        count: Samples in the set (at most the number of test images).
        seed: The evaluation seed; the condition's own seed is :func:`condition_seed`.
        labels: The MNIST test labels; loaded when omitted.

    Raises:
        ValueError: an unknown condition, or more samples than test images.
    """
    check_condition(condition)
    labels = test_split()[1] if labels is None else labels
    if not 0 <= count <= len(labels):
        raise ValueError(f"count must be between 0 and {len(labels)}, not {count}")
    # Drawn for the whole test split and cut, so that a smaller set is a prefix of a larger one.
    rng = np.random.default_rng(condition_seed(condition, seed))
    indices = rng.permutation(len(labels))[:count]
    seeds = rng.integers(0, 2**63 - 1, size=len(labels), dtype=np.int64)[:count]
    digits = is_digit_condition(condition)
    return [
        Draw(
            condition=condition,
            position=position,
            mnist_index=int(index) if digits else None,
            label=int(labels[index]) if digits else None,
            seed=int(sample_seed),
        )
        for position, (index, sample_seed) in enumerate(zip(indices, seeds, strict=True))
    ]


def iter_set(condition: str, count: int, seed: int = EVAL_SEED) -> Iterator[Sample]:
    """Render a set lazily, one sample at a time, in order."""
    for draw in plan_set(condition, count, seed):
        yield draw.render()


def build_set(
    condition: str, count: int = DEFAULT_PER_CONDITION, seed: int = EVAL_SEED
) -> list[Sample]:
    """Render a whole set into memory (fine for small sets; use :func:`plan_set` for photos)."""
    return list(iter_set(condition, count, seed))


def extension(content_type: str) -> str:
    """The file name extension of an upload's content type (``.bin`` when unknown)."""
    return EXTENSIONS.get(content_type, ".bin")


@lru_cache(maxsize=1)
def test_split() -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test images (uint8 [10000, 28, 28]) and labels, loaded once per process."""
    from settings import load_settings
    from training.data import load_mnist

    data = load_mnist(load_settings())
    return data.x_test, data.y_test
