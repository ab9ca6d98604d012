"""The served model, loaded in-process with the service's own classifier."""

from __future__ import annotations

import pytest

from serving.classifier import Classifier


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """The model ``make model`` stored (settings.model_name:model_version)."""
    import bentoml

    from settings import load_settings

    settings = load_settings()
    model = bentoml.models.get(f"{settings.model_name}:{settings.model_version}")
    return Classifier(model.path, str(model.tag), tf_threads=2)
