"""The served model is the one promoted last (label ``promoted_at``), never just ``latest``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving.model_choice import PROMOTED_AT, newest_promotion, served_tag

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process: BentoML fixes its store's home when it is first imported.
SCRIPT = """
import json, sys
import bentoml
from serving.model_choice import served_tag
from training.store import find_model, promote, set_labels

def stored():
    with bentoml.models.create("toy", labels={"mode": "full"}) as model:
        open(model.path_of("model.tflite"), "wb").write(b"x")
    return str(model.tag)

seen = {}
first = stored()
try:
    served_tag("toy", "promoted")
except LookupError as exc:
    seen["none"] = str(exc)
seen["first"] = promote(first).tag == first
second = stored()  # the newest: `latest`, but only a candidate
seen["latest_is_second"] = str(bentoml.models.get("toy:latest").tag) == second
seen["served_before"] = served_tag("toy", "promoted") == first
promote(second)
seen["served_after"] = served_tag("toy", "promoted") == second
seen["stages"] = [find_model("toy", t.split(":")[1]).labels["stage"] for t in (first, second)]
promote(first)  # a rollback is a promotion of the older model
seen["rolled_back"] = served_tag("toy", "promoted") == first
seen["metadata_kept"] = bentoml.models.get(second).info.labels["mode"] == "full"
print(json.dumps(seen))
"""


def test_newest_promotion_wins_and_unpromoted_models_never_do() -> None:
    models = [
        ("toy:a", {PROMOTED_AT: "2026-12-01T10:00:00.000000+00:00"}),
        ("toy:b", {}),
        ("toy:c", {PROMOTED_AT: "2026-12-02T09:00:00.000000+00:00"}),
    ]
    assert newest_promotion(models) == "toy:c"
    assert newest_promotion([("toy:b", {})]) is None


def test_a_pinned_version_is_served_as_given() -> None:
    assert served_tag("mnist_cnn", "abc123") == "mnist_cnn:abc123"
    assert served_tag("mnist_cnn", "latest") == "mnist_cnn:latest"


@pytest.mark.slow
def test_promotion_relabels_models_in_a_real_store(tmp_path: Path) -> None:
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert "no version of 'toy' is promoted" in seen["none"]
    assert seen["first"]
    assert seen["latest_is_second"]
    assert seen["served_before"], "a newer, unpromoted model is not served"
    assert seen["served_after"]
    assert seen["stages"] == ["retired", "production"]
    assert seen["rolled_back"]
    assert seen["metadata_kept"]
