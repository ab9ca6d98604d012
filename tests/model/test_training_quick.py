"""A quick training run, end to end, into a throw-away BentoML store.

``python -m training.train --quick`` runs as a subprocess with ``BENTOML_HOME`` pointing into
``tmp_path``, so the real model store is never touched; a second subprocess reads the stored
model back the way the service does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from imaging.pipeline import PREPROCESSING_VERSION

REPO = Path(__file__).resolve().parents[2]

METADATA_FIELDS = {
    "mode",
    "test_accuracy",
    "per_digit_accuracy",
    "data_sha256",
    "data_source",
    "preprocessing_version",
    "tensorflow_version",
    "keras_version",
    "numpy_version",
    "training_seconds",
    "epochs",
    "seed",
    "params",
    "blank_max_confidence",
    "validation_accuracy",
    "temperature",
    "confidence_threshold",
    "validation_images",
    "realistic_train_images",
}

# Loads the newest model as serving/classifier.py does and prints what the test checks.
READ_BACK = """
import json, sys
import bentoml, keras, numpy as np
stored = bentoml.models.get(sys.argv[1])
model = keras.saving.load_model(stored.path_of("model.keras"), compile=False)
out = keras.ops.convert_to_numpy(model(np.zeros((2, 28, 28, 1), np.float32), training=False))
print(json.dumps({
    "tag": str(stored.tag),
    "labels": dict(stored.info.labels),
    "metadata": dict(stored.info.metadata),
    "output_shape": list(out.shape),
    "row_sums": out.sum(axis=1).tolist(),
    "layer_names": [layer.name for layer in model.layers],
}))
"""


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("quick")
    env = {**os.environ, "BENTOML_HOME": str(root / "bentoml"), "PYTHONPATH": str(REPO)}
    report_dir = root / "report"
    trained = run(["-m", "training.train", "--quick", "--report-dir", str(report_dir)], env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    tag = trained.stdout.strip().splitlines()[-1]
    read = run(["-c", READ_BACK, tag], env)
    assert read.returncode == 0, read.stderr[-3000:]
    return {
        "tag": tag,
        "stderr": trained.stderr,
        "report_dir": report_dir,
        "store": root / "bentoml",
        **json.loads(read.stdout.strip().splitlines()[-1]),
    }


pytestmark = pytest.mark.slow


def test_prints_the_tag_of_the_stored_model_last(quick_run: dict[str, Any]) -> None:
    assert re.fullmatch(r"mnist_cnn:[a-z0-9]+", quick_run["tag"])


def test_stores_into_the_given_bentoml_home_only(quick_run: dict[str, Any]) -> None:
    version = quick_run["tag"].split(":")[1]
    assert (quick_run["store"] / "models" / "mnist_cnn" / version / "model.keras").is_file()


def test_stores_the_litert_file_the_service_runs_and_its_agreement(
    quick_run: dict[str, Any],
) -> None:
    version = quick_run["tag"].split(":")[1]
    assert (quick_run["store"] / "models" / "mnist_cnn" / version / "model.tflite").is_file()
    assert quick_run["labels"]["runtime"] == "litert"
    agreement = quick_run["metadata"]["litert_agreement"]
    assert agreement["mnist_test"]["images"] == 10_000
    assert agreement["realistic_validation"]["images"] > 0
    assert agreement["overall"]["agreement"] >= 0.999
    assert agreement["overall"]["max_probability_difference"] < 1e-3


def test_metadata_has_every_field_and_says_quick(quick_run: dict[str, Any]) -> None:
    metadata = quick_run["metadata"]
    assert METADATA_FIELDS - metadata.keys() == set()
    assert metadata["mode"] == "quick"
    assert quick_run["labels"]["mode"] == "quick"
    assert metadata["epochs"] == 1
    assert metadata["preprocessing_version"] == PREPROCESSING_VERSION
    assert len(metadata["data_sha256"]) == 64
    assert metadata["params"] > 10_000


def test_per_digit_accuracy_covers_all_ten_digits(quick_run: dict[str, Any]) -> None:
    per_digit = quick_run["metadata"]["per_digit_accuracy"]
    assert sorted(per_digit) == [str(d) for d in range(10)]
    assert all(0.0 <= value <= 1.0 for value in per_digit.values())


def test_even_one_quick_epoch_learns_the_digits(quick_run: dict[str, Any]) -> None:
    assert quick_run["metadata"]["test_accuracy"] >= 0.8


def test_stored_model_is_the_plain_inference_model(quick_run: dict[str, Any]) -> None:
    assert quick_run["output_shape"] == [2, 10]
    assert quick_run["row_sums"] == pytest.approx([1.0, 1.0], abs=1e-4)
    assert not [name for name in quick_run["layer_names"] if "augment" in name]


def test_writes_the_report_files(quick_run: dict[str, Any]) -> None:
    report_dir: Path = quick_run["report_dir"]
    report = json.loads((report_dir / "report.json").read_text())
    assert report["tag"] == quick_run["tag"]
    assert report["metadata"] == quick_run["metadata"]
    assert sum(map(sum, report["confusion_matrix"])) == 10_000
    assert len(report["history"]["loss"]) == 1
    for chart in ("confusion_matrix.png", "training_curves.png"):
        assert (report_dir / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_logs_the_data_source_and_the_result(quick_run: dict[str, Any]) -> None:
    assert "MNIST: loaded from" in quick_run["stderr"]
    assert "test accuracy" in quick_run["stderr"]
    assert f"stored {quick_run['tag']}" in quick_run["stderr"]
