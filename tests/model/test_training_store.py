"""The model in the real store (the one ``make model`` trained) is fit to serve.

``make test`` runs ``make model`` first, so ``DIGITS_MODEL_NAME:DIGITS_MODEL_VERSION`` exists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from serving.classifier import Classifier
from settings import load_settings
from training.data import load_mnist
from training.rejects import probe_images
from training.store import MIN_FULL_ACCURACY, find_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def metadata() -> dict[str, Any]:
    settings = load_settings()
    stored = find_model(settings.model_name, settings.model_version)
    assert stored is not None, "no model in the store: run `make model`"
    return stored.metadata


def test_served_model_is_a_full_run(metadata: dict[str, Any]) -> None:
    assert metadata["mode"] == "full"


def test_served_model_reached_the_accuracy_target(metadata: dict[str, Any]) -> None:
    assert metadata["test_accuracy"] >= MIN_FULL_ACCURACY


@pytest.mark.parametrize("digit", [str(d) for d in range(10)])
def test_every_digit_is_recognised(metadata: dict[str, Any], digit: str) -> None:
    assert metadata["per_digit_accuracy"][digit] >= 0.98


def test_non_digits_got_low_confidence_at_training_time(metadata: dict[str, Any]) -> None:
    assert metadata["blank_max_confidence"] < 0.5


def test_recorded_accuracy_is_reproduced_by_the_serving_classifier(
    metadata: dict[str, Any],
    classifier: Classifier,
    mnist_test: tuple[np.ndarray, np.ndarray],
) -> None:
    images, labels = mnist_test
    answers = np.concatenate(
        [classifier.predict(images[i : i + 500]).argmax(axis=1) for i in range(0, len(images), 500)]
    )
    assert np.mean(answers == labels) == pytest.approx(metadata["test_accuracy"], abs=5e-4)


@pytest.mark.parametrize("kind", sorted(probe_images(per_kind=1)))
def test_non_digit_probes_stay_unsure(classifier: Classifier, kind: str) -> None:
    probes = probe_images(per_kind=25)[kind][..., 0]
    pixels = np.rint(probes * 255).astype(np.uint8)
    assert classifier.predict(pixels).max() < 0.5


def test_trained_on_the_data_the_tests_use(metadata: dict[str, Any]) -> None:
    assert metadata["data_sha256"] == load_mnist(load_settings()).sha256
