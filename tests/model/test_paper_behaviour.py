"""Behaviour on real paper: printed lines, shadows and ink colour do not change the answer.

The same MNIST test digits are rendered on plain paper and on each kind of page
(:mod:`training.paper`), preprocessed as the service does, and classified by the served model:
the answers must agree. Hand-drawn 1s and 7s on ruled paper check that removing the rules eats
neither a 1's stem nor a 7's bar.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imaging.normalize import BlankImage
from imaging.pipeline import preprocess_bytes
from serving.classifier import Classifier
from tests.support.drawing import draw_digit
from training import paper

pytestmark = pytest.mark.slow

SAMPLES = 120
MAX_PIXELS = 40_000_000


@pytest.fixture(scope="module")
def sample(mnist_test: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = mnist_test
    chosen = np.random.default_rng(11).choice(len(images), SAMPLES, replace=False)
    return images[chosen], labels[chosen]


def _answer(classifier: Classifier, data: bytes) -> int:
    """The digit the service would answer, -1 where it refuses (422: counts as a change)."""
    try:
        pixels = preprocess_bytes(data, MAX_PIXELS).pixels
    except BlankImage:
        return -1
    return int(classifier.predict(pixels[None]).argmax())


def _answers(classifier: Classifier, digits: np.ndarray, condition: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([_answer(classifier, paper.render(d, condition, rng).data) for d in digits])


@pytest.mark.parametrize(
    "condition",
    ["ruled", "squared", "dotted", "shadow", "uneven_light", "pencil", "coloured_pen"],
)
def test_the_page_does_not_change_the_answer(
    classifier: Classifier, sample: tuple[np.ndarray, np.ndarray], condition: str
) -> None:
    digits, labels = sample
    plain = _answers(classifier, digits, "photo", seed=1)
    on_page = _answers(classifier, digits, condition, seed=2)
    agreement = float(np.mean(plain == on_page))
    assert agreement >= 0.95, f"{condition}: only {agreement:.1%} of answers unchanged"
    assert float(np.mean(on_page == labels)) >= 0.95


def _on_rules(image: Image.Image, rows: list[int], colour: tuple[int, int, int]) -> bytes:
    page = np.asarray(image.convert("RGB")).copy()
    page[page.min(axis=2) > 128] = (245, 243, 236)
    for row in rows:
        light = page[row : row + 3].min(axis=2) > 128
        page[row : row + 3][light] = colour
    buffer = io.BytesIO()
    Image.fromarray(page).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize("width", [0.04, 0.08])
def test_rules_crossing_a_one_do_not_cut_it(classifier: Classifier, width: float) -> None:
    one = draw_digit(1, size=360, width=width)
    data = _on_rules(one, rows=list(range(30, 360, 60)), colour=(150, 185, 235))
    assert _answer(classifier, data) == 1


@pytest.mark.parametrize("width", [0.04, 0.08])
def test_a_seven_whose_bar_lies_on_a_rule_keeps_its_bar(
    classifier: Classifier, width: float
) -> None:
    seven = draw_digit(7, size=360, width=width)
    bar = round(0.2 * 360 + 0.12 * 0.6 * 360)  # the bar's row in draw_digit's layout
    data = _on_rules(seven, rows=[bar - 1, bar + 60, bar + 120, bar + 180], colour=(150, 185, 235))
    assert _answer(classifier, data) == 7
