"""Confidence calibration: temperature scaling and the `sure` threshold (training/calibrate.py)."""

import numpy as np
import pytest

from serving.classifier import apply_temperature
from training.calibrate import HIGHEST_THRESHOLD, LOWEST_THRESHOLD, fit_temperature, sure_threshold


def _overconfident(n: int, accuracy: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    labels = rng.integers(0, 10, n)
    right = rng.random(n) < accuracy
    guess = np.where(right, labels, (labels + 1) % 10)
    probs = np.full((n, 10), 0.01 / 9)
    probs[np.arange(n), guess] = 0.99
    return probs, labels


def test_temperature_one_changes_nothing() -> None:
    probs = np.array([[0.7, 0.2, 0.1]])
    assert apply_temperature(probs, 1.0) is probs


def test_temperature_keeps_the_answer_and_softens_it() -> None:
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1]])
    softer = apply_temperature(probs, 2.0)
    assert (softer.argmax(axis=1) == probs.argmax(axis=1)).all()
    assert (softer.max(axis=1) < probs.max(axis=1)).all()
    assert softer.sum(axis=1) == pytest.approx([1.0, 1.0])


def test_an_overconfident_model_gets_a_temperature_above_one() -> None:
    probs, labels = _overconfident(2000, 0.8, np.random.default_rng(0))
    temperature = fit_temperature(probs, labels)
    assert temperature > 1.5
    calibrated = apply_temperature(probs, temperature).max(axis=1)
    assert float(calibrated.mean()) == pytest.approx(0.8, abs=0.05)


def test_the_threshold_makes_sure_answers_right_on_every_condition() -> None:
    rng = np.random.default_rng(1)
    n = 1000
    labels = rng.integers(0, 10, n)
    confidence = rng.uniform(0.3, 1.0, n)
    right = rng.random(n) < confidence  # more confident, more often right
    probs = np.full((n, 10), 0.0)
    guess = np.where(right, labels, (labels + 1) % 10)
    probs[np.arange(n), guess] = confidence
    conditions = np.where(np.arange(n) % 2, "ruled", "shadow")
    threshold, needed = sure_threshold(probs, labels, conditions, precision=0.99)
    assert set(needed) == {"ruled", "shadow"}
    assert LOWEST_THRESHOLD <= threshold <= HIGHEST_THRESHOLD
    for condition in ("ruled", "shadow"):
        sure = (conditions == condition) & (probs.max(axis=1) >= threshold)
        assert float(np.mean(right[sure])) >= 0.99


def test_pages_without_a_digit_raise_the_threshold_above_their_confidence() -> None:
    probs = np.full((200, 10), 0.02)
    probs[:, 3] = 0.82
    labels = np.full(200, -1)
    threshold, needed = sure_threshold(probs, labels, np.full(200, "no_digit"))
    assert needed["no_digit"] == pytest.approx(0.82)
    assert threshold >= 0.82
