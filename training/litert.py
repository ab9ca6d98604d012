"""The serving format: the trained Keras model converted to LiteRT (TensorFlow Lite), checked.

Training exports ``model.tflite`` beside ``model.keras`` in the same BentoML model (one tag) and
records in the metadata how often the two give the same digit, and the largest difference
between their probabilities, on the MNIST test set and on the realistic validation renders.

For a stored model without the LiteRT file (trained before it existed)::

    python -m training.litert [TAG]     # default mnist_cnn:latest

stores a new version of it: the same ``model.keras`` and metadata, plus ``model.tflite`` and
its agreement.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from imaging.contract import KERAS_FILE, LITERT_FILE, to_model_input
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


def check_images(settings: Any) -> dict[str, np.ndarray]:
    """The sets agreement is measured on: MNIST test digits and the realistic validation renders.

    The same sets as a training run's (its default seed), from the render cache when present.
    """
    from training.data import load_mnist
    from training.train import TrainConfig, realistic_validation, split_validation

    data = load_mnist(settings)
    config = TrainConfig()
    split = split_validation(data, config, np.random.default_rng(config.seed))
    val = realistic_validation(split, config)
    return {"mnist_test": data.x_test, "realistic_validation": val.images}


def add_litert(tag: str) -> str:
    """Store a new version of the model ``tag`` with its LiteRT file and agreement added."""
    import bentoml
    import keras

    from settings import load_settings

    source = bentoml.models.get(tag)
    metadata = dict(source.info.metadata)
    model = keras.saving.load_model(source.path_of(KERAS_FILE), compile=False)
    images = check_images(load_settings())
    with tempfile.TemporaryDirectory() as scratch:
        report = convert_and_check(model, Path(scratch), images)
        metadata["litert_agreement"] = report
        labels = dict(source.info.labels) | {"runtime": "litert"}
        with bentoml.models.create(source.tag.name, labels=labels, metadata=metadata) as stored:
            shutil.copy2(source.path_of(KERAS_FILE), stored.path_of(KERAS_FILE))
            shutil.copy2(Path(scratch) / LITERT_FILE, stored.path_of(LITERT_FILE))
    log.info("stored %s: %s with %s", stored.tag, KERAS_FILE, LITERT_FILE)
    return str(stored.tag)


def main(argv: list[str] | None = None) -> int:
    """``python -m training.litert [TAG]``: add the LiteRT file to a stored model."""
    parser = argparse.ArgumentParser(prog="python -m training.litert", description=__doc__)
    parser.add_argument("tag", nargs="?", default="mnist_cnn:latest")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(add_litert(args.tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
