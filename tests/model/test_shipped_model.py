"""The model shipped in the repository (models/mnist_cnn.bentomodel) is what it says it is.

It imports into an empty BentoML store with BentoML's own command, was trained for the
preprocessing the service applies, carries its calibration, and scores on the 10,000 MNIST test
images exactly what its metadata claims.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from imaging.contract import KERAS_FILE, to_model_input
from imaging.pipeline import PREPROCESSING_VERSION
from training.store import ARCHIVE, MIN_FULL_ACCURACY

pytestmark = pytest.mark.slow

BENTOML = Path(sys.executable).with_name("bentoml")


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The archive imported into a fresh store: ``bentoml models get -o json`` of it."""
    assert ARCHIVE.exists(), "models/mnist_cnn.bentomodel is missing: run `make model-archive`"
    env = {**os.environ, "BENTOML_HOME": str(tmp_path_factory.mktemp("bentoml"))}
    subprocess.run([BENTOML, "models", "import", str(ARCHIVE)], env=env, check=True)
    listed = subprocess.run(
        [BENTOML, "models", "list", "mnist_cnn", "-o", "json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    tags = [row["tag"] for row in json.loads(listed.stdout)]
    assert len(tags) == 1
    shown = subprocess.run(
        [BENTOML, "models", "get", tags[0], "-o", "json"],
        env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    info = json.loads(shown.stdout)
    info["path"] = str(Path(env["BENTOML_HOME"]) / "models" / "mnist_cnn" / info["version"])
    return info


def test_the_archive_is_small_enough_to_ship() -> None:
    assert ARCHIVE.stat().st_size < 10 * 1024 * 1024


def test_it_was_trained_for_the_current_preprocessing(imported: dict[str, Any]) -> None:
    metadata = imported["metadata"]
    assert metadata["mode"] == "full"
    assert metadata["preprocessing_version"] == PREPROCESSING_VERSION
    assert metadata["test_accuracy"] >= MIN_FULL_ACCURACY
    assert metadata["temperature"] > 0
    assert 0.5 <= metadata["confidence_threshold"] < 1.0


def test_it_scores_the_figures_in_its_metadata(
    imported: dict[str, Any], mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    import keras

    from training.evaluate import predict_probabilities

    model = keras.saving.load_model(Path(imported["path"]) / KERAS_FILE, compile=False)
    images, labels = mnist_test
    predicted = predict_probabilities(model, to_model_input(images)).argmax(axis=1)
    accuracy = float(np.mean(predicted == labels))
    assert accuracy == pytest.approx(imported["metadata"]["test_accuracy"], abs=3e-4)


def test_its_litert_file_serves_what_the_metadata_records(
    imported: dict[str, Any], mnist_test: tuple[np.ndarray, np.ndarray]
) -> None:
    from serving.classifier import Classifier

    agreement = imported["metadata"]["litert_agreement"]
    assert agreement["overall"]["agreement"] >= 0.999
    assert agreement["mnist_test"]["images"] == 10_000
    assert agreement["realistic_validation"]["images"] >= 4_500  # pages with a digit found
    classifier = Classifier(imported["path"], "shipped")
    images, labels = mnist_test
    predicted = np.concatenate(
        [classifier.predict(images[i : i + 1000]).argmax(axis=1) for i in range(0, 10_000, 1000)]
    )
    # The service's runtime scores what the Keras model scored, to within its recorded agreement.
    disagreement = 1 - agreement["mnist_test"]["agreement"]
    accuracy = float(np.mean(predicted == labels))
    assert accuracy == pytest.approx(imported["metadata"]["test_accuracy"], abs=disagreement + 3e-4)
