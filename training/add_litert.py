"""Add the LiteRT file to a model stored without one (trained before the service ran LiteRT).

Usage::

    python -m training.add_litert [TAG]     # default mnist_cnn:latest

stores a new version of the model: the same ``model.keras`` and metadata, plus ``model.tflite``
and its agreement with Keras (:mod:`training.litert`), measured on the sets a training run uses.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from cli import setup_logging
from imaging.contract import KERAS_FILE, LITERT_FILE
from training.litert import convert_and_check

log = logging.getLogger("training.add_litert")


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
    """``python -m training.add_litert [TAG]``: add the LiteRT file to a stored model."""
    parser = argparse.ArgumentParser(prog="python -m training.add_litert", description=__doc__)
    parser.add_argument("tag", nargs="?", default="mnist_cnn:latest")
    args = parser.parse_args(argv)
    setup_logging()
    print(add_litert(args.tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
