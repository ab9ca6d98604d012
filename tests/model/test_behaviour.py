"""Behavioural tests of model + preprocessing: what must hold for any model we ship.

Minimum functionality (clean digits get their label), invariance (shift, scale, polarity,
stroke width do not change the answer) and direction (blank or noise gives low confidence).
Thresholds are on agreement rates over real MNIST test digits, not single lucky examples.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from imaging.normalize import BlankImage
from imaging.pipeline import preprocess
from serving.classifier import Classifier

pytestmark = pytest.mark.slow

SAMPLES = 300


@pytest.fixture(scope="module")
def sample(mnist_test: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = mnist_test
    chosen = np.random.default_rng(7).choice(len(images), SAMPLES, replace=False)
    return images[chosen], labels[chosen]


def _answers(classifier: Classifier, images: list[Image.Image]) -> np.ndarray:
    """The answer per image; -1 where preprocessing refuses it (a changed answer, too)."""
    answers = np.full(len(images), -1)
    kept, pixels = [], []
    for i, image in enumerate(images):
        try:
            pixels.append(preprocess(image).pixels)
            kept.append(i)
        except BlankImage:
            continue
    if pixels:
        answers[kept] = classifier.predict(np.stack(pixels)).argmax(axis=1)
    return answers


def _place(digit: np.ndarray, canvas: int, top: int, left: int, scale: int = 1) -> Image.Image:
    big = np.kron(digit, np.ones((scale, scale), dtype=np.uint8))
    field = np.zeros((canvas, canvas), dtype=np.uint8)
    field[top : top + big.shape[0], left : left + big.shape[1]] = big
    return Image.fromarray(field)


def test_clean_mnist_digits_get_their_label(
    classifier: Classifier, sample: tuple[np.ndarray, np.ndarray]
) -> None:
    images, labels = sample
    answers = _answers(classifier, [Image.fromarray(d) for d in images])
    assert np.mean(answers == labels) >= 0.98


@pytest.mark.parametrize("digit", range(10))
def test_each_digit_is_known(
    classifier: Classifier, mnist_test: tuple[np.ndarray, np.ndarray], digit: int
) -> None:
    images, labels = mnist_test
    of_digit = images[labels == digit][:30]
    answers = _answers(classifier, [Image.fromarray(d) for d in of_digit])
    assert np.mean(answers == digit) >= 0.93


@pytest.mark.parametrize(
    ("name", "transform"),
    [
        ("shifted-top-left", lambda d: _place(d, 80, 2, 3)),
        ("shifted-bottom-right", lambda d: _place(d, 80, 50, 49)),
        ("scaled-x5", lambda d: _place(d, 200, 30, 20, scale=5)),
        ("inverted", lambda d: Image.fromarray(255 - d)),
        ("thicker-strokes", lambda d: Image.fromarray(d).filter(ImageFilter.MaxFilter(3))),
        ("thinner-strokes", lambda d: _place(d, 28, 0, 0, 1).resize((112, 112)).point(
            lambda v: 255 if v > 200 else 0)),
        ("contrast-halved", lambda d: Image.fromarray((d // 2 + 60).astype(np.uint8))),
    ],
)  # fmt: skip
def test_answers_survive_invariant_changes(
    classifier: Classifier, sample: tuple[np.ndarray, np.ndarray], name: str, transform: object
) -> None:
    images, _ = sample
    original = _answers(classifier, [Image.fromarray(d) for d in images])
    changed = _answers(classifier, [transform(d) for d in images])  # type: ignore[operator]
    agreement = np.mean(original == changed)
    assert agreement >= 0.95, f"{name}: only {agreement:.1%} of answers unchanged"


@pytest.mark.parametrize(
    "pixels",
    [
        np.zeros((28, 28), dtype=np.uint8),
        np.random.default_rng(1).integers(0, 40, (28, 28)).astype(np.uint8),
        (np.random.default_rng(2).random((28, 28)) > 0.97).astype(np.uint8) * 255,
    ],
    ids=["blank", "faint-noise", "speckle"],
)
def test_no_confident_digit_in_blank_or_noise(classifier: Classifier, pixels: np.ndarray) -> None:
    assert classifier.predict(pixels[None]).max() < 0.6
