"""The BentoML model store: saving a trained classifier and finding the one that is served."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import bentoml

if TYPE_CHECKING:
    import keras

MODEL_FILE = "model.keras"  # the file name serving/classifier.py loads
FULL_MODE = "full"
MIN_FULL_ACCURACY = 0.994


@dataclass(frozen=True)
class StoredModel:
    """A model in the store, as far as training cares.

    Attributes:
        tag: ``name:version``.
        path: Directory holding ``model.keras``.
        metadata: The metadata written by :func:`save_model`.
    """

    tag: str
    path: str
    metadata: dict[str, Any]

    @property
    def is_full(self) -> bool:
        """Trained by a default (non-quick) run and accurate enough to serve."""
        accuracy = float(self.metadata.get("test_accuracy", 0.0))
        return self.metadata.get("mode") == FULL_MODE and accuracy >= MIN_FULL_ACCURACY


def save_model(
    name: str, model: keras.Model, metadata: dict[str, Any], labels: dict[str, str]
) -> str:
    """Store the inference model as a new version of ``name``.

    Args:
        name: Model name in the store (``settings.model_name``).
        model: The inference model (without augmentation layers).
        metadata: JSON-like values describing the run and its evaluation.
        labels: Short string labels (filterable in ``bentoml models list``).

    Returns:
        The new tag, ``name:version``.
    """
    with bentoml.models.create(name, labels=labels, metadata=metadata) as stored:
        model.save(os.path.join(stored.path, MODEL_FILE))
    return str(stored.tag)


def find_model(name: str, version: str = "latest") -> StoredModel | None:
    """The model ``name:version`` from the store, or None when there is none."""
    try:
        found = bentoml.models.get(f"{name}:{version}")
    except bentoml.exceptions.NotFound:
        return None
    return StoredModel(tag=str(found.tag), path=found.path, metadata=dict(found.info.metadata))


def list_models(name: str) -> list[StoredModel]:
    """All versions of ``name``, newest first."""
    try:
        found = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        return []
    found = sorted(found, key=lambda m: m.creation_time, reverse=True)
    return [StoredModel(str(m.tag), m.path, dict(m.info.metadata)) for m in found]
