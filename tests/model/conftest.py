"""The served model, loaded in-process with the service's own classifier."""

from __future__ import annotations

import pytest

from serving.classifier import Classifier, model_temperature


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """The model ``make model`` stored (model_name:model_version), as the service loads it."""
    import bentoml

    from serving.model_choice import served_tag
    from settings import load_settings

    settings = load_settings()
    model = bentoml.models.get(served_tag(settings.model_name, settings.model_version))
    temperature = model_temperature(model.info.metadata)
    return Classifier(model.path, str(model.tag), threads=1, temperature=temperature)
