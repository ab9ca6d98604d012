"""Evaluation of a trained classifier: test accuracy, per digit, confusion, non-digit confidence."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from imaging.contract import to_model_input
from training.data import NUM_CLASSES
from training.rejects import probe_images


@dataclass(frozen=True)
class Evaluation:
    """What the model achieved on the 10,000 test images and on non-digit probes.

    Attributes:
        test_accuracy: Share of test images classified correctly.
        per_digit_accuracy: Digit ("0".."9") -> recall of that digit.
        confusion: [true digit][predicted digit] counts.
        blank_max_confidence: Highest probability the model gave any non-digit probe.
        probe_max_confidence: The same, per probe kind.
    """

    test_accuracy: float
    per_digit_accuracy: dict[str, float]
    confusion: list[list[int]]
    blank_max_confidence: float
    probe_max_confidence: dict[str, float]


def predict_probabilities(model: keras.Model, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Softmax outputs for float32 model input, in inference mode, batch by batch."""
    parts = [
        keras.ops.convert_to_numpy(model(x[i : i + batch_size], training=False))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """[true][predicted] counts over the ten digits."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return matrix


def evaluate(model: keras.Model, x_test: np.ndarray, y_test: np.ndarray) -> Evaluation:
    """Measure a classifier on the test set and on the non-digit probes.

    Args:
        model: The inference model.
        x_test: uint8 [N, 28, 28] test images.
        y_test: Their labels.

    Returns:
        The :class:`Evaluation`.
    """
    predicted = predict_probabilities(model, to_model_input(x_test)).argmax(axis=1)
    matrix = confusion_matrix(y_test, predicted)
    per_digit = matrix.diagonal() / matrix.sum(axis=1)
    probes = {
        kind: float(predict_probabilities(model, images).max())
        for kind, images in probe_images().items()
    }
    return Evaluation(
        test_accuracy=float(matrix.diagonal().sum() / matrix.sum()),
        per_digit_accuracy={str(d): round(float(a), 5) for d, a in enumerate(per_digit)},
        confusion=matrix.tolist(),
        blank_max_confidence=round(max(probes.values()), 5),
        probe_max_confidence={k: round(v, 5) for k, v in probes.items()},
    )
