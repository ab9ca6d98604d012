"""The serving format: the trained Keras model converted to LiteRT (TensorFlow Lite), checked.

Training exports ``model.tflite`` beside ``model.keras`` in the same BentoML model (one tag) and
records in the metadata how often the two give the same digit, and the largest difference
between their probabilities, on the MNIST test set and on the realistic validation renders.

``python -m training.add_litert [TAG]`` adds both to a model stored without them.
"""

from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imaging.contract import LITERT_FILE, to_model_input
from serving.classifier import Classifier
from training.evaluate import predict_probabilities

if TYPE_CHECKING:
    import keras

#: Share of images on which both runtimes must name the same digit.
MIN_AGREEMENT = 0.999
BATCH = 512
log = logging.getLogger("training.litert")


class RuntimesDisagreeError(RuntimeError):
    """The LiteRT file answers differently from the Keras model it was made from."""


def export_litert(model: keras.Model, path: Path) -> Path:
    """Convert ``model`` to a LiteRT flatbuffer at ``path`` (Keras' own export)."""
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its artifact path
        model.export(str(path), format="litert")
    return path


def agreement(
    model: keras.Model, litert_dir: Path, image_sets: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Per set and overall: images, share of equal digits, largest probability difference.

    Keras runs as training scores the model (:func:`training.evaluate.predict_probabilities`),
    LiteRT through the service's own classifier.

    Raises:
        RuntimesDisagreeError: Overall agreement is below :data:`MIN_AGREEMENT`.
    """
    served_model = Classifier(litert_dir, "litert-check")
    report: dict[str, Any] = {}
    same = total = 0
    largest = 0.0
    for name, images in image_sets.items():
        expected = predict_probabilities(model, to_model_input(images), batch_size=BATCH)
        served = np.concatenate(
            [served_model.predict(images[i : i + BATCH]) for i in range(0, len(images), BATCH)]
        )
        equal = int((expected.argmax(1) == served.argmax(1)).sum())
        difference = float(np.abs(expected - served).max())
        report[name] = _entry(len(images), equal, difference)
        same, total, largest = same + equal, total + len(images), max(largest, difference)
    report["overall"] = _entry(total, same, largest)
    log.info(
        "LiteRT vs Keras: same digit on %.3f%% of %d images, largest probability difference %.2g",
        100 * report["overall"]["agreement"],
        total,
        largest,
    )
    if report["overall"]["agreement"] < MIN_AGREEMENT:
        raise RuntimesDisagreeError(f"LiteRT and Keras agree on only {report['overall']}")
    return report


def _entry(images: int, equal: int, difference: float) -> dict[str, Any]:
    """One row of the agreement report."""
    return {
        "images": images,
        "agreement": round(equal / max(images, 1), 6),
        "max_probability_difference": float(f"{difference:.3g}"),
    }


def convert_and_check(
    model: keras.Model, directory: Path, image_sets: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Write ``model.tflite`` into ``directory`` and return its agreement report."""
    export_litert(model, directory / LITERT_FILE)
    return agreement(model, directory, image_sets)
