"""`python -m training.ensure` trains only when the model the service would load is not fit."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from imaging.pipeline import PREPROCESSING_VERSION
from settings import Settings
from training import ensure
from training.store import StoredModel

FULL = {
    "mode": "full",
    "test_accuracy": 0.9951,
    "epochs": 12,
    "training_seconds": 300.0,
    "preprocessing_version": PREPROCESSING_VERSION,
}
STALE = {**FULL, "preprocessing_version": "mnist-norm-1"}
QUICK = {"mode": "quick", "test_accuracy": 0.93, "epochs": 1, "training_seconds": 20.0}
WEAK = {**FULL, "test_accuracy": 0.991}
#: Where the fake stored models live: a directory with the LiteRT file the service loads.
MODEL_DIR = str(Path(__file__).parent / "fixtures" / "stored-model")


class FakeTraining:
    """Stands in for training.train (which imports TensorFlow) and records calls and promotions."""

    def __init__(self, metadata: dict[str, Any]) -> None:
        self.metadata = metadata
        self.calls = 0
        self.promoted: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        module = types.ModuleType("training.train")
        module.TrainConfig = lambda: "default-config"  # type: ignore[attr-defined]
        module.train = self.train  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "training.train", module)
        monkeypatch.setattr(ensure, "promote", self.promote)

    def promote(self, tag: str) -> StoredModel:
        self.promoted.append(tag)
        return StoredModel(tag, MODEL_DIR, self.metadata, {"stage": "production"})

    def train(self, config: str, settings: Settings) -> Any:
        assert config == "default-config"
        self.calls += 1
        return types.SimpleNamespace(tag="mnist_cnn:new", metadata=self.metadata)


@pytest.fixture
def training(monkeypatch: pytest.MonkeyPatch) -> FakeTraining:
    fake = FakeTraining(FULL)
    fake.install(monkeypatch)
    monkeypatch.setattr(ensure, "list_models", lambda name: [])
    monkeypatch.setattr(ensure, "ARCHIVE", Path("/nonexistent/mnist_cnn.bentomodel"))
    return fake


def in_store(monkeypatch: pytest.MonkeyPatch, metadata: dict[str, Any] | None) -> None:
    model = None if metadata is None else StoredModel("mnist_cnn:old", MODEL_DIR, metadata)
    monkeypatch.setattr(ensure, "find_model", lambda name, version: model)


def test_a_full_accurate_model_is_kept(
    monkeypatch: pytest.MonkeyPatch, training: FakeTraining
) -> None:
    in_store(monkeypatch, FULL)
    assert ensure.ensure_model(Settings()) == 0
    assert training.calls == 0


@pytest.mark.parametrize(
    "metadata", [None, QUICK, WEAK, STALE], ids=["missing", "quick", "weak", "stale"]
)
def test_missing_quick_or_weak_latest_model_triggers_training(
    monkeypatch: pytest.MonkeyPatch, training: FakeTraining, metadata: dict[str, Any] | None
) -> None:
    in_store(monkeypatch, metadata)
    assert ensure.ensure_model(Settings()) == 0
    assert training.calls == 1
    assert training.promoted == ["mnist_cnn:new"]


def test_a_model_that_is_not_promoted_yet_is_found_and_promoted_on_import(
    monkeypatch: pytest.MonkeyPatch, training: FakeTraining, tmp_path: Path
) -> None:
    archive = tmp_path / "mnist_cnn.bentomodel"
    archive.write_bytes(b"archive")
    in_store(monkeypatch, None)  # nothing promoted: e.g. a store from before promotion existed
    monkeypatch.setattr(ensure, "ARCHIVE", archive)
    monkeypatch.setattr(
        ensure, "import_archive", lambda path: StoredModel("mnist_cnn:shipped", MODEL_DIR, FULL)
    )
    assert ensure.ensure_model(Settings()) == 0
    assert training.calls == 0
    assert training.promoted == ["mnist_cnn:shipped"]


def test_a_pinned_version_is_never_retrained(
    monkeypatch: pytest.MonkeyPatch, training: FakeTraining
) -> None:
    in_store(monkeypatch, QUICK)
    assert ensure.ensure_model(Settings(model_version="abc123")) == 1
    assert training.calls == 0


def test_training_that_misses_the_target_fails_and_promotes_nothing(
    monkeypatch: pytest.MonkeyPatch, training: FakeTraining
) -> None:
    in_store(monkeypatch, None)
    training.metadata = WEAK
    assert ensure.ensure_model(Settings()) == 1
    assert training.promoted == []


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (None, "no model"),
        (QUICK, "not a full model"),
        (WEAK, "not a full model reaching the 99.4% target"),
        (STALE, "trained for mnist-norm-1"),
    ],
)
def test_the_reason_for_training_is_spelled_out(
    metadata: dict[str, Any] | None, reason: str
) -> None:
    model = None if metadata is None else StoredModel("mnist_cnn:v", MODEL_DIR, metadata)
    problem = ensure.why_not_servable(Settings(), model)
    assert problem is not None
    assert reason in problem
    assert ensure.why_not_servable(Settings(), StoredModel("mnist_cnn:v", MODEL_DIR, FULL)) is None


def test_a_model_without_its_litert_file_is_not_servable(tmp_path: Path) -> None:
    (tmp_path / "model.keras").write_bytes(b"keras")
    problem = ensure.why_not_servable(Settings(), StoredModel("mnist_cnn:v", str(tmp_path), FULL))
    assert problem is not None
    assert "no model.tflite" in problem
    assert "python -m training.add_litert" in problem


def test_the_shipped_archive_is_imported_instead_of_training(
    monkeypatch: pytest.MonkeyPatch, training: FakeTraining, tmp_path: Path
) -> None:
    archive = tmp_path / "mnist_cnn.bentomodel"
    archive.write_bytes(b"archive")
    shipped = StoredModel("mnist_cnn:shipped", MODEL_DIR, FULL)
    store: dict[str, StoredModel | None] = {"latest": None}

    def fake_import(path: Path) -> StoredModel:
        assert path == archive
        store["latest"] = shipped
        return shipped

    monkeypatch.setattr(ensure, "ARCHIVE", archive)
    monkeypatch.setattr(ensure, "import_archive", fake_import)
    monkeypatch.setattr(ensure, "find_model", lambda name, version: store["latest"])
    assert ensure.ensure_model(Settings()) == 0
    assert training.calls == 0
    assert store["latest"] is shipped
    assert training.promoted == ["mnist_cnn:shipped"]


def test_importing_the_shipped_archive_twice_finds_the_model_already_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import store

    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "bentoml"))
    first = store.import_archive(store.ARCHIVE)
    again = store.import_archive(store.ARCHIVE)  # BentoML says "already exists": looked up
    assert again.tag == first.tag == store._archive_tag(store.ARCHIVE)
    assert again.metadata == first.metadata
